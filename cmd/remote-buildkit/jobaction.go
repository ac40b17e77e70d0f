package main

import (
	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/job"
)

// jobAction adapts a job function to a command action: the process's
// environment, working directory and writers become its Deps.
func jobAction(env config.Env, fn func(*cli.Context, job.Deps) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		d, err := job.FromProcess(env, c.App.Writer, c.App.ErrWriter)
		if err != nil {
			return err
		}
		return fn(c, d)
	}
}
