package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/remote-buildkit/remote-buildkit/tests/dockerkit"
)

// load: true streams the image from BuildKit's docker exporter into the
// agent's Docker engine (DOCKER_HOST; here the stack's own engine), without
// a temporary file; beside push it does both; a multi-platform load is a
// configuration error; an engine that does not answer is an error naming
// DOCKER_HOST.
func TestLoadIntoDocker(t *testing.T) {
	s := requireStack(t)
	e := dockerkit.RequireEngine(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + s.BaseImage + "\nCMD [\"echo\", \"hello from load\"]\n",
	})
	t.Run("load", func(t *testing.T) {
		repo := s.repo(t)
		tags := []string{repo + ":a", repo + ":b"}
		removeImages(t, e, tags...)
		tmp := t.TempDir()
		r := s.run(t, dir, s.baseConfig(map[string]any{"tags": tags, "load": true}), append(e.Env(), "TMPDIR="+tmp)...)
		if r.Code != 0 {
			t.Fatalf("build with load: true failed: %s", r)
		}
		for _, tag := range tags {
			if got := repoTags(t, e, tag); !slices.Contains(got, tag) {
				t.Errorf("docker image inspect %s: RepoTags %v", tag, got)
			}
		}
		out, err := e.Docker("run", "--rm", "--network", "none", "--pull", "never", tags[0])
		if err != nil || strings.TrimSpace(out) != "hello from load" {
			t.Errorf("docker run %s: %q, %v", tags[0], out, err)
		}
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("the load left files in TMPDIR: %v", entries)
		}
		if !s.repoMissing(t, repo) {
			t.Errorf("load without push pushed to %s", repo)
		}
	})
	t.Run("beside push", func(t *testing.T) {
		tag := s.repo(t) + ":1"
		removeImages(t, e, tag)
		r := s.run(t, dir, s.baseConfig(map[string]any{"tags": []string{tag}, "load": true, "push": true}), e.Env()...)
		if r.Code != 0 {
			t.Fatalf("build with load and push failed: %s", r)
		}
		if printed, got := lineValue(r.Stdout, "digest"), s.descriptor(t, tag).Digest.String(); printed != got {
			t.Errorf("registry has %s for %s, the binary printed %q", got, tag, printed)
		}
		// The engine holds the image that was pushed: its ID is the pushed config's digest.
		img, err := remote.Image(s.ref(t, tag), s.auth())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.Docker("image", "inspect", "-f", "{{.Id}}", tag)
		if err != nil || strings.TrimSpace(id) != cfg.String() {
			t.Errorf("docker image inspect %s: Id %q (%v), the pushed config is %s", tag, id, err, cfg)
		}
	})
	t.Run("multi-platform is a configuration error", func(t *testing.T) {
		r := s.run(t, dir, s.baseConfig(map[string]any{
			"tags": []string{s.repo(t) + ":multi"}, "load": true, "platforms": []string{"linux/amd64", "linux/arm64"},
		}), e.Env()...)
		if r.Code != 2 || !strings.Contains(r.Stderr, "load") {
			t.Errorf("want exit 2 naming load, got %s", r)
		}
		t.Logf("exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	})
	t.Run("no engine", func(t *testing.T) {
		absent := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
		r := s.run(t, dir, s.baseConfig(map[string]any{"tags": []string{s.repo(t) + ":none"}, "load": true}), "DOCKER_HOST="+absent)
		if r.Code == 0 || !strings.Contains(r.Stderr, "DOCKER_HOST") {
			t.Errorf("want a failure naming DOCKER_HOST, got %s", r)
		}
		t.Logf("exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	})
}

// repoTags is what `docker image inspect` says the image's tags are (none
// when there is no such image).
func repoTags(t *testing.T, e *dockerkit.Engine, ref string) []string {
	t.Helper()
	out, err := e.Docker("image", "inspect", "-f", "{{json .RepoTags}}", ref)
	if err != nil {
		t.Logf("%v", err)
		return nil
	}
	var tags []string
	if err := json.Unmarshal([]byte(out), &tags); err != nil {
		t.Fatalf("docker image inspect: %v: %s", err, out)
	}
	return tags
}

// removeImages removes the tags from the engine when the test ends.
func removeImages(t *testing.T, e *dockerkit.Engine, tags ...string) {
	t.Cleanup(func() {
		if _, err := e.Docker(append([]string{"image", "rm", "-f"}, tags...)...); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
}
