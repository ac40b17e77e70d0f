package integration

// Fault injection: builds survive daemon restarts, lost connections and
// transient registry/S3 errors. On real processes only: buildkitd daemons
// of the tests' own killed with SIGKILL and restarted, toxiproxy in front
// of a daemon, and faultproxy (tests/faultproxy) answering chosen registry
// and S3 requests with 5xx/429/403 or a reset connection. Every case checks the exit code, the message and a
// bound on the wall time.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// The daemon comes up 3 s after the job started: the job waits for it,
// printing one line per wait, and builds.
func TestFaultDaemonStartsLate(t *testing.T) {
	s := requireStack(t)
	d := newDaemon(t)
	repo := s.repo(t)
	dir, nonce := nonceContext(t, s, "")
	started := make(chan error, 1)
	time.AfterFunc(3*time.Second, func() { started <- d.StartReady() })
	r := s.run(t, dir, s.baseConfig(map[string]any{"buildkit-host": d.Host, "tags": []string{repo + ":late"}, "push": true}))
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 {
		t.Fatalf("want success once the daemon is up: %s", r)
	}
	checkWaited(t, r, d.Host, "connection refused")
	if causes := retriedAfter(r.Stdout); len(causes) > 0 {
		t.Errorf("waiting for the daemon used up a build retry: %q", causes)
	}
	if r.Elapsed < 3*time.Second {
		t.Errorf("finished in %s, before the daemon started", r.Elapsed)
	}
	within(t, r, 15*time.Second)
	if got := s.imageFile(t, repo+":late", "nonce"); got != nonce {
		t.Errorf("image has nonce %q, want %q", got, nonce)
	}
	t.Logf("%d waiting lines, done in %s", len(waitLines(r.Stderr, d.Host)), r.Elapsed.Round(time.Millisecond))
}

// The daemon is killed (-9) in the middle of `RUN sleep 5` and restarted
// about 1 s later: the build runs again (attempt 2 of 2), succeeds, and the
// image has the content of a build without faults. Killed again during the
// retry, the job fails naming the lost connection and the retry; with
// retries: 0 it is not run again; with retries: 2 it survives two kills.
func TestFaultDaemonRestartMidBuild(t *testing.T) {
	s := requireStack(t)
	d := startDaemon(t)
	lost := "remote-buildkit: error: lost the connection to buildkitd at " + d.Host + " during the build"
	cases := []struct {
		name         string
		kills        int
		retries      any // nil: the default (1)
		code         int
		want         []string // in stderr
		attemptLines []string // stdout's `attempt N of M` parts
	}{
		{"once", 1, nil, 0, nil, []string{"attempt 2 of 2"}},
		{"twice", 2, nil, 3, []string{lost, "retried 1 time"}, []string{"attempt 2 of 2"}},
		{"retries 0", 1, 0, 3, []string{lost}, nil},
		{"retries 2 killed twice", 2, 2, 0, nil, []string{"attempt 2 of 3", "attempt 3 of 3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, repo, meta, nonce := restartBuild(t, s, d, tc.kills, tc.retries)
			if r.Code != tc.code {
				t.Fatalf("want exit %d: %s", tc.code, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r)
				}
			}
			if causes := retriedAfter(r.Stdout); len(causes) != len(tc.attemptLines) {
				t.Errorf("want %d `--- :repeat: remote-buildkit: attempt N of M (after: <cause>)` sections, got %q: %s", len(tc.attemptLines), causes, r)
			}
			for _, a := range tc.attemptLines {
				if !strings.Contains(r.Stdout, "remote-buildkit: "+a+" (after: ") {
					t.Errorf("stdout lacks %q: %s", a, r)
				}
			}
			if tc.code != 0 {
				if !s.repoMissing(t, repo) {
					t.Errorf("a failed build pushed %s", repo)
				}
				within(t, r, 60*time.Second)
				return
			}
			if got := s.imageFile(t, repo+":restart", "out"); got != nonce {
				t.Errorf("image /out = %q, want %q", got, nonce)
			}
			as := metaAttempts(t, meta)
			if len(as) != tc.kills {
				t.Errorf("metadata attempts = %+v, want %d failed attempts", as, tc.kills)
			}
			for i, a := range as {
				if a.Attempt != i+1 || a.Host != d.Host || a.Cause == "" {
					t.Errorf("metadata attempt %d = %+v, want attempt %d on %s with its cause", i, a, i+1, d.Host)
				}
			}
			within(t, r, time.Duration(tc.kills)*20*time.Second+10*time.Second)
		})
	}
}

// restartBuild pushes a fresh image with `RUN sleep 5` on d and kills d
// (-9) kills times, each 1 s into that step (the first attempt's, then the
// retry's), starting it again 1 s later.
func restartBuild(t *testing.T, s *stack, d *faultkit.Daemon, kills int, retries any) (r result, repo, meta, nonce string) {
	t.Helper()
	const step = "RUN sleep 5 && cat /nonce > /out"
	repo = s.repo(t)
	dir, nonce := nonceContext(t, s, strings.TrimPrefix(step, "RUN "))
	meta = filepath.Join(t.TempDir(), "m.json")
	cfg := s.baseConfig(map[string]any{"buildkit-host": d.Host, "tags": []string{repo + ":restart"}, "push": true, "metadata-file": meta})
	if retries != nil {
		cfg["retries"] = retries
	}
	j := s.startBuild(t, dir, cfg)
	from := 0
	for i := 0; i < kills; i++ {
		if i > 0 { // the step again, in the retry's section
			from = waitLine(t, j, attemptRe, from, 60*time.Second).Index
		}
		from = waitLine(t, j, stepRe(step), from, 60*time.Second).Index
		time.Sleep(time.Second)
		if err := d.Restart(time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d: buildkitd restarted", i+1)
	}
	return finish(t, j, 90*time.Second), repo, meta, nonce
}

// A pool of two: the member building is killed mid-build and stays down;
// the retry goes to the other member at once and succeeds.
func TestParallelFaultPoolMemberKilled(t *testing.T) {
	s := requireStack(t)
	a, b := startDaemon(t), startDaemon(t)
	members := map[string]*faultkit.Daemon{a.Host: a, b.Host: b}
	repo := s.repo(t)
	dir, nonce := nonceContext(t, s, "sleep 5 && cat /nonce > /out")
	meta := filepath.Join(t.TempDir(), "m.json")
	j := s.startBuild(t, dir, s.baseConfig(map[string]any{"buildkit-host": []string{a.Host, b.Host},
		"tags": []string{repo + ":pool"}, "push": true, "metadata-file": meta}), "BUILDKITE_PIPELINE_SLUG=faults-pool")
	conn := waitLine(t, j, regexp.MustCompile(`^Connected to BuildKit`), 0, 30*time.Second)
	var first *faultkit.Daemon
	for h, d := range members {
		if strings.Contains(conn.Text, " "+h+" ") {
			first = d
		}
	}
	if first == nil {
		t.Fatalf("the connection line names neither %s nor %s: %q", a.Host, b.Host, conn.Text)
	}
	waitLine(t, j, stepRe("RUN sleep 5"), conn.Index, 60*time.Second)
	time.Sleep(time.Second)
	killed := time.Now()
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	r := finish(t, j, 90*time.Second)
	after := time.Since(killed)
	if r.Code != 0 {
		t.Fatalf("want success on the other member: %s", r)
	}
	other := a
	if first == a {
		other = b
	}
	if got := readMetadata(t, meta)["remote-buildkit"].(map[string]any)["buildkit_host"]; got != other.Host {
		t.Errorf("metadata buildkit_host = %v, want the surviving member %s", got, other.Host)
	}
	if as := metaAttempts(t, meta); len(as) != 1 || as[0].Host != first.Host {
		t.Errorf("metadata attempts = %+v, want one failed attempt on %s", as, first.Host)
	}
	if len(retriedAfter(r.Stdout)) != 1 {
		t.Errorf("want one attempt 2 section: %s", r)
	}
	if got := s.imageFile(t, repo+":pool", "out"); got != nonce {
		t.Errorf("image /out = %q, want %q", got, nonce)
	}
	if after > 15*time.Second { // RUN sleep 5 again, and no connect-timeout spent on the dead member
		t.Errorf("the retry on %s finished %s after the kill, want < 15s", other.Host, after.Round(time.Millisecond))
	}
	t.Logf("killed %s; rebuilt on %s; job %s", first.Host, other.Host, r.Elapsed.Round(time.Millisecond))
}

// Registry faults through faultproxy in front of the stack's registry:
// transient ones (5xx, 429, a reset connection, on the push or the cache
// export) are retried and the push lands; 503s that outlast BuildKit's own
// push retries make the job run again (its cause names the registry); a 403
// is not retried; a registry that stays down fails with exit 3 naming it
// after the bounded retries.
func TestFaultRegistry(t *testing.T) {
	s := requireStack(t)
	manifests := `^/v2/.+/manifests/[^/]+$`
	transient := []struct {
		name  string
		rule  faultkit.Rule
		cache bool // also export the build cache to <repo>:cache through the proxy
	}{
		{"503 on the first manifest PUT", faultkit.Rule{Method: "PUT", Path: manifests, Status: 503, Count: 1}, false},
		{"429 on the first manifest PUT", faultkit.Rule{Method: "PUT", Path: manifests, Status: 429, Count: 1, Header: map[string]string{"Retry-After": "1"}}, false},
		{"reset on the first blob upload", faultkit.Rule{Path: `^/v2/.+/blobs/uploads/`, Drop: true, Count: 1}, false},
		{"503 on the cache export", faultkit.Rule{Method: "PUT", Path: `^/v2/.+/manifests/cache$`, Status: 503, Count: 1}, true},
	}
	for _, tc := range transient {
		t.Run(tc.name, func(t *testing.T) {
			fp := startFaultProxy(t, "http://"+s.Registry)
			addRule(t, fp, tc.rule)
			r, tag := registryBuildAt(t, s, fp.Addr, tc.cache)
			es, log := proxyLog(t, fp)
			if r.Code != 0 {
				t.Fatalf("want success after a transient %s: %s\n--- faultproxy\n%s", tc.name, r, log)
			}
			injected := 0
			for _, e := range es {
				if e.Fault != "" {
					injected++
				}
			}
			if injected != 1 {
				t.Errorf("faultproxy injected %d faults, want 1:\n%s", injected, log)
			}
			direct := strings.Replace(tag, fp.Addr, s.Registry, 1)
			got, err := s.headDigest(t, direct)
			if want := lineValue(r.Stdout, "digest"); err != nil || got != want {
				t.Errorf("registry has %s (%v), the build printed %s", got, err, want)
			}
			if _, err := s.headDigest(t, strings.TrimSuffix(direct, ":fault")+":cache"); tc.cache && err != nil {
				t.Errorf("no cache manifest: %v", err)
			}
			within(t, r, 40*time.Second)
			t.Logf("retries: %q; %s", retriedAfter(r.Stdout), r.Elapsed.Round(time.Millisecond))
		})
	}
	// Longer than BuildKit's own retries of a push: the job runs again.
	t.Run("503 until the job retries", func(t *testing.T) {
		fp := startFaultProxy(t, "http://"+s.Registry)
		addRule(t, fp, faultkit.Rule{Path: `^/v2/.+`, Status: 503})
		repo := strings.Replace(s.repo(t), s.Registry, fp.Addr, 1)
		dir, nonce := nonceContext(t, s, "cat /nonce > /out")
		login, env := s.registryAuthFor(fp.Addr)
		meta := filepath.Join(t.TempDir(), "m.json")
		j := s.startBuild(t, dir, s.baseConfig(map[string]any{"tags": []string{repo + ":fault"}, "push": true,
			"registry-credentials": []any{login}, "metadata-file": meta}), env...)
		waitLine(t, j, attemptRe, 0, 60*time.Second)
		if err := fp.Clear(); err != nil {
			t.Fatal(err)
		}
		r := finish(t, j, 60*time.Second)
		if r.Code != 0 {
			t.Fatalf("want success on the retry: %s", r)
		}
		causes := retriedAfter(r.Stdout)
		if len(causes) != 1 || !strings.Contains(causes[0], fp.Addr) {
			t.Errorf("want one attempt 2 section whose cause names registry %s: %q", fp.Addr, causes)
		}
		if as := metaAttempts(t, meta); len(as) != 1 || !strings.Contains(as[0].Cause, fp.Addr) {
			t.Errorf("metadata attempts = %+v, want one whose cause names %s", as, fp.Addr)
		}
		if got := s.imageFile(t, strings.Replace(repo, fp.Addr, s.Registry, 1)+":fault", "out"); got != nonce {
			t.Errorf("image /out = %q, want %q", got, nonce)
		}
		within(t, r, 45*time.Second)
		t.Logf("retried after %q; %s", causes, r.Elapsed.Round(time.Millisecond))
	})
	t.Run("403 on manifest PUT is not retried", func(t *testing.T) {
		r, fp, _ := registryBuild(t, s, faultkit.Rule{Method: "PUT", Path: manifests, Status: 403})
		_, log := proxyLog(t, fp)
		if r.Code == 0 || len(retriedAfter(r.Stdout)) != 0 || retriedRe.MatchString(r.Stderr) {
			t.Fatalf("want a failure without a retry: %s\n--- faultproxy\n%s", r, log)
		}
		within(t, r, 30*time.Second)
	})
	for _, down := range []string{"refused", "503 forever"} {
		t.Run("down for good "+down, func(t *testing.T) {
			var host string
			var r result
			if down == "refused" {
				host = fmt.Sprintf("127.0.0.1:%d", takePort(t, proxyPorts))
				r, _ = registryBuildAt(t, s, host, false)
			} else {
				var fp *faultkit.FaultProxy
				r, fp, _ = registryBuild(t, s, faultkit.Rule{Path: `^/v2/`, Status: 503})
				host = fp.Addr
			}
			if r.Code != 3 || !strings.Contains(r.Stderr, "registry "+host) || !strings.Contains(r.Stderr, "retried 1 time") {
				t.Fatalf("want exit 3 naming registry %s and \"retried 1 time\": %s", host, r)
			}
			if len(retriedAfter(r.Stdout)) != 1 {
				t.Errorf("want one attempt 2 section: %s", r)
			}
			within(t, r, 60*time.Second)
			t.Logf("%q in %s", errorLines(r.Stderr), r.Elapsed.Round(time.Millisecond))
		})
	}
}

// registryBuild pushes a fresh image through a faultproxy (in front of the
// stack's registry) that has rule; it returns the tag pushed.
func registryBuild(t *testing.T, s *stack, rule faultkit.Rule) (result, *faultkit.FaultProxy, string) {
	t.Helper()
	fp := startFaultProxy(t, "http://"+s.Registry)
	addRule(t, fp, rule)
	r, tag := registryBuildAt(t, s, fp.Addr, false)
	return r, fp, tag
}

// registryBuildAt pushes a fresh image to <repo>:fault in the registry at
// host, logged in as the stack's user, with cache also exporting the build
// cache to <repo>:cache there.
func registryBuildAt(t *testing.T, s *stack, host string, cache bool) (result, string) {
	t.Helper()
	repo := strings.Replace(s.repo(t), s.Registry, host, 1)
	dir, _ := nonceContext(t, s, "cat /nonce > /out")
	login, env := s.registryAuthFor(host)
	cfg := s.baseConfig(map[string]any{"tags": []string{repo + ":fault"}, "push": true, "registry-credentials": []any{login}})
	if cache {
		cfg["cache-to"] = "type=registry,ref=" + repo + ":cache,mode=max"
	}
	return s.run(t, dir, cfg, env...), repo + ":fault"
}

// S3 faults through faultproxy in front of the stack's moto, on `remote-
// buildkit environment` (through the real hooks/environment): two 500s on
// the first object GETs are retried by the SDK and the set is installed; an
// S3 that stays down (503 on everything, or nothing listening) fails naming
// the bucket and key, and the set installed before is left untouched.
func TestFaultS3(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	good := stackClientSet(t)
	newer := stackCA(t).valid(t, "faults-newer")
	s3err := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>faultproxy</Message></Error>`
	t.Run("500 on the first 2 GETs", func(t *testing.T) {
		b := newBucket(t, s3Client(a.Moto, "test", "test"))
		b.putSet("buildkit/", good)
		fp := startFaultProxy(t, a.Moto)
		addRule(t, fp, faultkit.Rule{Method: "GET", Path: "^/" + b.Name + "/.+", Status: 500, Count: 2, Body: s3err})
		home := t.TempDir()
		r := a.hooks(t, s, hookRun{Home: home, Cfg: map[string]any{"buildkit-host": s.BuildkitHost, "secrets-bucket": b.Name},
			Env: []string{"AWS_ENDPOINT_URL=" + fp.URL}})
		es, log := proxyLog(t, fp)
		if r.Code != 0 {
			t.Fatalf("want success after two 500s: %s\n--- faultproxy\n%s", r, log)
		}
		if !mustReadSet(t, filepath.Join(home, ".buildkit")).equal(good) {
			t.Errorf("the set was not installed")
		}
		var injected, ok int
		for _, e := range es {
			if e.Method == "GET" && e.Fault != "" {
				injected++
			} else if e.Method == "GET" && e.Status == 200 && injected == 2 {
				ok++
			}
		}
		if injected != 2 || ok < 2 {
			t.Errorf("want 2 injected 500s, then the GETs answered 200:\n%s", log)
		}
		within(t, r.result, 15*time.Second)
	})
	for _, down := range []string{"503 forever", "refused"} {
		t.Run("down "+down, func(t *testing.T) {
			b := newBucket(t, s3Client(a.Moto, "test", "test"))
			b.putSet("buildkit/", good)
			home := t.TempDir()
			cfg := map[string]any{"buildkit-host": s.BuildkitHost, "secrets-bucket": b.Name}
			if r := a.hooks(t, s, hookRun{Home: home, Cfg: cfg}); r.Code != 0 {
				t.Fatalf("installing the good set: %s", r)
			}
			b.putSet("buildkit/", newer) // a fetch that got through would install this
			endpoint, want, log := fmt.Sprintf("http://127.0.0.1:%d", takePort(t, proxyPorts)), "", func() string { return "" }
			var fp *faultkit.FaultProxy
			if down == "503 forever" {
				fp = startFaultProxy(t, a.Moto)
				addRule(t, fp, faultkit.Rule{Path: "^/" + b.Name, Status: 503, Body: s3err})
				endpoint, want = fp.URL, "503"
				log = func() string { _, l := proxyLog(t, fp); return l }
			}
			r := a.hooks(t, s, hookRun{Home: home, Cfg: cfg, Env: []string{"AWS_ENDPOINT_URL=" + endpoint}})
			lines := errorLines(r.Stderr)
			if r.Code != 6 || len(lines) != 1 || !strings.Contains(lines[0], "s3://"+b.Name+"/") ||
				!strings.Contains(lines[0], ".pem") || !strings.Contains(lines[0], want) {
				t.Fatalf("want exit 6 and one error line naming s3://%s/<key> and %q: %s\n--- faultproxy\n%s", b.Name, want, r, log())
			}
			if !mustReadSet(t, filepath.Join(home, ".buildkit")).equal(good) {
				t.Errorf("the installed set changed")
			}
			if r.Exports != "" {
				t.Errorf("a failed run printed exports: %q", r.Exports)
			}
			if fp != nil { // the SDK's retryer: each request tried again, a bounded number of times
				es, _ := proxyLog(t, fp)
				tries := map[string]int{}
				most := 0
				for _, e := range es {
					tries[e.Method+" "+e.Path]++
					most = max(most, tries[e.Method+" "+e.Path])
				}
				if most < 2 || most > 10 {
					t.Errorf("a request was sent up to %d times, want 2-10 (retried, bounded):\n%s", most, log())
				}
			}
			within(t, r.result, 30*time.Second)
			t.Logf("%s in %s\n%s", lines[0], r.Elapsed.Round(time.Millisecond), log())
		})
	}
}

// TLS errors are not retried: a client CA that did not sign the daemon's
// certificate, or a client certificate the daemon does not trust, fail at
// once with exit 3 and no waiting lines.
func TestFaultTLSNotRetried(t *testing.T) {
	s := requireStack(t)
	wrong := newCA(t, "faults wrong CA")
	stackSet := stackClientSet(t)
	untrusted := wrong.valid(t, "faults-stranger")
	sets := map[string]certSet{
		"wrong CA":                  wrong.valid(t, "faults-client"),
		"client cert of another CA": {CA: stackSet.CA, Cert: untrusted.Cert, Key: untrusted.Key},
	}
	for name, set := range sets {
		t.Run(name, func(t *testing.T) {
			tlsDir := filepath.Join(t.TempDir(), "tls")
			writeSet(t, tlsDir, set)
			dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
			r := s.run(t, dir, map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": tlsDir})
			if r.Code != 3 {
				t.Fatalf("want exit 3: %s", r)
			}
			if len(waitLines(r.Stderr, s.BuildkitHost)) > 0 || len(retriedAfter(r.Stdout)) > 0 {
				t.Errorf("a TLS error was retried: %s", r)
			}
			if !strings.Contains(strings.ToLower(r.Stderr), "certificate") {
				t.Errorf("the error does not say it is about certificates: %s", r)
			}
			within(t, r, time.Second)
		})
	}
}

// The build's own failures are never retried: a failing RUN, a COPY of a
// missing file and a Dockerfile error (exit 1), and a cancel (SIGTERM, exit
// 130), each with one connection and no attempt 2.
func TestFaultBuildFailuresNotRetried(t *testing.T) {
	s := requireStack(t)
	cases := []struct {
		name, dockerfile string
		code             int
		cancel           bool
	}{
		{"RUN false", "FROM %s\nCOPY nonce /nonce\nRUN false\n", 1, false},
		{"COPY of a missing file", "FROM %s\nCOPY missing /missing\n", 1, false},
		{"Dockerfile error", "FROM %s\nRUNN nonce\n", 1, false},
		{"cancel", "FROM %s\nCOPY nonce /nonce\nRUN sleep 60\n", 130, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(tc.dockerfile, s.BaseImage), "nonce": t.Name() + time.Now().String()})
			j := s.startBuild(t, dir, s.baseConfig(nil))
			if tc.cancel {
				waitLine(t, j, stepRe("RUN sleep 60"), 0, 30*time.Second)
				time.Sleep(500 * time.Millisecond)
				if err := j.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			r := finish(t, j, 60*time.Second)
			if r.Code != tc.code {
				t.Fatalf("want exit %d: %s", tc.code, r)
			}
			if len(retriedAfter(r.Stdout)) > 0 || retriedRe.MatchString(r.Stderr) || strings.Count(r.Stdout, "Connected to BuildKit") != 1 {
				t.Errorf("retried: %s", r)
			}
			within(t, r, 20*time.Second)
		})
	}
}

// toxiproxy in front of a daemon while the job connects: a listener that
// is closed and opened 2 s later, connections reset on their first bytes or
// closed after 100 ms without a byte (EOF) for 2 s, and a daemon behind the
// proxy that starts 2 s late (the proxy accepts, then closes) are waited
// out; a black hole (no byte ever passes) is bounded by connect-timeout.
func TestFaultToxiproxyConnect(t *testing.T) {
	s := requireStack(t)
	x := startToxiproxy(t)
	upstream := strings.TrimPrefix(s.BuildkitHost, "tcp://")
	late := newDaemon(t)
	toxic := func(name, typ, stream string, ms int) func(string) error {
		return func(p string) error {
			return x.AddToxic(p, faultkit.Toxic{Name: name, Type: typ, Stream: stream, Attributes: map[string]any{"timeout": ms}})
		}
	}
	cases := []struct {
		name     string
		upstream string                   // the stack's daemon unless set
		setup    func(proxy string) error // before the job; nil: the proxy starts disabled
		heal     func(proxy string) error // 2 s into the job
		causes   []string
	}{
		{"disabled then enabled", "", nil, func(p string) error { return x.SetEnabled(p, true) }, []string{"connection refused"}},
		{"reset_peer", "", toxic("reset", "reset_peer", "upstream", 0),
			func(p string) error { return x.RemoveToxic(p, "reset") }, []string{"reset", "EOF"}},
		{"closed after 100 ms", "", toxic("close", "timeout", "upstream", 100),
			func(p string) error { return x.RemoveToxic(p, "close") }, []string{"EOF", "reset", "closed"}},
		{"daemon behind the proxy starts late", late.Addr, func(string) error { return nil },
			func(string) error { return late.StartReady() }, []string{"EOF", "reset", "closed"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy := fmt.Sprintf("faults-%d", i)
			listen := fmt.Sprintf("127.0.0.1:%d", takePort(t, proxyPorts))
			up := upstream
			if tc.upstream != "" {
				up = tc.upstream
			}
			if err := x.Proxy(proxy, listen, up, tc.setup != nil); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				if err := tc.setup(proxy); err != nil {
					t.Fatal(err)
				}
			}
			healed := make(chan error, 1)
			time.AfterFunc(2*time.Second, func() { healed <- tc.heal(proxy) })
			dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
			r := s.run(t, dir, s.baseConfig(map[string]any{"buildkit-host": "tcp://" + listen}))
			if err := <-healed; err != nil {
				t.Fatal(err)
			}
			if r.Code != 0 {
				t.Fatalf("want success once the proxy heals: %s", r)
			}
			checkWaited(t, r, "tcp://"+listen, tc.causes...)
			if causes := retriedAfter(r.Stdout); len(causes) > 0 {
				t.Errorf("the connect fault used up a build retry (one wait within connect-timeout expected): %q", causes)
			}
			if r.Elapsed < 2*time.Second {
				t.Errorf("done in %s, before the proxy healed", r.Elapsed)
			}
			within(t, r, 12*time.Second)
		})
	}
	t.Run("black hole bounded by connect-timeout", func(t *testing.T) {
		listen := fmt.Sprintf("127.0.0.1:%d", takePort(t, proxyPorts))
		if err := x.Proxy("faults-hole", listen, upstream, true); err != nil {
			t.Fatal(err)
		}
		if err := x.AddToxic("faults-hole", faultkit.Toxic{Name: "hole", Type: "timeout", Attributes: map[string]any{"timeout": 0}}); err != nil {
			t.Fatal(err)
		}
		dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
		r := s.run(t, dir, s.baseConfig(map[string]any{"buildkit-host": "tcp://" + listen, "connect-timeout": "3s"}))
		if r.Code != 3 || !strings.Contains(r.Stderr, "tcp://"+listen) {
			t.Fatalf("want exit 3 naming tcp://%s: %s", listen, r)
		}
		if r.Elapsed < 2500*time.Millisecond {
			t.Errorf("gave up after %s, before connect-timeout 3s", r.Elapsed)
		}
		within(t, r, 6*time.Second)
	})
}

// toxiproxy in front of a daemon of the test's own, cut in the middle of
// `RUN sleep 5` (the listener closed, the connection dropped) and restored
// 1 s later: the connection is lost, the build runs again through the
// proxy once it listens again and succeeds.
func TestFaultConnectionCutMidBuild(t *testing.T) {
	s := requireStack(t)
	d := startDaemon(t)
	x := startToxiproxy(t)
	listen := fmt.Sprintf("127.0.0.1:%d", takePort(t, proxyPorts))
	if err := x.Proxy("faults-cut", listen, d.Addr, true); err != nil {
		t.Fatal(err)
	}
	repo := s.repo(t)
	dir, nonce := nonceContext(t, s, "sleep 5 && cat /nonce > /out")
	meta := filepath.Join(t.TempDir(), "m.json")
	j := s.startBuild(t, dir, s.baseConfig(map[string]any{"buildkit-host": "tcp://" + listen, "tags": []string{repo + ":cut"},
		"push": true, "metadata-file": meta}))
	waitLine(t, j, stepRe("RUN sleep 5"), 0, 60*time.Second)
	time.Sleep(time.Second)
	if err := x.SetEnabled("faults-cut", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := x.SetEnabled("faults-cut", true); err != nil {
		t.Fatal(err)
	}
	r := finish(t, j, 90*time.Second)
	if r.Code != 0 {
		t.Fatalf("want success on the retry: %s", r)
	}
	if causes := retriedAfter(r.Stdout); len(causes) != 1 {
		t.Errorf("want one attempt 2 section: %q: %s", causes, r)
	}
	if as := metaAttempts(t, meta); len(as) != 1 || as[0].Host != "tcp://"+listen {
		t.Errorf("metadata attempts = %+v, want one failed attempt on tcp://%s", as, listen)
	}
	if got := s.imageFile(t, repo+":cut", "out"); got != nonce {
		t.Errorf("image /out = %q, want %q", got, nonce)
	}
	within(t, r, 40*time.Second)
}

// key.pem readable by group or others: the build warns naming the file and
// `chmod 600`; with require-tls it fails.
func TestFaultKeyPermissions(t *testing.T) {
	s := requireStack(t)
	tlsDir := filepath.Join(t.TempDir(), "tls")
	writeSet(t, tlsDir, stackClientSet(t))
	key := filepath.Join(tlsDir, "key.pem")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	r := s.run(t, dir, map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": tlsDir})
	if r.Code != 0 || !strings.Contains(r.Stderr, key) || !strings.Contains(r.Stderr, "chmod 600") {
		t.Errorf("want success with a warning naming %s and `chmod 600`: %s", key, r)
	}
	r = s.run(t, dir, map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": tlsDir, "require-tls": true})
	lines := errorLines(r.Stderr)
	if r.Code == 0 || len(lines) != 1 || !strings.Contains(lines[0], key) || !strings.Contains(lines[0], "chmod 600") {
		t.Errorf("with require-tls: want a failure whose error line names %s and `chmod 600`: %s", key, r)
	}
}
