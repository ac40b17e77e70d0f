package diagnose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/agent"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

// AnnotationContext is the Buildkite annotation context the report is posted under.
const AnnotationContext = "remote-buildkit-diagnose"

// Run runs every check and writes the report to out as format ("text" or
// "json"); with annotate it also posts it as a Buildkite annotation (a
// failure to post is a warning on errOut). When any check fails the error
// carries exitcode.BuildFailed and names them.
func Run(ctx context.Context, env config.Env, workDir string, out, errOut io.Writer, format string, annotate bool) error {
	return NewRunner(env, workDir).Main(ctx, out, errOut, format, annotate)
}

// NewRunner reads the plugin configuration from env (config.Read in its
// KeepGoing mode: every problem, and the options that passed) and connects
// the real daemon, AWS, registry and Buildkite clients.
func NewRunner(env config.Env, workDir string) *Runner {
	cfg, err := config.Read(env, workDir, config.Environment, config.KeepGoing)
	return NewRunnerFor(env, workDir, cfg, err)
}

// NewRunnerFor is NewRunner for a configuration already read (cfg, and the
// error reading it: then cfg, when not nil, holds the options that passed).
func NewRunnerFor(env config.Env, workDir string, cfg *config.Config, cfgErr error) *Runner {
	r := &Runner{Env: env, WorkDir: workDir, LookPath: exec.LookPath, Now: time.Now, Config: cfg}
	if cfgErr != nil {
		r.ConfigErr = cfgErr
		if r.Config == nil {
			r.Config = config.Defaults(env) // the checks that don't need the plugin config still run
		}
	}
	if r.Config != nil {
		r.Daemon = daemonAPI{}
		r.AWS = newAWSAPI()
		if auth, err := registryauth.ForConfig(r.Config, env); err == nil {
			r.Registry = &registryAPI{auth: auth}
		}
	}
	r.Buildkite = newBuildkiteAPI(env)
	return r
}

// Main runs the checks, writes the report and, with annotate, posts it.
func (r *Runner) Main(ctx context.Context, out, errOut io.Writer, format string, annotate bool) error {
	rep := r.Run(ctx)
	if err := rep.Write(out, format); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if annotate {
		if err := r.annotate(ctx, rep); err != nil {
			fmt.Fprintf(errOut, "remote-buildkit: WARNING: could not post the annotation: %v\n", err)
		}
	}
	return rep.Err()
}

// Write prints the report as "json" or, for any other format, text lines.
func (r *Report) Write(w io.Writer, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	var b strings.Builder
	b.WriteString("--- :stethoscope: remote-buildkit diagnose\n")
	for _, c := range r.Checks {
		line := fmt.Sprintf("%-4s  %-16s %s", c.Status, c.Name, c.Found)
		if c.Fix != "" {
			line += " — fix: " + c.Fix
		}
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Err is nil when no check failed; else it names the failed checks and
// carries exitcode.BuildFailed.
func (r *Report) Err() error {
	if r.OK {
		return nil
	}
	var failed []string
	for _, c := range r.Checks {
		if c.Status == Fail {
			failed = append(failed, c.Name)
		}
	}
	return exitcode.With(exitcode.BuildFailed, fmt.Errorf("diagnose: %d check(s) failed: %s", len(failed), strings.Join(failed, ", ")))
}

// Markdown is the report as an annotation body.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("### remote-buildkit diagnose\n\n| check | status | found | fix |\n|---|---|---|---|\n")
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Status, mdCell(c.Found), mdCell(c.Fix))
	}
	return b.String()
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// annotate posts the report through the job's buildkite-agent.
func (r *Runner) annotate(ctx context.Context, rep *Report) error {
	a, why := agent.FromEnv(r.Env.Get, r.LookPath)
	if a == nil {
		return errors.New(why)
	}
	style := map[Status]string{Pass: "success", Warn: "warning", Fail: "error"}[rep.Worst()]
	return a.Annotate(ctx, style, AnnotationContext, rep.Markdown())
}
