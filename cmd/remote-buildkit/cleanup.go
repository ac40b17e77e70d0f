package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

func cleanupCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "cleanup",
		Usage: "remove job-scoped state (run by hooks/pre-exit); cached certificates and tokens stay",
		Action: func(c *cli.Context) error {
			return runCleanup(env, c.App.ErrWriter)
		},
	}
}

// runCleanup removes the job's docker config written by `environment` with
// docker-config: true — only a directory this tool created and marked.
func runCleanup(env config.Env, log io.Writer) error {
	dir := env.Get("REMOTE_BUILDKIT_JOB_DOCKER_CONFIG")
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, registryauth.MarkerFile)); err != nil {
		if os.IsNotExist(err) {
			return nil // already gone, or not ours: leave it
		}
		return exitcode.With(exitcode.Internal, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return exitcode.With(exitcode.Internal, fmt.Errorf("remove job docker config %s: %w", dir, err))
	}
	fmt.Fprintf(log, "remote-buildkit: removed the job's docker config %s\n", dir)
	return nil
}
