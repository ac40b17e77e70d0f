package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// A pull request is its own trust domain on the builder: what its
// RUN --mount=type=cache plants, the branch (release) builds of the same
// pipeline never see; its later builds do.
func TestHostileCachePullRequestOwnNamespace(t *testing.T) {
	s := requireStack(t)
	probe := newCacheMountProbe(t, s)
	pipeline := fmt.Sprintf("pr-cache-%d", rand.IntN(1_000_000))
	job := func(pr, runID string) string {
		return probe.run(t, nil, runID, "BUILDKITE_ORGANIZATION_SLUG=it", "BUILDKITE_PIPELINE_SLUG="+pipeline, "BUILDKITE_PULL_REQUEST="+pr)
	}
	for _, step := range []struct{ pr, runID, want string }{
		{"123", "pr-plant", "none"},         // the pull request plants its entry
		{"false", "release-1", "none"},      // the release build does not see it
		{"124", "pr-2", "pr-plant"},         // pull requests share their own namespace
		{"false", "release-2", "release-1"}, // the release build sees only its own
	} {
		if got := job(step.pr, step.runID); got != step.want {
			t.Errorf("job %s (BUILDKITE_PULL_REQUEST=%s) read %q from the cache mount, want %q", step.runID, step.pr, got, step.want)
		}
	}
}

// BUILDKIT_CACHE_MOUNT_NS as a build argument (the step's build-args or a
// bake target's args) would replace the per-pipeline namespace: one line,
// exit 2, unless the step says cache-mounts: shared.
func TestParallelHostileCacheMountNSArg(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile":      "FROM scratch\nCOPY a.txt /\n",
		"a.txt":           "a\n",
		"docker-bake.hcl": "target \"default\" {\n  args = { BUILDKIT_CACHE_MOUNT_NS = \"it/release-pipeline\" }\n}\n",
	})
	env := []string{"BUILDKITE_ORGANIZATION_SLUG=it", "BUILDKITE_PIPELINE_SLUG=hostile-ns"}
	for _, tc := range []struct {
		name string
		cfg  map[string]any
		code int
	}{
		{"build-args", map[string]any{"build-args": []string{"BUILDKIT_CACHE_MOUNT_NS=it/release-pipeline"}}, 2},
		{"bake args", map[string]any{"bake": "docker-bake.hcl"}, 2},
		{"build-args with cache-mounts: shared", map[string]any{"build-args": []string{"BUILDKIT_CACHE_MOUNT_NS=it/release-pipeline"}, "cache-mounts": "shared"}, 0},
		{"bake args with cache-mounts: shared", map[string]any{"bake": "docker-bake.hcl", "cache-mounts": "shared"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.run(t, dir, s.baseConfig(tc.cfg), env...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d: %s", r.Code, tc.code, r)
			}
			if tc.code == 0 {
				return
			}
			lines := stderrLines(r.Stderr)
			if len(lines) != 1 || !strings.Contains(lines[0], "BUILDKIT_CACHE_MOUNT_NS") || !strings.Contains(lines[0], "cache-mounts: shared") {
				t.Errorf("want one line naming BUILDKIT_CACHE_MOUNT_NS and cache-mounts: shared, got:\n%s", r.Stderr)
			}
		})
	}
}

// stderrLines are stderr's lines but Buildkite's "^^^ +++" (which expands
// the log group holding the error).
func stderrLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "^^^ +++" {
			out = append(out, l)
		}
	}
	return out
}
