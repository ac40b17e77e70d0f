// Package agent talks to Buildkite from inside a job through the
// buildkite-agent CLI (annotations, meta-data, artifacts), which carries the
// job's own credentials and endpoint.
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Agent runs buildkite-agent subcommands for the current job.
type Agent struct {
	Path    string
	Timeout time.Duration // per call; meta-data set retries for minutes on a dead endpoint
}

// FromEnv returns the job's agent, or nil with the reason when this process
// does not run inside a Buildkite job.
func FromEnv(getenv func(string) string, lookPath func(string) (string, error)) (*Agent, string) {
	if getenv("BUILDKITE_JOB_ID") == "" || getenv("BUILDKITE_AGENT_ACCESS_TOKEN") == "" {
		return nil, "not running in a Buildkite job"
	}
	p, err := lookPath("buildkite-agent")
	if err != nil {
		return nil, "buildkite-agent is not on PATH"
	}
	return &Agent{Path: p, Timeout: 30 * time.Second}, ""
}

func (a *Agent) run(ctx context.Context, stdin string, args ...string) error {
	_, err := a.output(ctx, stdin, args...)
	return err
}

// output runs a subcommand and returns its standard output; an error
// carries the last line of its standard error (else of its output).
func (a *Agent) output(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.Path, args...)
	cmd.WaitDelay = time.Second // a child left holding the output must not outlast the timeout
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr strings.Builder // two writers: exec copies each stream in its own goroutine
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("buildkite-agent %s: no answer within %s", args[0], a.Timeout)
		}
		last := lastLine(stderr.String())
		if last == "" {
			last = lastLine(stdout.String())
		}
		return "", fmt.Errorf("buildkite-agent %s: %v: %s", strings.Join(args[:min(2, len(args))], " "), err, last)
	}
	return stdout.String(), nil
}

// SecretGet reads a Buildkite secret (buildkite-agent secret get NAME):
// the agent's API answers only for a job its access policy allows.
func (a *Agent) SecretGet(ctx context.Context, name string) (string, error) {
	return a.output(ctx, "", "secret", "get", name)
}

// Annotate replaces the annotation with this context (body is Markdown).
func (a *Agent) Annotate(ctx context.Context, style, context, body string) error {
	return a.run(ctx, body, "annotate", "--style", style, "--context", context)
}

// SetMetaData sets a build meta-data key.
func (a *Agent) SetMetaData(ctx context.Context, key, value string) error {
	return a.run(ctx, "", "meta-data", "set", key, value)
}

// UploadArtifact uploads a file (relative to the working directory).
func (a *Agent) UploadArtifact(ctx context.Context, path string) error {
	return a.run(ctx, "", "artifact", "upload", path)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// AddRedactions asks the agent to redact values from the rest of the job
// log (buildkite-agent redactor add, through the job API).
func (a *Agent) AddRedactions(ctx context.Context, values []string) error {
	m := make(map[string]string, len(values))
	for i, v := range values {
		m[fmt.Sprintf("value%d", i)] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return a.run(ctx, string(b), "redactor", "add", "--format", "json")
}
