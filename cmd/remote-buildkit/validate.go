package main

import (
	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/job"
)

func validateCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:   "validate",
		Usage:  "check the plugin configuration (schema and files) without connecting to anything",
		Action: jobAction(env, func(c *cli.Context, d job.Deps) error { return job.Validate(c.Context, d) }),
	}
}
