package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	job := map[string]string{"BUILDKITE_JOB_ID": "j", "BUILDKITE_AGENT_ACCESS_TOKEN": "a"}
	found := func(string) (string, error) { return "/bin/buildkite-agent", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	tests := []struct {
		name     string
		env      map[string]string
		lookPath func(string) (string, error)
		why      string
	}{
		{"in a job", job, found, ""},
		{"not in a job", map[string]string{"BUILDKITE_JOB_ID": "j"}, found, "not running in a Buildkite job"},
		{"no agent binary", job, missing, "buildkite-agent is not on PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, why := FromEnv(func(k string) string { return tt.env[k] }, tt.lookPath)
			if why != tt.why || (a == nil) != (tt.why != "") {
				t.Errorf("FromEnv = %v, %q; want %q", a, why, tt.why)
			}
		})
	}
}

// fake writes a buildkite-agent that records its arguments and stdin, then
// runs tail (a shell command).
func fake(t *testing.T, tail string) (*Agent, string) {
	d := t.TempDir()
	rec := filepath.Join(d, "record")
	p := filepath.Join(d, "buildkite-agent")
	script := "#!/bin/sh\necho \"$@\" > " + rec + "\ncat >> " + rec + "\n" + tail + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Agent{Path: p, Timeout: 5 * time.Second}, rec
}

func TestCalls(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		call    func(*Agent) error
		tail    string
		record  string
		wantErr string
	}{
		{"annotate", func(a *Agent) error { return a.Annotate(ctx, "error", "ctx", "| body |") }, "", "annotate --style error --context ctx\n| body |", ""},
		{"meta-data", func(a *Agent) error { return a.SetMetaData(ctx, "k", "v") }, "", "meta-data set k v\n", ""},
		{"artifact", func(a *Agent) error { return a.UploadArtifact(ctx, "out.json") }, "", "artifact upload out.json\n", ""},
		{"failure names the last line", func(a *Agent) error { return a.SetMetaData(ctx, "k", "v") }, "echo first >&2; echo 'fatal: no endpoint' >&2; exit 3", "", "buildkite-agent meta-data set: exit status 3: fatal: no endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, rec := fake(t, tt.tail)
			err := tt.call(a)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			got, _ := os.ReadFile(rec)
			if err != nil || string(got) != tt.record {
				t.Errorf("err %v, agent got %q, want %q", err, got, tt.record)
			}
		})
	}
}

// secret get: the value is standard output alone (a warning on stderr is
// not part of it); a refusal is an error naming the command.
func TestSecretGet(t *testing.T) {
	a, rec := fake(t, "echo 'warn: old agent' >&2; printf 's3cr3t'")
	got, err := a.SecretGet(context.Background(), "CTX_KEY")
	if b, _ := os.ReadFile(rec); err != nil || got != "s3cr3t" || string(b) != "secret get CTX_KEY\n" {
		t.Errorf("SecretGet = %q, %v; agent got %q", got, err, b)
	}
	a, _ = fake(t, "echo 'fatal: secret not found' >&2; exit 1")
	if _, err := a.SecretGet(context.Background(), "NOPE"); err == nil || err.Error() != "buildkite-agent secret get: exit status 1: fatal: secret not found" {
		t.Errorf("refused: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	a, _ := fake(t, "sleep 5")
	a.Timeout = 100 * time.Millisecond
	if err := a.SetMetaData(context.Background(), "k", "v"); err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("err %v", err)
	}
}
