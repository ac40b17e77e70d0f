package main

import (
	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/job"
)

func cleanupCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:   "cleanup",
		Usage:  "remove job-scoped state (run by hooks/pre-exit); cached certificates and tokens stay",
		Action: jobAction(env, func(_ *cli.Context, d job.Deps) error { return job.Cleanup(d) }),
	}
}
