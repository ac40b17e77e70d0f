package integration

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext/gitcontexttest"
)

// SOURCE_DATE_EPOCH from the job's environment reaches the build as a
// build-arg, as buildx and buildctl pass it: a RUN step that declares it
// sees it.
func TestSourceDateEpochReachesRun(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + s.BaseImage + "\nARG SOURCE_DATE_EPOCH\nRUN echo \"${SOURCE_DATE_EPOCH:-unset}\" > /out\n",
	})
	out := t.TempDir()
	r := s.run(t, dir, s.baseConfig(map[string]any{"no-cache": true, "outputs": "type=local,dest=" + out}), "SOURCE_DATE_EPOCH=1700000000")
	if r.Code != 0 {
		t.Fatal(r)
	}
	if got := outFile(t, out, "out"); got != "1700000000" {
		t.Errorf("RUN saw SOURCE_DATE_EPOCH=%q, want 1700000000", got)
	}
}

// reproducible: two fresh clones of the same commit (new mtimes), built
// without cache by two jobs with their own HOME, push the same image
// manifest — created at the commit's time; without reproducible they do
// not.
func TestReproducibleImagesFromTwoClones(t *testing.T) {
	s := requireStack(t)
	src, commit := gitcontexttest.New(t, 1700000000, map[string]string{
		".dockerignore": ".git\n",
		"Dockerfile":    "FROM " + s.BaseImage + "\nCOPY . /src\nRUN echo built > /built && mkdir -p /var/made && touch /var/made/x\n",
		"app/main.txt":  "the source\n",
	})
	repo := s.repo(t)
	build := func(tag string, reproducible bool) string {
		clone := filepath.Join(t.TempDir(), "checkout")
		gitcontexttest.Git(t, filepath.Dir(clone), nil, "clone", "-q", src, clone)
		time.Sleep(10 * time.Millisecond) // the clones' files get other mtimes
		cfg := s.baseConfig(map[string]any{"tags": repo + ":" + tag, "push": true, "no-cache": true, "reproducible": reproducible})
		r := s.run(t, clone, cfg, "BUILDKITE_COMMIT="+commit, "BUILDKITE_PIPELINE_SLUG=repro-it")
		if r.Code != 0 {
			t.Fatalf("build %s: %s", tag, r)
		}
		return s.descriptor(t, repo+":"+tag).Digest.String()
	}
	a, b := build("a", true), build("b", true)
	if a != b {
		t.Errorf("reproducible: two fresh clones pushed %s and %s, want the same manifest", a, b)
	}
	img, err := s.descriptor(t, repo+":a").Image()
	if err != nil {
		t.Fatal(err)
	}
	if cf, err := img.ConfigFile(); err != nil || cf.Created.Unix() != 1700000000 {
		t.Errorf("image created %v (%v), want the commit's time 1700000000", cf.Created, err)
	}
	if c, d := build("c", false), build("d", false); c == d {
		t.Errorf("without reproducible the two builds pushed the same manifest %s: the test shows nothing", c)
	}
}

// cacheMountProbe is a build whose RUN --mount=type=cache writes into
// /before what the last run left in the mount ("none" when empty), then
// leaves its own RUN_ID there.
type cacheMountProbe struct {
	s     *stack
	dir   string
	nonce int64
}

func newCacheMountProbe(t *testing.T, s *stack) *cacheMountProbe {
	// A RUN step's cache key leaves out its cache mount's id: runs of other
	// tests with the same RUN_ID would be cache hits. So both are new.
	nonce := rand.Int64()
	id := fmt.Sprintf("x-%d", nonce)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + s.BaseImage + " AS run\nARG RUN_ID\n" +
			"RUN --mount=type=cache,id=" + id + ",target=/cache sh -c '(cat /cache/seen 2>/dev/null || echo none) > /before; echo \"$RUN_ID\" > /cache/seen'\n" +
			"FROM scratch\nCOPY --from=run /before /\n",
	})
	return &cacheMountProbe{s: s, dir: dir, nonce: nonce}
}

// run is one job (cfg over the stack's connection, env its environment)
// with RUN_ID runID: what it read from the mount.
func (p *cacheMountProbe) run(t *testing.T, cfg map[string]any, runID string, env ...string) string {
	t.Helper()
	out := t.TempDir()
	// A new RUN_ID runs the step again (no-cache would start the mount
	// empty: BuildKit ignores cache mounts' content then).
	c := p.s.baseConfig(map[string]any{"build-args": []string{fmt.Sprintf("RUN_ID=%s-%d", runID, p.nonce)}, "outputs": "type=local,dest=" + out})
	for k, v := range cfg {
		c[k] = v
	}
	if r := p.s.run(t, p.dir, c, env...); r.Code != 0 {
		t.Fatalf("job %s %v: %s", runID, env, r)
	}
	return strings.TrimSuffix(outFile(t, out, "before"), fmt.Sprintf("-%d", p.nonce))
}

// cache-mounts: pipeline (the default) keeps a RUN --mount=type=cache
// mount per pipeline on a shared daemon; cache-mounts: shared lets every
// pipeline see it.
func TestCacheMountsPerPipeline(t *testing.T) {
	s := requireStack(t)
	probe := newCacheMountProbe(t, s)
	job := func(pipeline, mode, runID string) string {
		return probe.run(t, map[string]any{"cache-mounts": mode}, runID, "BUILDKITE_ORGANIZATION_SLUG=it", "BUILDKITE_PIPELINE_SLUG="+pipeline)
	}
	for _, step := range []struct{ pipeline, mode, runID, want string }{
		{"pipeline-a", "pipeline", "a1", "none"},
		{"pipeline-b", "pipeline", "b1", "none"}, // not A's
		{"pipeline-a", "pipeline", "a2", "a1"},   // A's own, from its last job
		{"pipeline-b", "pipeline", "b2", "b1"},
		{"pipeline-a", "shared", "s1", "none"}, // the shared mount is another one
		{"pipeline-b", "shared", "s2", "s1"},   // and every pipeline's
	} {
		if got := job(step.pipeline, step.mode, step.runID); got != step.want {
			t.Errorf("%s (cache-mounts: %s) job %s saw %q in the cache mount, want %q", step.pipeline, step.mode, step.runID, got, step.want)
		}
	}
}
