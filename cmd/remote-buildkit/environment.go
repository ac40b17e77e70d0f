package main

import (
	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/job"
)

func environmentCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "environment",
		Usage: "install the daemon's client certificates and print shell exports (run by hooks/environment)",
		Description: "Downloads ca.pem, cert.pem and key.pem from the secrets bucket into tls-dir when they changed,\n" +
			"checks them, and prints `export` lines for the hook to eval. Logs go to stderr.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "buildx", Usage: "register this job's buildx builder even without a plugin line (agent-wide mode, from the agent's environment hook)"}},
		Action: jobAction(env, func(c *cli.Context, d job.Deps) error {
			if c.Bool("buildx") {
				return job.EnvironmentBuildx(c.Context, d)
			}
			return job.Environment(c.Context, d)
		}),
	}
}
