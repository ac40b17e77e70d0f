package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

func validateCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check the plugin configuration (schema and files) without connecting to anything",
		Action: func(c *cli.Context) error {
			js, _, err := config.RawFromEnv(env)
			if err != nil {
				return exitcode.With(exitcode.BadConfig, err)
			}
			wd, err := os.Getwd()
			if err != nil {
				return exitcode.With(exitcode.Internal, err)
			}
			cfg, err := config.Parse(js, env, wd)
			if err != nil {
				return exitcode.With(exitcode.BadConfig, err)
			}
			fmt.Fprintf(c.App.Writer, "configuration valid: %d daemon(s), %d tag(s), %d platform(s)\n", len(cfg.Nodes), len(cfg.Tags), len(cfg.Platforms))
			return nil
		},
	}
}
