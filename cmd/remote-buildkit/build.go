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

func cleanupCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:   "cleanup",
		Usage:  "remove job-scoped state (run by hooks/pre-exit); cached certificates and tokens stay",
		Action: jobAction(env, func(_ *cli.Context, d job.Deps) error { return job.Cleanup(d) }),
	}
}

func validateCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:   "validate",
		Usage:  "check the plugin configuration (schema and files) without connecting to anything",
		Action: jobAction(env, func(c *cli.Context, d job.Deps) error { return job.Validate(c.Context, d) }),
	}
}
