package integration

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/contextkey"
	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// Content-addressed context sync (context-sync: content, the default)
// against the real daemon: what travels on a warm checkout, on a fresh clone
// on a new agent, in bake steps and split builds, and that a changed file
// always reaches the image.

// syncStats is remote-buildkit.context in the metadata file.
type syncStats struct {
	Mode      string `json:"mode"`
	Files     int64  `json:"files"`
	Bytes     int64  `json:"bytes"`
	SentFiles int64  `json:"sent_files"`
	SentBytes int64  `json:"sent_bytes"`
	Hashed    int64  `json:"hashed"`
	Cached    int64  `json:"cached"`
	Git       int64  `json:"git_ids"`
	Uploads   int    `json:"uploads"`
}

// contextStats reads the sync stats of a metadata file's result (single
// build: meta["remote-buildkit"]; bake: meta[target]["remote-buildkit"]).
func contextStats(t *testing.T, entry any) syncStats {
	t.Helper()
	rb, _ := entry.(map[string]any)["remote-buildkit"].(map[string]any)
	b, _ := json.Marshal(rb["context"])
	var st syncStats
	if err := json.Unmarshal(b, &st); err != nil || st.Uploads == 0 {
		t.Fatalf("no context stats in the metadata: %s", b)
	}
	return st
}

func newByteProxy(t *testing.T, target string) *faultkit.CountingProxy {
	t.Helper()
	p, err := faultkit.NewCountingProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// transferLine is BuildKit's plain progress for a local directory's upload:
// "#3 transferring context: 6.72kB 0.0s done".
var transferLine = regexp.MustCompile(`^#(\d+) transferring ([^:]+): ([0-9.]+)([kMG]?)B`)

// daemonReceived adds up, from the daemon's own progress, the bytes each
// upload of the named directories received (the last report of each).
func daemonReceived(stderr string, names ...string) int64 {
	last := map[string]float64{}
	for _, l := range strings.Split(stderr, "\n") {
		m := transferLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		for _, n := range names {
			if m[2] == n {
				v, _ := strconv.ParseFloat(m[3], 64)
				last[m[1]+" "+m[2]] = v * map[string]float64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m[4]]
			}
		}
	}
	var sum float64
	for _, v := range last {
		sum += v
	}
	return int64(sum)
}

func randomFile(t *testing.T, path string, size int) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// change rewrites one byte-range of a file in place: same size, new content.
func change(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, fmt.Sprintf("changed %05d", mrand.IntN(100000))) // 13 bytes
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=ci", "-c", "user.email=ci@example.com"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// syncRepo is a git repository with a 6 MB context of 300 files and a 10 MB
// build-contexts directory of 20 files, committed.
func syncRepo(t *testing.T, dockerfile string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := writeFiles(t, map[string]string{"Dockerfile": dockerfile, ".dockerignore": ".git\nassets\nmeta\n", "meta/.keep": ""})
	for i := range 300 {
		randomFile(t, filepath.Join(dir, "src", fmt.Sprintf("%02d", i%10), fmt.Sprintf("f%03d.bin", i)), 20<<10)
	}
	for i := range 20 {
		randomFile(t, filepath.Join(dir, "assets", fmt.Sprintf("a%02d.bin", i)), 512<<10)
	}
	gitIn(t, dir, "init", "-q")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-qm", "fixture")
	return dir
}

const syncDockerfile = "FROM scratch\nCOPY src /src\nCOPY --from=assets . /assets\n"

// A fresh clone on a new agent (new mtimes, an empty hash cache) with one
// file changed sends about what the same change costs on a warm checkout,
// by our count, on the wire and by the daemon's count; the unchanged 10 MB
// build-contexts directory is not sent again; the clean files' ids come from
// git.
func TestContextSyncFreshClone(t *testing.T) {
	s := requireStack(t)
	proxy := newByteProxy(t, s.BuildkitHost)
	repo := syncRepo(t, syncDockerfile)
	slug := fmt.Sprintf("cs-fresh-%d", mrand.IntN(1_000_000))
	build := func(dir, home string) (syncStats, int64, int64) {
		t.Helper()
		meta := filepath.Join(dir, "meta", "m.json")
		cfg := s.baseConfig(map[string]any{"buildkit-host": proxy.Host(), "progress": "plain", "metadata-file": meta,
			"build-contexts": map[string]string{"assets": "assets"}})
		proxy.Sent.Store(0)
		r := s.run(t, dir, cfg, "HOME="+home, "BUILDKITE_PIPELINE_SLUG="+slug)
		if r.Code != 0 {
			t.Fatalf("build in %s failed: %s", dir, r)
		}
		if !strings.Contains(r.Stdout, "context: sent ") {
			t.Errorf("no context line in the log: %s", r.Stdout)
		}
		return contextStats(t, readMetadata(t, meta)), proxy.Sent.Load(), daemonReceived(r.Stderr, "context", "ctx-assets", "dockerfile")
	}
	home := t.TempDir()
	first, _, _ := build(repo, home)
	if first.Files != 321 || first.Bytes < 16e6 || first.SentBytes < 16e6 {
		t.Fatalf("first build: want 300 files + Dockerfile + 20 assets (16 MB) walked and sent: %+v", first)
	}
	change(t, filepath.Join(repo, "src", "00", "f000.bin"))
	warm, warmWire, warmDaemon := build(repo, home)
	// diagnose walks the whole context (.dockerignore applied) and shows
	// what this build sent.
	diagnoseContext(t, s, repo, home, slug, "after .dockerignore; content ids known: ", " in the hash cache",
		") sent 3 files, 20.1 KiB of 321 files, 15.9 MiB")

	fresh, freshWire, freshDaemon := build(cloneWithChange(t, repo, "src/01/f001.bin"), t.TempDir())
	t.Logf("warm:  %+v wire %d B, daemon %d B", warm, warmWire, warmDaemon)
	t.Logf("fresh: %+v wire %d B, daemon %d B", fresh, freshWire, freshDaemon)

	for _, c := range []struct {
		what        string
		warm, fresh int64
	}{{"sent bytes (our count)", warm.SentBytes, fresh.SentBytes}, {"bytes on the wire", warmWire, freshWire}, {"bytes the daemon received", warmDaemon, freshDaemon}} {
		if c.warm <= 0 || float64(c.fresh) > 1.5*float64(c.warm) {
			t.Errorf("%s: fresh clone %d, warm checkout %d: want ≤ 1.5×", c.what, c.fresh, c.warm)
		}
	}
	if fresh.SentBytes > 100<<10 || freshWire > 1<<20 {
		t.Errorf("the fresh clone re-sent content (%d B ours, %d B on the wire): the 10 MB assets or the 6 MB context", fresh.SentBytes, freshWire)
	}
	if fresh.SentFiles > 3 { // the changed file, the Dockerfile and .dockerignore (always read)
		t.Errorf("fresh clone sent %d files", fresh.SentFiles)
	}
	if fresh.Git < fresh.Files/2 || fresh.Cached != 0 {
		t.Errorf("fresh clone in a new HOME: want most ids from git's index, none cached: %+v", fresh)
	}
}

// A file whose content changed while its size and mtime stayed those of the
// daemon's copy reaches the image — in the context and in a build-contexts
// directory. With context-sync: mtime (the control) the daemon keeps its old
// copy, as with buildctl.
func TestContextSyncSameSizeSameMtime(t *testing.T) {
	s := requireStack(t)
	for _, tc := range []struct {
		mode string
		want string
	}{{"content", "new!"}, {"mtime", "old!"}} {
		t.Run(tc.mode, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{
				"Dockerfile":     "FROM scratch\nCOPY file.txt /ctx.txt\nCOPY --from=extra file.txt /extra.txt\n",
				".dockerignore":  "extra\nout\n",
				"file.txt":       "old!",
				"extra/file.txt": "old!",
				"out/.keep":      "",
			})
			slug := fmt.Sprintf("cs-same-%s-%d", tc.mode, mrand.IntN(1_000_000))
			home := t.TempDir()
			build := func() map[string]string {
				out := filepath.Join(t.TempDir(), "out")
				cfg := s.baseConfig(map[string]any{"context-sync": tc.mode, "outputs": "type=local,dest=" + out,
					"build-contexts": map[string]string{"extra": "extra"}})
				if r := s.run(t, dir, cfg, "HOME="+home, "BUILDKITE_PIPELINE_SLUG="+slug); r.Code != 0 {
					t.Fatalf("build failed: %s", r)
				}
				got := map[string]string{}
				for _, f := range []string{"ctx.txt", "extra.txt"} {
					b, err := os.ReadFile(filepath.Join(out, f))
					if err != nil {
						t.Fatal(err)
					}
					got[f] = string(b)
				}
				return got
			}
			if got := build(); got["ctx.txt"] != "old!" || got["extra.txt"] != "old!" {
				t.Fatalf("first build: %v", got)
			}
			for _, f := range []string{"file.txt", "extra/file.txt"} {
				p := filepath.Join(dir, f)
				fi, _ := os.Stat(p)
				if err := os.WriteFile(p, []byte("new!"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
			}
			if got := build(); got["ctx.txt"] != tc.want || got["extra.txt"] != tc.want {
				t.Errorf("after a same-size, same-mtime change: %v, want both %q", got, tc.want)
			}
		})
	}
}

// derivedMTime is the unkeyed derivation of content's mtime the plugin used
// before context state was keyed: 1980-01-01 + 30 bits of its git blob id in
// seconds + the next 29 in nanoseconds.
func derivedMTime(content []byte) time.Time {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	v := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	return time.Unix(315532800+int64(v>>34), int64(v>>5)&(1<<29-1))
}

// keyedMTime is the mtime content is sent with by a job holding the stack's
// client certificate: keyed with the key derived from it (contextkey).
func keyedMTime(t *testing.T, s *stack, content []byte) time.Time {
	t.Helper()
	k, err := contextkey.FromKeyFile(filepath.Join(s.TLSDir, "key.pem"))
	if err != nil || k == nil {
		t.Fatalf("the stack's client key: %v", err)
	}
	return time.Unix(0, k.StatKey().ModTime(contextsync.BlobID(content)))
}

// The mtimes inside the image: derived from the content and the trust
// domain's key with content (the same for the same bytes on every agent with
// that certificate, not computable without it), the file's own with mtime.
func TestContextSyncMTimesInImage(t *testing.T) {
	s := requireStack(t)
	real := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, mode := range []string{"content", "mtime"} {
		t.Run(mode, func(t *testing.T) {
			// Unique content: BuildKit's cache keys ignore mtimes, so a COPY
			// of bytes an earlier build copied is a cache hit with that
			// build's mtimes (in either mode).
			content := fmt.Sprintf("hello %d\n", mrand.Int64())
			dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /\n", "a.txt": content})
			os.Chtimes(filepath.Join(dir, "a.txt"), real, real)
			out := filepath.Join(t.TempDir(), "out")
			cfg := s.baseConfig(map[string]any{"context-sync": mode, "outputs": "type=local,dest=" + out})
			r := s.run(t, dir, cfg, fmt.Sprintf("BUILDKITE_PIPELINE_SLUG=cs-mtime-%d", mrand.IntN(1_000_000)))
			if r.Code != 0 {
				t.Fatalf("build failed: %s", r)
			}
			fi, err := os.Stat(filepath.Join(out, "a.txt"))
			if err != nil {
				t.Fatal(err)
			}
			want := real
			if mode == "content" {
				want = keyedMTime(t, s, []byte(content))
				if public := derivedMTime([]byte(content)); want.Equal(public) {
					t.Fatalf("the keyed mtime is the public derivation %v", public)
				}
			}
			if !fi.ModTime().Equal(want) {
				t.Errorf("a.txt in the image has mtime %v, want %v", fi.ModTime().UTC(), want.UTC())
			}
			if mode == "mtime" && !strings.Contains(r.Stdout, "(context-sync: mtime)") {
				t.Errorf("the context line does not say mtime: %s", r.Stdout)
			}
		})
	}
}

// cloneWithChange is the next job on a new agent: a fresh clone of repo
// (new mtimes, a fresh git index) with one same-size change in each file of
// changes (relative paths).
func cloneWithChange(t *testing.T, repo string, changes ...string) string {
	t.Helper()
	gitIn(t, repo, "commit", "-qam", "the warm change") // what the next job clones
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", repo, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	for _, c := range changes {
		change(t, filepath.Join(clone, c))
	}
	return clone
}

// checkSmallResend asserts that a fresh clone's upload is about a warm
// checkout's for the same kind of change.
func checkSmallResend(t *testing.T, what string, warm, fresh syncStats) {
	t.Helper()
	t.Logf("%s: warm %+v; fresh %+v", what, warm, fresh)
	if warm.SentBytes <= 0 || float64(fresh.SentBytes) > 1.5*float64(warm.SentBytes) || fresh.SentBytes > 100<<10 {
		t.Errorf("%s: a fresh clone sent %d B, a warm checkout %d B: want ≤ 1.5× and no re-sent context", what, fresh.SentBytes, warm.SentBytes)
	}
	if fresh.Git == 0 {
		t.Errorf("%s: no id came from git in the fresh clone: %+v", what, fresh)
	}
}

// Each target of a bake step gets the same: after a fresh clone only the
// changed file of its context travels, and its local contexts stay.
func TestParallelContextSyncBake(t *testing.T) {
	s := requireStack(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := writeFiles(t, map[string]string{
		"docker-bake.hcl": "group \"default\" { targets = [\"one\", \"two\"] }\n" +
			"target \"one\" {\n  context = \"one\"\n  contexts = { assets = \"./assets\" }\n}\n" +
			"target \"two\" {\n  context = \"two\"\n}\n",
		"one/Dockerfile":    "FROM scratch\nCOPY src /src\nCOPY --from=assets . /assets\n",
		"two/Dockerfile":    "FROM scratch\nCOPY src /src\n",
		".gitignore":        "meta/\n",
		"one/.dockerignore": "", "two/.dockerignore": "",
	})
	for i := range 100 {
		randomFile(t, filepath.Join(dir, "one", "src", fmt.Sprintf("f%03d.bin", i)), 20<<10)
		randomFile(t, filepath.Join(dir, "two", "src", fmt.Sprintf("f%03d.bin", i)), 20<<10)
	}
	for i := range 8 {
		randomFile(t, filepath.Join(dir, "assets", fmt.Sprintf("a%d.bin", i)), 512<<10)
	}
	gitIn(t, dir, "init", "-q")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-qm", "fixture")
	slug := fmt.Sprintf("cs-bake-%d", mrand.IntN(1_000_000))
	bake := func(dir, home string) map[string]any {
		meta := filepath.Join(dir, "meta", "m.json")
		os.MkdirAll(filepath.Dir(meta), 0o755)
		r := s.run(t, dir, s.baseConfig(map[string]any{"bake": "docker-bake.hcl", "metadata-file": meta}), "HOME="+home, "BUILDKITE_PIPELINE_SLUG="+slug)
		if r.Code != 0 {
			t.Fatalf("bake failed: %s", r)
		}
		return readMetadata(t, meta)
	}
	home := t.TempDir()
	first := bake(dir, home)
	if st := contextStats(t, first["one"]); st.SentBytes < 6e6 {
		t.Fatalf("first bake did not send target one's context and assets: %+v", st)
	}
	change(t, filepath.Join(dir, "one", "src", "f000.bin"))
	change(t, filepath.Join(dir, "two", "src", "f000.bin"))
	warm := bake(dir, home)
	clone := cloneWithChange(t, dir, "one/src/f001.bin", "two/src/f001.bin")
	fresh := bake(clone, t.TempDir())
	for _, target := range []string{"one", "two"} {
		checkSmallResend(t, "target "+target, contextStats(t, warm[target]), contextStats(t, fresh[target]))
	}
}

// A build split across two nodes uploads the context to each; after a fresh
// clone each gets only the changed file.
func TestParallelContextSyncNodes(t *testing.T) {
	s := requireStack(t)
	repo := syncRepo(t, syncDockerfile)
	ds := startDaemons(t, s, "amd", "arm")
	image := s.repo(t)
	slug := fmt.Sprintf("cs-nodes-%d", mrand.IntN(1_000_000))
	build := func(dir, home string) syncStats {
		meta := filepath.Join(dir, "meta", "m.json")
		r := s.run(t, dir, map[string]any{"tls-dir": s.TLSDir, "platforms": []string{"linux/amd64", "linux/arm64"},
			"nodes": []map[string]any{
				{"name": "amd", "host": ds[0].Host, "platforms": []string{"linux/amd64"}},
				{"name": "arm", "host": ds[1].Host, "platforms": []string{"linux/arm64"}},
			},
			"tags": []string{image + ":split"}, "push": true, "metadata-file": meta,
			"build-contexts": map[string]string{"assets": "assets"}}, "HOME="+home, "BUILDKITE_PIPELINE_SLUG="+slug)
		if r.Code != 0 {
			t.Fatalf("split build failed: %s", r)
		}
		return contextStats(t, readMetadata(t, meta))
	}
	home := t.TempDir()
	if first := build(repo, home); first.Uploads != 2 || first.SentBytes < 32e6 {
		t.Fatalf("first split build: want two full uploads: %+v", first)
	}
	change(t, filepath.Join(repo, "src", "00", "f000.bin"))
	warm := build(repo, home)
	fresh := build(cloneWithChange(t, repo, "src/01/f001.bin"), t.TempDir())
	if fresh.Uploads != 2 {
		t.Errorf("fresh clone: %d uploads, want 2 (one per node)", fresh.Uploads)
	}
	checkSmallResend(t, "split build", warm, fresh)
}

// diagnoseContext runs `remote-buildkit diagnose` in dir as a job of slug
// on the agent whose HOME is home, and checks its context line.
func diagnoseContext(t *testing.T, s *stack, dir, home, slug string, wants ...string) {
	t.Helper()
	js, _ := json.Marshal(s.baseConfig(map[string]any{"build-contexts": map[string]string{"assets": "assets"}}))
	cmd := exec.Command(bin, "diagnose", "--format", "json")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "DOCKER_CONFIG=" + s.DockerConfig,
		"BUILDKITE_PIPELINE_SLUG=" + slug, "BUILDKITE_PLUGIN_CONFIGURATION=" + string(js)}
	out, _ := cmd.Output()
	var rep diagReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("diagnose --format json: %v\n%s", err, out)
	}
	status, found, _ := rep.check(t, "context")
	for _, w := range wants {
		if status != "PASS" || !strings.Contains(found, w) {
			t.Errorf("diagnose context: %s %q, want PASS with %q", status, found, w)
		}
	}
}
