package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The plugin's own .buildkite/pipeline.yml is what the real buildkite-agent
// accepts: `pipeline upload --dry-run` parses and interpolates it as an
// upload would. The steps the plugin directory expects are there, and the
// release step still names $BUILDKITE_TAG after interpolation (upload time
// has no tag: an unescaped variable would be emptied).
func TestPluginPipelineUploads(t *testing.T) {
	agent := os.Getenv("STACK_BUILDKITE_AGENT")
	if agent == "" {
		t.Fatal("STACK_BUILDKITE_AGENT is unset: the stack's env file is out of date (re-run `make stack-up`)")
	}
	cmd := exec.Command(agent, "pipeline", "upload", "--dry-run", "--format", "json", "../../.buildkite/pipeline.yml")
	// --dry-run contacts nothing, but the flag parser still wants a token.
	cmd.Env = append(os.Environ(), "BUILDKITE_AGENT_ACCESS_TOKEN=dry-run",
		"BUILDKITE_BUILD_ID=00000000-0000-0000-0000-000000000000", "BUILDKITE_JOB_ID=00000000-0000-0000-0000-000000000001")
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("buildkite-agent pipeline upload --dry-run: %v\n%s", err, stderr)
	}
	var p struct {
		Steps []json.RawMessage `json:"steps"` // objects, and "wait"
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("dry-run output is not a pipeline: %v\n%s", err, out)
	}
	var plugins []string
	release := ""
	for _, raw := range p.Steps {
		var s struct {
			Label   string           `json:"label"`
			Plugins []map[string]any `json:"plugins"`
		}
		if json.Unmarshal(raw, &s) != nil {
			continue // "wait"
		}
		for _, pl := range s.Plugins {
			for name := range pl {
				plugins = append(plugins, strings.SplitN(name, "#", 2)[0])
			}
		}
		if strings.Contains(s.Label, "release") {
			release = string(raw)
		}
	}
	// The agent expands plugin-linter#v3.3.0 to the plugin's repository.
	for _, want := range []string{"plugin-linter", "shellcheck", "docker-compose"} {
		if !slices.Contains(plugins, "github.com/buildkite-plugins/"+want+"-buildkite-plugin") {
			t.Errorf("the pipeline has no %s step (plugins: %v)", want, plugins)
		}
	}
	for _, want := range []string{"make release VERSION=", "${BUILDKITE_TAG}", "checksums.sha256", "build.tag", "dist/*"} {
		if !strings.Contains(release, want) {
			t.Errorf("the release step lacks %q after interpolation: %s", want, release)
		}
	}
	if !strings.Contains(string(out), "make check") || !strings.Contains(string(out), ".ci/run") {
		t.Errorf("the pipeline does not run make check and .ci/run:\n%s", out)
	}
}
