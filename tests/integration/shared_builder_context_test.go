package integration

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
)

// One daemon, many pipelines, every job with a client certificate of one
// CA: the context state a build leaves on the daemon (its last upload under
// the session's shared key) must not be forgeable by another client.

// attackerClient is a BuildKit client with another client certificate of
// the daemon's CA.
func attackerClient(t *testing.T, s *stack, set certSet) *client.Client {
	t.Helper()
	dir := t.TempDir()
	writeSet(t, dir, set)
	c, err := client.New(context.Background(), s.BuildkitHost,
		client.WithServerConfig("127.0.0.1", filepath.Join(dir, "ca.pem")),
		client.WithCredentials(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// plant uploads files as the build context under sharedKey, each with the
// mtime given (zero: the file's own), through the dockerfile frontend as a
// build does.
func plant(t *testing.T, c *client.Client, sharedKey string, files map[string]string, mtimes map[string]time.Time) {
	t.Helper()
	dir := writeFiles(t, files)
	for name, mt := range mtimes {
		if err := os.Chtimes(filepath.Join(dir, name), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = c.Solve(ctx, nil, client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: map[string]string{"filename": "Dockerfile", "no-cache": ""},
		LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		SharedKey:     sharedKey,
	}, nil)
	if err != nil {
		t.Fatalf("attacker's upload under %q: %v", sharedKey, err)
	}
}

// The poisoning reproduction: with a second certificate of the daemon's CA a
// client writes, under every shared key the victim pipeline might use that
// it can compute, first other content, then evil content of the victim
// file's size with the stat the (old, public) content-derived scheme gives
// the victim's file. The victim (first certificate) then builds from a fresh
// clone and pushes: the image must hold the victim's own content. A second
// fresh clone of the victim still sends only what changed.
func TestSharedBuilderContextPoisoning(t *testing.T) {
	s := requireStack(t)
	ca := stackCA(t)
	victimTLS := t.TempDir()
	writeSet(t, victimTLS, ca.valid(t, "victim pipeline"))
	attacker := attackerClient(t, s, ca.valid(t, "attacker pipeline"))

	// 64 KiB, so whether a fresh clone sent it shows in the byte counts.
	good := fmt.Sprintf("release build config %012d\n", mrand.Int64N(1e12)) + strings.Repeat("release\n", 8<<10)
	evil := strings.Repeat("E", len(good)-1) + "\n"
	org, slug := "it", fmt.Sprintf("victim-%d", mrand.IntN(1_000_000))
	repo := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY app.txt /app.txt\n", "app.txt": good, ".gitignore": "meta/\n"})
	gitIn(t, repo, "init", "-q")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-qm", "victim")

	// Every key the attacker can compute: the pipeline's slug with the
	// context directories a step names ("." is the default).
	for _, dir := range []string{".", "", "./"} {
		key := "remote-buildkit:" + slug + ":" + dir
		plant(t, attacker, key, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n", "app.txt": "something else, another size"}, nil)
		plant(t, attacker, key, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n", "app.txt": evil},
			map[string]time.Time{"app.txt": derivedMTime([]byte(good))})
	}

	image := s.repo(t) + ":victim"
	victim := func(clone string) syncStats {
		t.Helper()
		meta := filepath.Join(clone, "meta", "m.json")
		cfg := map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": victimTLS, "tags": []string{image}, "push": true, "metadata-file": meta}
		r := s.run(t, clone, cfg, "HOME="+t.TempDir(), "BUILDKITE_ORGANIZATION_SLUG="+org, "BUILDKITE_PIPELINE_SLUG="+slug, "BUILDKITE_PULL_REQUEST=false")
		if r.Code != 0 {
			t.Fatalf("victim build: %s", r)
		}
		img, err := remote.Image(s.ref(t, image), s.auth())
		if err != nil {
			t.Fatal(err)
		}
		if got := string(layerFiles(t, img)["app.txt"]); got != good {
			t.Fatalf("the victim's pushed image holds app.txt %q… (%d B), want the victim's own %q…: the attacker's planted context state was used",
				got[:min(24, len(got))], len(got), good[:24])
		}
		return contextStats(t, readMetadata(t, meta))
	}
	first := victim(freshClone(t, repo))
	second := victim(freshClone(t, repo))
	t.Logf("victim fresh clone 1: %+v; fresh clone 2: %+v", first, second)
	if first.SentBytes < int64(len(good)) {
		t.Errorf("the victim's first build sent %d B: app.txt (%d B) was taken from the daemon's copy", first.SentBytes, len(good))
	}
	if second.Mode != "content" || second.SentBytes > 1<<10 {
		t.Errorf("the victim's second fresh clone sent %d B (%+v), want only what changed: nothing but the always-read Dockerfile", second.SentBytes, second)
	}
}

// freshClone is the next job on a new agent: a clone of repo (new mtimes)
// with an empty meta/ directory.
func freshClone(t *testing.T, repo string) string {
	t.Helper()
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", repo, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if err := os.Mkdir(filepath.Join(clone, "meta"), 0o755); err != nil { // the metadata file's directory (git-ignored)
		t.Fatal(err)
	}
	return clone
}

// Two certificates are two trust domains; context-key names one secret that
// makes them one: a fresh clone built with the other certificate and the
// same context-key sends nothing but what changed, without it everything.
func TestSharedBuilderContextKeyOption(t *testing.T) {
	s := requireStack(t)
	ca := stackCA(t)
	tlsA, tlsB := t.TempDir(), t.TempDir()
	writeSet(t, tlsA, ca.valid(t, "agent a"))
	writeSet(t, tlsB, ca.valid(t, "agent b"))
	content := fmt.Sprintf("%d\n", mrand.Int64()) + strings.Repeat("data\n", 16<<10) // 80 KiB
	repo := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY big.txt /\n", "big.txt": content, ".gitignore": "meta/\n"})
	gitIn(t, repo, "init", "-q")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-qm", "fixture")
	slug := fmt.Sprintf("ctx-key-%d", mrand.IntN(1_000_000))
	build := func(tlsDir string, extra map[string]any, env ...string) syncStats {
		t.Helper()
		clone := freshClone(t, repo)
		meta := filepath.Join(clone, "meta", "m.json")
		cfg := map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": tlsDir, "metadata-file": meta}
		for k, v := range extra {
			cfg[k] = v
		}
		r := s.run(t, clone, cfg, append([]string{"HOME=" + t.TempDir(), "BUILDKITE_PIPELINE_SLUG=" + slug}, env...)...)
		if r.Code != 0 {
			t.Fatalf("build: %s", r)
		}
		return contextStats(t, readMetadata(t, meta))
	}
	big := int64(len(content))
	if st := build(tlsA, nil); st.SentBytes < big {
		t.Fatalf("first build with certificate A sent %d B, want big.txt (%d B)", st.SentBytes, big)
	}
	if st := build(tlsB, nil); st.SentBytes < big {
		t.Errorf("certificate B (another trust domain) sent %d B: it diffed against A's state", st.SentBytes)
	}
	key := map[string]any{"context-key": map[string]string{"env": "CTX_KEY"}}
	secret := "CTX_KEY=" + fmt.Sprint(mrand.Int64())
	if st := build(tlsA, key, secret); st.SentBytes < big {
		t.Fatalf("first build with context-key sent %d B", st.SentBytes)
	}
	if st := build(tlsB, key, secret); st.Mode != "content" || st.SentBytes > 1<<10 {
		t.Errorf("certificate B with the same context-key: a fresh clone sent %d B (%+v), want only the Dockerfile", st.SentBytes, st)
	}
	r := s.run(t, freshClone(t, repo), s.baseConfig(key), "BUILDKITE_PIPELINE_SLUG="+slug)
	if lines := errorLines(r.Stderr); r.Code != 2 || !strings.Contains(r.Stderr, "context-key.env: CTX_KEY is not set") || len(lines) != 1 {
		t.Errorf("context-key naming an unset variable: exit %d, want 2 and one line:\n%s", r.Code, r.Stderr)
	}
}
