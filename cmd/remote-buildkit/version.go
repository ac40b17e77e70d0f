package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/versions"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print this binary's version and the embedded BuildKit client version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "remote-buildkit %s\n", versionString())
			fmt.Fprintf(c.App.Writer, "buildkit client %s\n", versions.ClientVersion())
			fmt.Fprintf(c.App.Writer, "go %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return "dev-" + s.Value
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}
