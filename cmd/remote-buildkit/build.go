package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/job"
)

func buildCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "build",
		Usage: "build (and push) the image described by the plugin configuration",
		Description: "Reads the configuration from BUILDKITE_PLUGIN_CONFIGURATION (or this plugin's entry in\n" +
			"BUILDKITE_PLUGINS), validates it against plugin.yml, and runs the build on the daemon.",
		Action: jobAction(env, func(c *cli.Context, d job.Deps) error {
			d.Exec = execStep
			return job.Build(c.Context, d)
		}),
	}
}

// execStep replaces this process with the step's command (buildx mode), so
// its exit code and signals are the hook's.
func execStep(argv []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return exitcode.With(exitcode.BadConfig, fmt.Errorf("BUILDKITE_SHELL: %w", err))
	}
	return exitcode.With(exitcode.Internal, syscall.Exec(path, argv, os.Environ()))
}
