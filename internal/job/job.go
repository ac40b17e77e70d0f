// Package job is the one path every command takes through a Buildkite job:
// read the step once (ReadStep: a single image, a bake, or diagnose) →
// prepare the job once (Prepare: daemons resolved, connections, registry
// logins, routing) → build each image on it (route → solve, with retries) →
// finish (metadata file) → publish (annotation, meta-data, artifacts). Each
// command of the binary is one call here; the dependencies (daemon dialer,
// clock, writers, environment) come in as Deps.
package job

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
)

// Deps is what a job talks to.
type Deps struct {
	Env      config.Env
	Environ  func() []string // the job's environment as NAME=VALUE (os.Environ in the binary); bake files see it filtered
	WorkDir  string
	Out      io.Writer // the build log (for environment: the exports the hook evals)
	Err      io.Writer // progress, warnings and errors
	Now      func() time.Time
	Dial     fleet.Dial                   // connects to one daemon
	LookPath func(string) (string, error) // finds buildctl and buildkite-agent
	Exec     func(argv []string) error    // replaces the process with argv (buildx mode's step command)
}

// FromProcess is the Deps of the running binary.
func FromProcess(env config.Env, out, errOut io.Writer) (Deps, error) {
	wd, err := os.Getwd()
	if err != nil {
		return Deps{}, exitcode.With(exitcode.Internal, err)
	}
	return Deps{Env: env, WorkDir: wd, Out: out, Err: errOut, Now: time.Now, Dial: fleet.Connect, LookPath: exec.LookPath, Environ: os.Environ}, nil
}

// Load reads the plugin configuration from the job's environment and
// validates it for phase (config.Read).
func Load(d Deps, phase config.Phase, opts ...config.ReadOption) (*config.Config, error) {
	cfg, err := config.Read(d.Env, d.WorkDir, phase, opts...)
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	return cfg, nil
}

// Diagnose runs every diagnose check and reports in format (text or json),
// also as an annotation when asked; exit 1 when any check fails.
func Diagnose(ctx context.Context, d Deps, format string, annotate bool) error {
	cfg, err := config.Read(d.Env, d.WorkDir, config.Environment, config.KeepGoing)
	return diagnoseRunner(d, cfg, err).Main(ctx, d.Out, d.Err, format, annotate)
}

// diagnoseStep is a step with diagnose: true: the report instead of a
// build, annotated when the job can post one.
func diagnoseStep(ctx context.Context, d Deps, cfg *config.Config) error {
	annotate := d.Env.Get("BUILDKITE_AGENT_ACCESS_TOKEN") != ""
	return diagnoseRunner(d, cfg, nil).Main(ctx, d.Out, d.Err, "text", annotate)
}

// Validate checks the step's configuration (and bake files) without
// connecting to anything.
func Validate(ctx context.Context, d Deps) error {
	step, err := ReadStep(ctx, d)
	if err != nil {
		return err
	}
	cfg := step.Config
	switch step.Kind {
	case DiagnoseOnly:
		fmt.Fprintf(d.Out, "configuration valid: a diagnose step, %d daemon(s)\n", len(cfg.Nodes))
	case BakeImages:
		fmt.Fprintf(d.Out, "configuration valid: %d daemon(s), bake of %d target(s)\n", len(cfg.Nodes), len(step.Images))
	default:
		img := step.Images[0].opts
		fmt.Fprintf(d.Out, "configuration valid: %d daemon(s), %d tag(s), %d platform(s)\n", len(cfg.Nodes), len(img.Tags), len(img.Platforms))
	}
	return nil
}

func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "remote-buildkit: WARNING: "+format+"\n", args...)
}

func relTo(base, p string) string {
	if strings.HasPrefix(p, base+string(os.PathSeparator)) {
		return strings.TrimPrefix(p, base+string(os.PathSeparator))
	}
	return p
}
