package main

// --- 8. context sync: content-addressed vs mtimes ---------------------------
//
// The 500 MB / 20,000-file context as a git repository. (a) A fresh clone on
// a new agent (new mtimes, an empty hash cache) with one 25 KB file changed,
// rebuilt by remote-buildkit (context-sync: content), `buildctl build` and
// `docker buildx build` with the remote driver, each after its own build of
// the previous clone at the same path: bytes on the wire and wall time.
// (b) The same checkout rebuilt after one change with content vs mtime.
// (c) A first upload (a new pipeline's key, so everything travels) on a cold
// hash cache: content (every file hashed) vs mtime.

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

var (
	contextSyncOnly = flag.Bool("context-sync-only", false, "run only the context-sync rows (fresh clone, warm content vs mtime, cold hash cache); the report goes to bench/results/context-sync-<date>.md")
	contextSyncRows = flag.String("context-sync-rows", "abc", "which context-sync rows to run: a (fresh clone), b (warm content vs mtime), c (cold hash cache)")
)

const csDockerfile = "FROM scratch\nCOPY data /data\n"

// csBench is the state of the context-sync rows.
type csBench struct {
	repo, work string // the fixture repository; a scratch directory for clones and homes
	proxy      *faultkit.CountingProxy
	host, tls  string
	buildctl   string
	buildx     []string // buildx with its config dir and builder
}

// gitFixture is the 500 MB / 20k-file context committed to a git repository
// (packed; cached beside the other fixtures).
func gitFixture() string {
	dir := filepath.Join(*cache, "ctx-500m-20k-git-packed")
	marker := dir + ".complete"
	if _, err := os.Stat(marker); err == nil {
		return dir
	}
	src := buildFixture("ctx-500m-20k", 20000, 25*1024)
	os.RemoveAll(dir)
	must(os.MkdirAll(dir, 0o755))
	run(nil, "", "cp", "-r", filepath.Join(src, "data"), filepath.Join(dir, "data"))
	must(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(csDockerfile), 0o644))
	must(os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(".git\n"), 0o644))
	git := func(args ...string) {
		run(nil, dir, "git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "core.looseCompression=0"}, args...)...)
	}
	git("init", "-q")
	git("config", "core.compression", "0") // random data: zlib only costs time
	git("config", "pack.compression", "0")
	git("add", "-A")
	git("commit", "-qm", "fixture")
	git("repack", "-a", "-d", "-q") // packed, as a server's repository is
	must(os.WriteFile(marker, nil, 0o644))
	return dir
}

func newCSBench() *csBench {
	work, err := os.MkdirTemp("", "bench-cs-")
	must(err)
	p, err := faultkit.NewCountingProxy(stackEnv("STACK_BUILDKIT_HOST"))
	must(err)
	b := &csBench{repo: gitFixture(), work: work, proxy: p, host: p.Host(), tls: stackEnv("STACK_TLS_DIR"), buildctl: stackEnv("STACK_BUILDCTL")}
	bxConfig := filepath.Join(work, "buildx")
	bx := stackEnv("STACK_BUILDX")
	run([]string{"BUILDX_CONFIG=" + bxConfig}, "", bx, "create", "--name", "bench-cs", "--driver", "remote",
		"--driver-opt", fmt.Sprintf("cacert=%s/ca.pem,cert=%s/cert.pem,key=%s/key.pem,servername=localhost", b.tls, b.tls, b.tls), b.host)
	b.buildx = []string{"env", "BUILDX_CONFIG=" + bxConfig, bx, "--builder", "bench-cs"}
	return b
}

func (b *csBench) close() {
	b.proxy.Close()
	os.RemoveAll(b.work)
}

// clone is a fresh clone of the fixture at path (replacing what was there)
// with one file changed: a new agent's checkout of the next commit.
func (b *csBench) clone(path string) int64 {
	os.RemoveAll(path)
	run(nil, "", "git", "clone", "-q", "--no-local", b.repo, path) // over git's transport: a pack, as from a server
	return changeFile(path)
}

var csChanges int

// changeFile rewrites one 25 KB file of the checkout (another each time)
// with new bytes.
func changeFile(dir string) int64 {
	csChanges++
	buf := make([]byte, 25*1024)
	rand.Read(buf)
	must(os.WriteFile(filepath.Join(dir, "data", "042", fmt.Sprintf("f%05d.bin", 42+100*(csChanges%200))), buf, 0o644))
	return int64(len(buf))
}

// measured is one build's wall time, client CPU time and client→daemon bytes.
type measured struct {
	wall, cpu time.Duration
	sent      int64
}

func (b *csBench) measure(f func() sample) measured {
	b.proxy.Sent.Store(0)
	smp := f()
	return measured{smp.wall, smp.cpu, b.proxy.Sent.Load()}
}

// ours builds dir with remote-buildkit as pipeline slug on the agent whose
// HOME is home.
func (b *csBench) ours(dir, home, slug, mode string) func() sample {
	cfg, _ := json.Marshal(map[string]any{"buildkit-host": b.host, "tls-dir": b.tls, "progress": "quiet", "annotate": false,
		"version-check": "off", "insights": false, "context-sync": mode})
	return func() sample {
		must(os.MkdirAll(home, 0o755))
		return run([]string{"BUILDKITE_PLUGIN_CONFIGURATION=" + string(cfg), "BUILDKITE_PIPELINE_SLUG=" + slug, "HOME=" + home}, dir, *bin, "build")
	}
}

func (b *csBench) theirs(dir string) func() sample {
	return func() sample {
		return run(nil, dir, b.buildctl, "--addr", b.host, "--tlsdir", b.tls, "build", "--progress", "quiet",
			"--frontend", "dockerfile.v0", "--local", "context=.", "--local", "dockerfile=.")
	}
}

func (b *csBench) buildxBuild(dir string) func() sample {
	return func() sample {
		return run(nil, dir, b.buildx[0], append(b.buildx[1:], "build", "--progress", "quiet", "--provenance=false", "--sbom=false", ".")...)
	}
}

func contextSync(notes *[]string) {
	b := newCSBench()
	defer b.close()
	for _, r := range []struct {
		name string
		fn   func(*[]string)
	}{{"a", b.freshClone}, {"b", b.warmModes}, {"c", b.coldCache}} {
		if strings.Contains(*contextSyncRows, r.name) {
			before := b.bigRecords()
			r.fn(notes)
			b.pruneNew(before)
		}
	}
}

// bigRecords are the ids of the daemon's cache records of 100 MB or more.
func (b *csBench) bigRecords() map[string]bool {
	out, err := exec.Command(b.buildctl, "--addr", stackEnv("STACK_BUILDKIT_HOST"), "--tlsdir", b.tls, "du", "--format", "{{json .}}").Output()
	must(err)
	var recs []struct {
		ID   string `json:"id"`
		Size int64  `json:"size"`
	}
	must(json.Unmarshal(out, &recs))
	ids := map[string]bool{}
	for _, r := range recs {
		if r.Size >= 100<<20 {
			ids[r.ID] = true
		}
	}
	return ids
}

// pruneNew removes the big records a row made (each changed build leaves a
// 500 MB COPY layer, each new pipeline key a 500 MB copy of the context),
// so the rows do not fill the daemon's disk for everyone else.
func (b *csBench) pruneNew(before map[string]bool) {
	for id := range b.bigRecords() {
		if !before[id] {
			run(nil, "", b.buildctl, "--addr", stackEnv("STACK_BUILDKIT_HOST"), "--tlsdir", b.tls, "prune", "--filter", "id=="+id)
		}
	}
}

// csTool is one client in the fresh-clone row.
type csTool struct {
	name  string
	build func(home string) func() sample
	runs  []measured
}

// freshClone is row (a): every tool rebuilds a fresh clone (same path, new
// mtimes; remote-buildkit also on a new agent: an empty hash cache) with one
// file changed, after building the previous clone itself.
func (b *csBench) freshClone(notes *[]string) {
	path := filepath.Join(b.work, "checkout") // an agent's build directory: the same for every clone
	tools := []*csTool{
		{name: "remote-buildkit", build: func(home string) func() sample { return b.ours(path, home, "bench-cs-fresh", "content") }},
		{name: "buildctl", build: func(string) func() sample { return b.theirs(path) }},
		{name: "buildx (remote driver)", build: func(string) func() sample { return b.buildxBuild(path) }},
	}
	n := min(*runs, 3)
	var changed int64
	for i := -1; i < n; i++ { // -1: each tool's first upload of the previous clone
		for _, t := range tools {
			changed = b.clone(path)
			m := b.measure(t.build(filepath.Join(b.work, fmt.Sprintf("home-%d", i+1))))
			if i >= 0 {
				t.runs = append(t.runs, m)
			}
		}
	}
	// The stat stream: the same checkout again, nothing changed (hash cache warm).
	last := filepath.Join(b.work, fmt.Sprintf("home-%d", n))
	stat := b.measure(b.ours(path, last, "bench-cs-fresh", "content")).sent
	ours, ctl, bx := tools[0], tools[1], tools[2]
	bytesRow("context-sync (a): fresh clone, 1 file changed — bytes vs buildctl", medianSent(ours.runs), medianSent(ctl.runs), changed, stat)
	bytesRow("context-sync (a): the same, vs buildx remote driver", medianSent(ours.runs), medianSent(bx.runs), changed, stat)
	record("context-sync (a): fresh clone — wall time vs buildctl", walls(ours.runs), walls(ctl.runs), 0.3, "")
	record("context-sync (a): the same, vs buildx remote driver", walls(ours.runs), walls(bx.runs), 0.3, "")
	*notes = append(*notes, fmt.Sprintf("Context sync (a): the 500 MB / 20,000-file context as a git repository; before each build the tool's checkout path is replaced by a fresh `git clone` (new mtimes) with one 25 KB file changed, after that tool built the previous clone; remote-buildkit runs with a new HOME each time (an empty hash cache, as on a new agent: ids come from git's index). Bytes client→daemon through a TCP proxy (TLS included); the stat stream is remote-buildkit's upload of the same checkout with nothing changed (%s). Medians of %d runs per tool, the tools interleaved.", mb(stat), n))
}

// bytesRow records sent bytes against a baseline tool, with the goal
// ≤ 1.1 × (changed bytes + the stat stream).
func bytesRow(what string, ours, base, changed, stat int64) {
	goal := float64(changed + stat)
	verdict := "met"
	if float64(ours) > 1.1*goal {
		verdict = "MISSED"
	}
	rows = append(rows, row{what: what, a: mb(ours), b: mb(base), ratio: fmt.Sprintf("%.2f× of changed + stat stream; %.4f× of the baseline", float64(ours)/goal, float64(ours)/float64(base)),
		target: "≤ 1.1× (changed + stat stream)", verdict: verdict,
		raw: fmt.Sprintf("%s: remote-buildkit %d B, baseline %d B, changed %d B, stat stream %d B", what, ours, base, changed, stat)})
	fmt.Printf("%-45s remote-buildkit %-9s baseline %-9s (changed %d B + stat stream %d B)\n", what, mb(ours), mb(base), changed, stat)
}

func walls(ms []measured) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = m.wall
	}
	return out
}

// cpuRow records the client's CPU time (user + system) of content against
// mtime: what hashing and the hash cache cost the agent, apart from the
// daemon's share of a busy machine.
func cpuRow(what string, content, mtime []measured) {
	c, m := median(cpus(content)), median(cpus(mtime))
	rows = append(rows, row{what: what, a: ms(c), b: ms(m), ratio: "+" + ms(c-m), target: "—", verdict: "—",
		raw: fmt.Sprintf("%s: content %v, mtime %v", what, cpus(content), cpus(mtime))})
	fmt.Printf("%-45s content %s mtime %s\n", what, ms(c), ms(m))
}

func cpus(ms []measured) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = m.cpu
	}
	return out
}

func medianSent(ms []measured) int64 {
	d := make([]time.Duration, len(ms))
	for i, m := range ms {
		d[i] = time.Duration(m.sent)
	}
	return int64(median(d))
}

// warmModes is row (b): a checkout rebuilt after one file changed, with
// content and with mtime. Each mode has its own checkout, change, pipeline
// key and warm hash cache: a change both saw would let the second build
// reuse the first one's COPY from the daemon's cache.
func (b *csBench) warmModes(notes *[]string) {
	type side struct {
		path  string
		build func() sample
		runs  []measured
	}
	var sides []*side
	for _, mode := range []string{"content", "mtime"} {
		path := filepath.Join(b.work, "warm-"+mode)
		b.clone(path)
		s := &side{path: path, build: b.ours(path, filepath.Join(b.work, "home-"+mode), "bench-cs-"+mode, mode)}
		s.build()
		s.build() // the hash cache now has every file (the clone was too new to cache on the first)
		sides = append(sides, s)
	}
	for i := range max(*runs, 7) { // a small difference under a noisy daemon: more pairs
		for j := range sides {
			s := sides[(i+j)%2] // alternate which goes first
			changeFile(s.path)
			s.runs = append(s.runs, b.measure(s.build))
		}
	}
	cs, ms := sides[0].runs, sides[1].runs
	record("context-sync (b): warm checkout, 1 file changed — content vs mtime", walls(cs), walls(ms), 1.05, "")
	rows[len(rows)-1].raw += fmt.Sprintf("; bytes content %d, mtime %d", medianSent(cs), medianSent(ms))
	cpuRow("context-sync (b): the same, client CPU time", cs, ms)
	*notes = append(*notes, fmt.Sprintf("Context sync (b): `context-sync: content` and `mtime` each rebuild their own checkout (a git clone of the fixture) after one 25 KB file of it changed, each with its own pipeline key and HOME (the hash cache warm), alternating which goes first. Bytes: content %s, mtime %s.", mb(medianSent(cs)), mb(medianSent(ms))))
}

// coldCache is row (c): a first upload (a new pipeline key: everything is
// sent) with an empty hash cache and no git index, so content hashes all
// 500 MB, against mtime.
func (b *csBench) coldCache(notes *[]string) {
	dir := buildFixture("ctx-500m-20k", 20000, 25*1024)
	must(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(csDockerfile), 0o644))
	n := 0
	var cpu = map[string][]measured{}
	fresh := func(mode string) func() time.Duration {
		return func() time.Duration {
			n++
			m := b.measure(b.ours(dir, filepath.Join(b.work, fmt.Sprintf("cold-%d", n)), fmt.Sprintf("bench-cs-cold-%d-%d", time.Now().UnixNano(), n), mode))
			cpu[mode] = append(cpu[mode], m)
			return m.wall
		}
	}
	a, m := alternate(min(*runs, 3), fresh("content"), fresh("mtime")) // each run leaves a 500 MB copy on the daemon
	record("context-sync (c): first upload, cold hash cache — content vs mtime", a, m, 1.15, "")
	cpuRow("context-sync (c): the same, client CPU time", cpu["content"], cpu["mtime"])
	*notes = append(*notes, "Context sync (c): the 500 MB / 20,000-file context outside git, each build under a new pipeline key (the daemon has no copy: all 500 MB travel) and a new HOME (an empty hash cache): `context-sync: content` hashes every file (in parallel, ahead of the daemon's walk) against `mtime`, which hashes nothing.")
}
