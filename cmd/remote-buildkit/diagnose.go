package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/job"
)

func diagnoseCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "diagnose",
		Usage: "check every layer from configuration to registry and say what is wrong and how to fix it",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			&cli.BoolFlag{Name: "annotate", Usage: "also post the report as a Buildkite annotation (buildkite-agent annotate)"},
		},
		Action: jobAction(env, func(c *cli.Context, d job.Deps) error {
			format := c.String("format")
			if format != "text" && format != "json" {
				return &usageError{fmt.Errorf("--format %q: want text or json", format)}
			}
			return job.Diagnose(c.Context, d, format, c.Bool("annotate"))
		}),
	}
}
