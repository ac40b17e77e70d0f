package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/diagnose"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

func diagnoseCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "diagnose",
		Usage: "check every layer from configuration to registry and say what is wrong and how to fix it",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			&cli.BoolFlag{Name: "annotate", Usage: "also post the report as a Buildkite annotation (buildkite-agent annotate)"},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "text" && format != "json" {
				return &usageError{fmt.Errorf("--format %q: want text or json", format)}
			}
			wd, err := os.Getwd()
			if err != nil {
				return exitcode.With(exitcode.Internal, err)
			}
			return runDiagnose(c.Context, env, wd, c.App.Writer, c.App.ErrWriter, format, c.Bool("annotate"))
		},
	}
}

// runDiagnose runs every check and reports; exit 1 when any check fails.
func runDiagnose(ctx context.Context, env config.Env, workDir string, out, errOut io.Writer, format string, annotate bool) error {
	return diagnose.Run(ctx, env, workDir, out, errOut, format, annotate)
}
