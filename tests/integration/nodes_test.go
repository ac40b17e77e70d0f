package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// daemon is an extra buildkitd started by a test (mTLS with the stack's
// server certificates, its own root and trace socket).
type daemon struct {
	Name string
	Host string
	cmd  *exec.Cmd
}

func (d *daemon) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		d.cmd = nil
	}
}

func startDaemons(t *testing.T, s *stack, names ...string) []*daemon {
	t.Helper()
	buildkitd := os.Getenv("STACK_BUILDKITD")
	certs := os.Getenv("STACK_CA_DIR")
	if buildkitd == "" || certs == "" {
		t.Fatal("STACK_BUILDKITD/STACK_CA_DIR unset: re-run `make stack-up`")
	}
	var out []*daemon
	for _, n := range names {
		root := t.TempDir()
		port := freePort(t)
		conf := filepath.Join(root, "buildkitd.toml")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("[otel]\n  socketPath = %q\n", filepath.Join(root, "otel.sock"))), 0o644); err != nil {
			t.Fatal(err)
		}
		d := &daemon{Name: n, Host: fmt.Sprintf("tcp://127.0.0.1:%d", port)}
		d.cmd = exec.Command(buildkitd, "--addr", d.Host, "--root", filepath.Join(root, "state"), "--config", conf,
			"--tlscacert", filepath.Join(certs, "server", "ca.pem"), "--tlscert", filepath.Join(certs, "server", "cert.pem"),
			"--tlskey", filepath.Join(certs, "server", "key.pem"))
		logf, _ := os.Create(filepath.Join(root, "buildkitd.log"))
		d.cmd.Stdout, d.cmd.Stderr = logf, logf
		if err := d.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.stop)
		out = append(out, d)
	}
	for _, d := range out {
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := exec.Command(s.Buildctl, "--addr", d.Host, "--tlsdir", s.TLSDir, "debug", "workers").Run()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("buildkitd %s did not start: %v", d.Name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}

// platformsBuilt lists the platforms in a daemon's build history.
func platformsBuilt(t *testing.T, s *stack, host string) []string {
	t.Helper()
	out, err := exec.Command(s.Buildctl, "--addr", host, "--tlsdir", s.TLSDir, "debug", "histories", "--format", "{{json .}}").Output()
	if err != nil {
		t.Fatalf("buildctl debug histories: %v", err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		var h struct {
			Record struct{ FrontendAttrs map[string]string } `json:"record"`
		}
		if json.Unmarshal([]byte(l), &h) == nil && h.Record.FrontendAttrs != nil {
			seen[h.Record.FrontendAttrs["platform"]] = true
		}
	}
	var ps []string
	for p := range seen {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

const splitDockerfile = `FROM --platform=$BUILDPLATFORM %s AS build
ARG TARGETPLATFORM
ARG NONCE
RUN mkdir /out && echo "$TARGETPLATFORM $NONCE" > /out/platform && %s
FROM scratch
COPY --from=build /out/ /
`

// Two nodes split linux/amd64 and linux/arm64: each daemon builds only its
// platform, in parallel; one index with both manifests is pushed under
// every tag and recorded; a failing node fails the build fast, named, with
// nothing tagged.
func TestParallelNodesSplitPlatforms(t *testing.T) {
	s := requireStack(t)
	ds := startDaemons(t, s, "amd", "arm")
	nodes := []map[string]any{
		{"name": "amd", "host": ds[0].Host, "platforms": []string{"linux/amd64"}},
		{"name": "arm", "host": ds[1].Host, "platforms": []string{"linux/arm64"}},
	}
	both := []string{"linux/amd64", "linux/arm64"}

	t.Run("index", func(t *testing.T) {
		repo := s.repo(t)
		dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(splitDockerfile, s.BaseImage, "true")})
		meta := filepath.Join(t.TempDir(), "m.json")
		r := s.run(t, dir, map[string]any{"tls-dir": s.TLSDir, "nodes": nodes, "platforms": both,
			"tags": []string{repo + ":a", repo + ":b"}, "push": true, "metadata-file": meta, "build-args": map[string]string{"NONCE": repo}})
		if r.Code != 0 {
			t.Fatalf("split build failed: %s", r)
		}
		if !strings.Contains(r.Stderr, "[amd] #") || !strings.Contains(r.Stderr, "[arm] #") {
			t.Errorf("progress lines are not prefixed with the node names:\n%s", r.Stderr)
		}
		if got := platformsBuilt(t, s, ds[0].Host); strings.Join(got, ",") != "linux/amd64" {
			t.Errorf("node amd built %v, want only linux/amd64", got)
		}
		if got := platformsBuilt(t, s, ds[1].Host); strings.Join(got, ",") != "linux/arm64" {
			t.Errorf("node arm built %v, want only linux/arm64", got)
		}
		digest := lineValue(r.Stdout, "digest")
		for _, tag := range []string{"a", "b"} {
			d := s.descriptor(t, repo+":"+tag)
			if d.Digest.String() != digest || !d.MediaType.IsIndex() {
				t.Errorf("%s:%s is %s %s, want the index %s", repo, tag, d.MediaType, d.Digest, digest)
			}
		}
		idx, err := s.descriptor(t, repo+":a").ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		var plats []string
		for _, m := range im.Manifests {
			plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture)
		}
		sort.Strings(plats)
		if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
			t.Errorf("index platforms %v", plats)
		}
		rb := readMetadata(t, meta)["remote-buildkit"].(map[string]any)
		if rb["digest"] != digest {
			t.Errorf("metadata digest %v, printed %s", rb["digest"], digest)
		}
		ms, _ := rb["manifests"].([]any)
		got := map[string]string{}
		for _, m := range ms {
			mm := m.(map[string]any)
			got[mm["platform"].(string)] = mm["node"].(string)
		}
		if got["linux/amd64"] != "amd" || got["linux/arm64"] != "arm" {
			t.Errorf("metadata manifests %v, want amd64 on amd and arm64 on arm", ms)
		}
	})

	// index: annotations land on the index the plugin assembles.
	t.Run("index annotations", func(t *testing.T) {
		repo := s.repo(t)
		dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(splitDockerfile, s.BaseImage, "true")})
		r := s.run(t, dir, map[string]any{"tls-dir": s.TLSDir, "nodes": nodes, "platforms": both, "tags": []string{repo + ":ann"}, "push": true,
			"annotations": []string{"index:org.opencontainers.image.description=split across nodes"}, "build-args": map[string]string{"NONCE": repo + "ann"}})
		if r.Code != 0 {
			t.Fatalf("split build failed: %s", r)
		}
		idx, err := s.descriptor(t, repo+":ann").ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		if got := im.Annotations["org.opencontainers.image.description"]; got != "split across nodes" {
			t.Errorf("index annotations %v, want the description", im.Annotations)
		}
	})

	t.Run("parallel", func(t *testing.T) {
		repo := s.repo(t)
		dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(splitDockerfile, s.BaseImage, "sleep 10")})
		one := s.run(t, dir, map[string]any{"tls-dir": s.TLSDir, "buildkit-host": ds[0].Host, "platforms": []string{"linux/amd64"},
			"tags": []string{repo + ":one"}, "push": true, "build-args": map[string]string{"NONCE": repo + "-one"}})
		if one.Code != 0 {
			t.Fatalf("single-platform build failed: %s", one)
		}
		two := s.run(t, dir, map[string]any{"tls-dir": s.TLSDir, "nodes": nodes, "platforms": both,
			"tags": []string{repo + ":two"}, "push": true, "build-args": map[string]string{"NONCE": repo + "-two"}})
		if two.Code != 0 {
			t.Fatalf("split build failed: %s", two)
		}
		ratio := float64(two.Elapsed) / float64(one.Elapsed)
		t.Logf("one platform on one node: %s; two platforms on two nodes: %s (%.2f×)", one.Elapsed.Round(time.Millisecond), two.Elapsed.Round(time.Millisecond), ratio)
		if ratio >= 1.3 {
			t.Errorf("two-node build took %.2f× the single-platform time, want < 1.3×", ratio)
		}
	})

	t.Run("one node fails", func(t *testing.T) {
		repo := s.repo(t)
		run := `sleep 3; if [ "$TARGETPLATFORM" = linux/arm64 ]; then echo arm64 breaks; exit 1; fi; sleep 30`
		dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(splitDockerfile, s.BaseImage, run)})
		r := s.run(t, dir, map[string]any{"tls-dir": s.TLSDir, "nodes": nodes, "platforms": both,
			"tags": []string{repo + ":never"}, "push": true, "build-args": map[string]string{"NONCE": repo}})
		t.Logf("failed after %s", r.Elapsed.Round(time.Millisecond))
		if r.Code != 1 || !strings.Contains(r.Stderr, "remote-buildkit: error: node arm (") {
			t.Fatalf("want exit 1 naming node arm: %s", r)
		}
		if r.Elapsed > 10*time.Second {
			t.Errorf("took %s, want < 10 s", r.Elapsed)
		}
		if !s.repoMissing(t, repo) {
			t.Errorf("a failed split build tagged %s: %v", repo, s.tags(t, repo))
		}
	})
}

// A pool of three: sticky, spread, and failover with a warning.
func TestParallelNodesPool(t *testing.T) {
	s := requireStack(t)
	ds := startDaemons(t, s, "p1", "p2", "p3")
	pool := []string{ds[0].Host, ds[1].Host, ds[2].Host}
	// Named nodes without platforms form the pool; fixed names keep the
	// rendezvous scores (and so this test) independent of the random ports.
	var named []map[string]any
	for _, d := range ds {
		named = append(named, map[string]any{"name": d.Name, "host": d.Host})
	}
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	build := func(slug string) (string, result) {
		meta := filepath.Join(t.TempDir(), "m.json")
		r := s.run(t, dir, map[string]any{"tls-dir": s.TLSDir, "nodes": named, "metadata-file": meta,
			"progress": "quiet", "annotate": false}, "BUILDKITE_PIPELINE_SLUG="+slug)
		if r.Code != 0 {
			return "", r
		}
		node, _ := readMetadata(t, meta)["remote-buildkit"].(map[string]any)["node"].(string)
		return node, r
	}

	start := time.Now()
	counts := map[string]int{}
	first := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		slug := fmt.Sprintf("pipeline-%02d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			node, r := build(slug)
			mu.Lock()
			defer mu.Unlock()
			if node == "" {
				t.Errorf("%s: %s", slug, r)
				return
			}
			counts[node]++
			first[slug] = node
		}()
		if i%3 == 2 {
			wg.Wait()
		}
	}
	wg.Wait()
	t.Logf("30 pipelines in %s: %v", time.Since(start).Round(time.Millisecond), counts)
	for node, n := range counts {
		if n > 15 {
			t.Errorf("daemon %s got %d of 30 pipelines, want ≤ 50%%", node, n)
		}
	}
	// With no other build running a pipeline always gets the same member (bounded loads
	// spread the concurrent batches above, so its home is taken from an idle run).
	first["pipeline-07"], _ = build("pipeline-07")
	for i := 0; i < 10; i++ {
		if node, r := build("pipeline-07"); node != first["pipeline-07"] {
			t.Fatalf("run %d of pipeline-07 went to %s, first to %s: %s", i, node, first["pipeline-07"], r)
		}
	}
	// Stop pipeline-07's daemon: its builds move to the next and succeed.
	var stopped *daemon
	for _, d := range ds {
		if d.Name == first["pipeline-07"] {
			stopped = d
		}
	}
	stopped.stop()
	node, r := build("pipeline-07")
	if node == "" || node == stopped.Name {
		t.Fatalf("after stopping %s: %s", stopped.Name, r)
	}
	if !strings.Contains(r.Stderr, "WARNING: skipping BuildKit node "+stopped.Name+": nothing is listening at "+stopped.Host) {
		t.Errorf("no warning naming the stopped daemon: %s", r)
	}
	t.Logf("pipeline-07 moved from %s to %s", stopped.Name, node)

	// diagnose checks every node and fails naming the stopped one.
	rep, dr := diag(t, s, map[string]any{"tls-dir": s.TLSDir, "buildkit-host": pool})
	if dr.Code != 1 {
		t.Errorf("diagnose exit %d, want 1", dr.Code)
	}
	for _, d := range ds {
		st, found, _ := rep.check(t, d.Host+": tcp")
		want := "PASS"
		if d == stopped {
			want = "FAIL"
		}
		if st != want {
			t.Errorf("%s: tcp = %s (%s), want %s", d.Host, st, found, want)
		}
	}
}

// A pool of like daemons builds a multi-platform image on one member, as a
// single daemon does, when no member builds every platform natively
// (regression: it used to refuse with "no reachable node builds linux/arm64").
func TestParallelNodesPoolMultiPlatform(t *testing.T) {
	s := requireStack(t)
	ds := startDaemons(t, s, "m1", "m2")
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(splitDockerfile, s.BaseImage, "true")})
	r := s.run(t, dir, map[string]any{"tls-dir": s.TLSDir, "buildkit-host": []string{ds[0].Host, ds[1].Host},
		"platforms": []string{"linux/amd64", "linux/arm64"}, "tags": []string{repo + ":pool"}, "push": true,
		"build-args": map[string]string{"NONCE": repo}})
	if r.Code != 0 || !strings.Contains(r.Stderr, "building all of them on one pool member") {
		t.Fatalf("pool multi-platform build: %s", r)
	}
	idx, err := s.descriptor(t, repo+":pool").ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if im, _ := idx.IndexManifest(); len(im.Manifests) != 2 {
		t.Errorf("index has %d manifests, want 2", len(im.Manifests))
	}
}
