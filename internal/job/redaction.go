package job

import (
	"context"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/agent"
	"github.com/remote-buildkit/remote-buildkit/internal/insights"
	"github.com/remote-buildkit/remote-buildkit/internal/redact"
)

// useRedaction decides once, before anything is built, which values of the
// job are secret: those of the environment variables and of every image's
// build args whose names match the agent's redaction patterns. Every
// publisher (annotation, timeline, build record, metadata file, meta-data)
// redacts them, and the agent is asked to redact them from the job log too.
func useRedaction(ctx context.Context, d Deps, step *Step) {
	var environ []string
	if d.Environ != nil {
		environ = d.Environ()
	}
	args := make([]map[string]string, 0, len(step.Images))
	for _, im := range step.Images {
		args = append(args, im.opts.BuildArgs)
	}
	r := redact.New(redact.Patterns(d.Env.Get), environ, args...)
	step.Redact = r
	for _, im := range step.Images {
		im.ins.red = r
	}
	for _, name := range r.Short() {
		if arg, ok := strings.CutPrefix(name, "build arg "); ok {
			warnf(d.Err, "build arg %s looks secret (BUILDKITE_REDACTED_VARS) but its value is shorter than %d characters: it is not redacted; pass secrets with secrets:, never build-args", arg, redact.MinLength)
		}
	}
	if len(r.Values()) == 0 {
		return
	}
	a, _ := agent.FromEnv(d.Env.Get, d.LookPath)
	if a == nil {
		return
	}
	if err := a.AddRedactions(ctx, r.Values()); err != nil {
		warnf(d.Err, "the agent was not given the build's secret values to redact from the job log: %v", err)
	}
}

// redactSteps are steps with their names, lanes and errors redacted.
func redactSteps(r *redact.Redactor, steps []insights.Step) []insights.Step {
	out := make([]insights.Step, len(steps))
	for i, s := range steps {
		s.Name, s.Lane, s.Error = r.String(s.Name), r.String(s.Lane), r.String(s.Error)
		out[i] = s
	}
	return out
}
