// Package job is the one path every command takes through a Buildkite job:
// load the configuration → plan the build → route it to daemons → solve →
// finish (result, metadata file, annotation, meta-data). Each command of the
// binary is one call here; the dependencies (daemon dialer, clock, writers,
// environment) come in as Deps.
package job

import (
	"context"
	"encoding/json"
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
	WorkDir  string
	Out      io.Writer // the build log (for environment: the exports the hook evals)
	Err      io.Writer // progress, warnings and errors
	Now      func() time.Time
	Dial     fleet.Dial                   // connects to one daemon
	LookPath func(string) (string, error) // finds buildctl and buildkite-agent
	Forget   func(host string)            // drops a shared connection that was lost (bake); nil otherwise
}

// FromProcess is the Deps of the running binary.
func FromProcess(env config.Env, out, errOut io.Writer) (Deps, error) {
	wd, err := os.Getwd()
	if err != nil {
		return Deps{}, exitcode.With(exitcode.Internal, err)
	}
	return Deps{Env: env, WorkDir: wd, Out: out, Err: errOut, Now: time.Now, Dial: fleet.Connect, LookPath: exec.LookPath}, nil
}

// Load reads the plugin configuration from the job's environment and
// validates it for phase.
func Load(d Deps, phase config.Phase) (*config.Config, error) {
	js, err := config.RawFromEnv(d.Env)
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	parse := config.Parse
	if phase == config.Environment {
		parse = config.ParseForEnvironment
	}
	cfg, err := parse(js, d.Env, d.WorkDir)
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	return cfg, nil
}

// wantsDiagnose reports whether the configuration asks for a diagnose report
// instead of a build (diagnose: true needs no Dockerfile, so it is read
// before the configuration is validated for a build).
func wantsDiagnose(env config.Env) bool {
	js, err := config.RawFromEnv(env)
	if err != nil {
		return false
	}
	var v struct {
		Diagnose bool `json:"diagnose"`
	}
	return json.Unmarshal(js, &v) == nil && v.Diagnose
}

// Diagnose runs every diagnose check and reports in format (text or json),
// also as an annotation when asked; exit 1 when any check fails.
func Diagnose(ctx context.Context, d Deps, format string, annotate bool) error {
	return diagnoseRunner(d).Main(ctx, d.Out, d.Err, format, annotate)
}

// Validate checks the configuration without connecting to anything.
func Validate(d Deps) error {
	cfg, err := Load(d, config.Build)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.Out, "configuration valid: %d daemon(s), %d tag(s), %d platform(s)\n", len(cfg.Nodes), len(cfg.Tags), len(cfg.Platforms))
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
