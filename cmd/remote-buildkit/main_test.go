package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestVersionPrintsOwnAndBuildkitVersions(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"remote-buildkit", "version"}, &out, &errOut, envOf(nil))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "remote-buildkit ") {
		t.Errorf("first line %q", lines[0])
	}
	// Tests are built from the module, so the dependency version is known.
	if lines[1] != "buildkit client v0.34.2" {
		t.Errorf("second line %q, want the pinned buildkit client v0.34.2", lines[1])
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{"unknown command", []string{"frobnicate"}, nil, exitcode.BadConfig, `unknown command "frobnicate"`},
		{"unknown flag", []string{"build", "--nope"}, nil, exitcode.BadConfig, "flag provided but not defined"},
		{"no configuration", []string{"build"}, map[string]string{"HOME": dir}, exitcode.BadConfig, "BUILDKITE_PLUGIN_CONFIGURATION"},
		{"invalid configuration", []string{"build"}, map[string]string{"HOME": dir, "BUILDKITE_PLUGIN_CONFIGURATION": `{"tags": 3}`},
			exitcode.BadConfig, "remote-buildkit: configuration error: tags: must be a string or an array (list), got number"},
		{"not JSON", []string{"build"}, map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{tags:`},
			exitcode.BadConfig, "configuration is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"remote-buildkit"}, tt.args...), &out, &errOut, envOf(tt.env))
			if code != tt.wantCode || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d containing %q", code, errOut.String(), tt.wantCode, tt.wantErr)
			}
		})
	}
}

// In a Buildkite job a failure expands its log section ("^^^ +++").
func TestErrorsExpandTheBuildkiteSection(t *testing.T) {
	var out, errOut bytes.Buffer
	run([]string{"remote-buildkit", "build"}, &out, &errOut, envOf(map[string]string{"BUILDKITE": "true", "BUILDKITE_PLUGIN_CONFIGURATION": `{"push": 1}`}))
	if !strings.HasPrefix(errOut.String(), "^^^ +++\n") {
		t.Errorf("stderr %q does not start with ^^^ +++", errOut.String())
	}
}
