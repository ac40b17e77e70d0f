package main

import (
	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/pki"
)

func builderConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "builder-config",
		Usage: "print (or --write) a systemd unit and buildkitd.toml for an mTLS builder host",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tls-dir", Value: "/etc/buildkit/certs", Usage: "where DIR/daemon's files are on the builder"},
			&cli.StringFlag{Name: "root", Value: "/var/lib/buildkit", Usage: "buildkitd's state and cache directory"},
			&cli.StringFlag{Name: "cache-size", Value: "80%", Usage: "build cache cap: a size (100GB) or a share of the root disk (80%)"},
			&cli.StringSliceFlag{Name: "addr", Value: cli.NewStringSlice("tcp://0.0.0.0:1234"), Usage: "listen address (repeatable)"},
			&cli.StringFlag{Name: "write", Usage: "write `DIR`/buildkitd.service and DIR/buildkitd.toml instead of printing"},
		},
		Action: func(c *cli.Context) error {
			o := pki.DaemonOptions{TLSDir: c.String("tls-dir"), Root: c.String("root"), CacheSize: c.String("cache-size"), Addrs: c.StringSlice("addr")}
			return pki.WriteDaemonConfig(o, c.String("write"), c.App.Writer)
		},
	}
}
