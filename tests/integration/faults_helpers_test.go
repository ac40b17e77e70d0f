package integration

// Helpers of the fault-injection and concurrency tests (faults_test.go,
// concurrency_test.go): buildkitd, toxiproxy and faultproxy processes of their own
// (tests/faultkit), on 127.0.0.1 ports 1240-1259 (daemons) and 5040-5059
// (proxies), killed by their ids when the test ends.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

var (
	daemonPorts = faultkit.NewPorts(1240, 1259)
	proxyPorts  = faultkit.NewPorts(5040, 5059)
)

// takePort is a port of ps for this test, given back when it ends.
func takePort(t *testing.T, ps *faultkit.Ports) int {
	t.Helper()
	p, err := ps.Take("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Release(p) })
	return p
}

// newDaemon is a buildkitd of the test's own (see faultkit.Daemon), not yet
// started. Its root is removed when the test ends, after the daemon and
// everything it started are killed and any mount it left is detached.
func newDaemon(t *testing.T) *faultkit.Daemon {
	t.Helper()
	root, err := os.MkdirTemp("", "rbk-faults-buildkitd-")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", takePort(t, daemonPorts))
	d, err := faultkit.NewDaemon(os.Getenv("STACK_BUILDKITD"), os.Getenv("STACK_CA_DIR"), root, addr)
	if err != nil {
		os.RemoveAll(root)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Remove(); err != nil {
			t.Errorf("removing buildkitd at %s: %v", d.Host, err)
		}
	})
	return d
}

// startDaemon is newDaemon, started and listening.
func startDaemon(t *testing.T) *faultkit.Daemon {
	t.Helper()
	d := newDaemon(t)
	if err := d.StartReady(); err != nil {
		t.Fatal(err)
	}
	return d
}

// startToxiproxy is a toxiproxy-server of the test's own.
func startToxiproxy(t *testing.T) *faultkit.Toxiproxy {
	t.Helper()
	x, err := faultkit.StartToxiproxy(os.Getenv("STACK_TOXIPROXY"), t.TempDir(), takePort(t, proxyPorts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Stop() })
	return x
}

// startFaultProxy builds tests/faultproxy and starts it in front of target.
func startFaultProxy(t *testing.T, target string) *faultkit.FaultProxy {
	t.Helper()
	dir := t.TempDir()
	fpBin, err := faultkit.BuildFaultProxy("../..", dir)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := faultkit.StartFaultProxy(fpBin, dir, fmt.Sprintf("127.0.0.1:%d", takePort(t, proxyPorts)), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fp.Stop() })
	return fp
}

func addRule(t *testing.T, fp *faultkit.FaultProxy, r faultkit.Rule) {
	t.Helper()
	if err := fp.Add(r); err != nil {
		t.Fatal(err)
	}
}

// proxyLog is what fp saw, one "METHOD path status [fault]" a line.
func proxyLog(t *testing.T, fp *faultkit.FaultProxy) ([]faultkit.Entry, string) {
	t.Helper()
	es, err := fp.Log()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%s %s %d %s\n", e.Method, e.Path, e.Status, e.Fault)
	}
	return es, b.String()
}

// startBuild is s.run without waiting: the job's output is read as it comes.
func (s *stack) startBuild(t *testing.T, dir string, cfg map[string]any, env ...string) *faultkit.Job {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j, err := faultkit.StartJob(bin, dir, append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"BUILDKITE=true", "DOCKER_CONFIG=" + s.DockerConfig, "BUILDKITE_PLUGIN_CONFIGURATION=" + string(js)}, env...), "build")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Wait(time.Second) })
	return j
}

// finish waits for a job started by startBuild.
func finish(t *testing.T, j *faultkit.Job, timeout time.Duration) result {
	t.Helper()
	fr, err := j.Wait(timeout)
	r := result{Stdout: fr.Stdout, Stderr: fr.Stderr, Code: fr.Code, Elapsed: fr.Elapsed}
	if err != nil {
		t.Fatalf("%v: %s", err, r)
	}
	return r
}

// waitLine waits for a line of j's output matching re after the line with
// index from-1.
func waitLine(t *testing.T, j *faultkit.Job, re *regexp.Regexp, from int, timeout time.Duration) faultkit.Line {
	t.Helper()
	l, err := j.WaitLine(re, from, timeout)
	if err != nil {
		r, _ := j.Wait(5 * time.Second)
		t.Fatalf("%v\n--- stdout\n%s\n--- stderr\n%s", err, r.Stdout, r.Stderr)
	}
	return l
}

// stepRe matches the progress header of a step: `#7 [3/3] RUN sleep 5 ...`.
func stepRe(step string) *regexp.Regexp {
	return regexp.MustCompile(`^#\d+ \[[^\]]+\] ` + regexp.QuoteMeta(step))
}

// waitRe is a line of stderr while waiting for the daemon:
// `remote-buildkit: waiting for buildkitd at tcp://HOST:PORT: <cause> (attempt N, 4.1s of 20s)`.
var waitRe = regexp.MustCompile(`^remote-buildkit: waiting for buildkitd at (\S+): (.+) \(attempt (\d+), ([\d.]+)s of ([\d.]+)s\)$`)

// waitLines returns the waiting lines of stderr for host, as submatches of waitRe.
func waitLines(stderr, host string) [][]string {
	var out [][]string
	for _, l := range strings.Split(stderr, "\n") {
		if m := waitRe.FindStringSubmatch(l); m != nil && m[1] == host {
			out = append(out, m)
		}
	}
	return out
}

// checkWaited asserts that the job waited for host with at least one line
// whose cause contains one of causes, attempts numbered 1, 2, 3...
func checkWaited(t *testing.T, r result, host string, causes ...string) {
	t.Helper()
	lines := waitLines(r.Stderr, host)
	if len(lines) == 0 {
		t.Errorf("no `remote-buildkit: waiting for buildkitd at %s: ... (attempt N, Xs of Ys)` line: %s", host, r)
		return
	}
	found := false
	for i, m := range lines {
		if m[3] != fmt.Sprint(i+1) {
			t.Errorf("waiting line %d says attempt %s: %s", i+1, m[3], m[0])
		}
		for _, c := range causes {
			found = found || strings.Contains(m[2], c)
		}
	}
	if !found {
		t.Errorf("no waiting line names %q: %q", causes, lines)
	}
}

// attemptRe is the stdout line that opens the log section of a retry.
var attemptRe = regexp.MustCompile(`(?m)^--- :repeat: remote-buildkit: attempt (\d+) of (\d+) \(after: (.+)\)$`)

// retriedAfter returns the causes of the retries in stdout's attempt lines.
func retriedAfter(stdout string) []string {
	var out []string
	for _, m := range attemptRe.FindAllStringSubmatch(stdout, -1) {
		out = append(out, m[3])
	}
	return out
}

// failedAttempt is an entry of the metadata file's remote-buildkit.attempts.
type failedAttempt struct {
	Attempt int    `json:"attempt"`
	Cause   string `json:"cause"`
	Host    string `json:"host"`
}

func metaAttempts(t *testing.T, path string) []failedAttempt {
	t.Helper()
	rb, _ := readMetadata(t, path)["remote-buildkit"].(map[string]any)
	b, _ := json.Marshal(rb["attempts"])
	var as []failedAttempt
	json.Unmarshal(b, &as)
	return as
}

// metaDigest is the digest the metadata file recorded.
func metaDigest(t *testing.T, path string) string {
	t.Helper()
	d, _ := readMetadata(t, path)["containerimage.digest"].(string)
	return d
}

// headDigest is the digest the registry answers a manifest HEAD with.
func (s *stack) headDigest(t *testing.T, ref string) (string, error) {
	t.Helper()
	d, err := remote.Head(s.ref(t, ref), s.auth())
	if err != nil {
		return "", err
	}
	return d.Digest.String(), nil
}

// nonceContext is a build context whose Dockerfile (from the stack's base
// image) copies a file unique to this call and then runs run.
func nonceContext(t *testing.T, s *stack, run string) (dir, nonce string) {
	t.Helper()
	nonce = fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	df := fmt.Sprintf("FROM %s\nCOPY nonce /nonce\n", s.BaseImage)
	if run != "" {
		df += "RUN " + run + "\n"
	}
	return writeFiles(t, map[string]string{"Dockerfile": df, "nonce": nonce}), nonce
}

// registryAuthFor is the registry-credentials entry and environment that
// log in to host (a faultproxy in front of the stack's registry) as the
// stack's user.
func (s *stack) registryAuthFor(host string) (map[string]any, []string) {
	return map[string]any{"registry": host, "username-env": "FAULT_REGISTRY_USER", "password-env": "FAULT_REGISTRY_PASSWORD"},
		[]string{"FAULT_REGISTRY_USER=" + s.User, "FAULT_REGISTRY_PASSWORD=" + s.Pass}
}

// imageFile is the content of path in the image at ref (read from the stack's registry).
func (s *stack) imageFile(t *testing.T, ref, path string) string {
	t.Helper()
	img, err := s.descriptor(t, ref).Image()
	if err != nil {
		t.Fatal(err)
	}
	return string(layerFiles(t, img)[path])
}

// within fails the test when r took longer than max.
func within(t *testing.T, r result, max time.Duration) {
	t.Helper()
	if r.Elapsed > max {
		t.Errorf("took %s, want < %s", r.Elapsed.Round(time.Millisecond), max)
	}
}

// retriedRe is the end of the error of a job whose retries ran out.
var retriedRe = regexp.MustCompile(`retried \d+ times?`)
