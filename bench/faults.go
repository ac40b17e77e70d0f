package main

// --- 6. faults ------------------------------------------------------------------
//
// Faults injected into real builds (tests/faultkit: buildkitd daemons of the
// bench's own, toxiproxy, faultproxy) and how long the job takes to recover.
// The same cases are asserted by tests/integration/faults_test.go; here they
// are timed.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

var faultsOnly = flag.Bool("faults-only", false, "run only the faults table")

type faultRow struct{ name, outcome, recover, attempts, target, verdict string }

var faultRows []faultRow

// faultBench is the bench's own processes and ports for the faults table.
type faultBench struct {
	dir                  string
	daemons, proxies     *faultkit.Ports
	started              []*faultkit.Daemon
	stops                []func() error
	faultproxy, tlsDir   string
	base, registry, host string
}

var (
	stepRun   = regexp.MustCompile(`^#\d+ \[[^\]]+\] RUN sleep`)
	attempt2  = regexp.MustCompile(`^--- :repeat: remote-buildkit: attempt 2 of`)
	connected = regexp.MustCompile(`^Connected to BuildKit`)
)

// faults runs the faults table; with -faults-only it then writes the report
// and exits.
func faults(notes *[]string) {
	runFaults(notes)
	if *faultsOnly {
		report(*notes)
		os.Exit(0)
	}
}

func runFaults(notes *[]string) {
	dir, err := os.MkdirTemp("", "bench-faults-")
	must(err)
	fb := &faultBench{dir: dir, daemons: faultkit.NewPorts(1240, 1259), proxies: faultkit.NewPorts(5040, 5059),
		tlsDir: stackEnv("STACK_TLS_DIR"), base: stackEnv("STACK_BASE_IMAGE"), registry: stackEnv("STACK_REGISTRY"),
		host: stackEnv("STACK_BUILDKIT_HOST")}
	defer fb.close()
	fb.faultproxy, err = faultkit.BuildFaultProxy(".", dir)
	fb.must(err)
	var restarts, recoveries []time.Duration
	for i := 0; i < 3; i++ {
		restart, recovery := fb.restartMidBuild(i)
		restarts, recoveries = append(restarts, restart), append(recoveries, recovery)
	}
	mr, mrec := median(restarts), median(recoveries)
	verdict := "met"
	if mrec == 0 || mrec > mr+2*time.Second {
		verdict = "MISSED"
	}
	rows = append(rows, row{what: "recovery from a daemon restart mid-build", a: ms(mrec), b: ms(mr) + " (restart)", ratio: "—",
		target: "≤ restart + 2 s", verdict: verdict, raw: fmt.Sprintf("daemon restart: restart %v, recovery %v", restarts, recoveries)})
	fmt.Printf("%-45s recovery %s, restart %s\n", "recovery from a daemon restart", ms(mrec), ms(mr))
	fb.lateDaemon()
	fb.poolMemberKilled()
	fb.proxyHealed()
	fb.registry503()
	fb.s3Errors()
	fb.tlsFailsFast()
	*notes = append(*notes, "Faults (the table below; tests/faultkit processes of the bench's own): the daemon is killed with SIGKILL 1 s into a `RUN sleep 3` and started again 1 s later on the same root; restart is kill → listening again, recovery is kill → the retry's `Connected to BuildKit` line (median of 3). Late daemon: listening → connected. Pool: kill → connected to the other member. Proxy: toxiproxy's listener enabled → connected. Registry 503 and S3 500s: the job's time minus the same job's without the fault (S3: `environment` into a fresh HOME; attempts are the GETs of one object). TLS: the time to fail (not retried).")
}

// must is the bench's must, stopping the bench's processes first.
func (fb *faultBench) must(err error) {
	if err != nil {
		fb.close()
		fail("faults: %v", err)
	}
}

func (fb *faultBench) close() {
	for _, d := range fb.started {
		d.Remove()
	}
	for _, stop := range fb.stops {
		stop()
	}
	os.RemoveAll(fb.dir)
}

// daemon is a buildkitd of the bench's own, started and listening.
func (fb *faultBench) daemon() *faultkit.Daemon {
	d := fb.newDaemon()
	fb.must(d.StartReady())
	return d
}

// newDaemon is a buildkitd of the bench's own, not started.
func (fb *faultBench) newDaemon() *faultkit.Daemon {
	port, err := fb.daemons.Take("127.0.0.1")
	fb.must(err)
	root, err := os.MkdirTemp(fb.dir, "buildkitd-")
	fb.must(err)
	d, err := faultkit.NewDaemon(stackEnv("STACK_BUILDKITD"), stackEnv("STACK_CA_DIR"), root, fmt.Sprintf("127.0.0.1:%d", port))
	fb.must(err)
	fb.started = append(fb.started, d)
	return d
}

// job starts a build of a fresh context (FROM the base image, a unique
// file, then run if not empty) with cfg on top of the tls-dir.
func (fb *faultBench) job(cfg map[string]any, run string, env ...string) *faultkit.Job {
	ctx, err := os.MkdirTemp(fb.dir, "ctx-")
	fb.must(err)
	df := fmt.Sprintf("FROM %s\nCOPY nonce /nonce\n", fb.base)
	if run != "" {
		df += "RUN " + run + "\n"
	}
	fb.must(os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644))
	fb.must(os.WriteFile(filepath.Join(ctx, "nonce"), []byte(fmt.Sprint(time.Now().UnixNano())), 0o644))
	if cfg["tls-dir"] == nil {
		cfg["tls-dir"] = fb.tlsDir
	}
	cfg["progress"], cfg["annotate"] = "plain", false
	js, _ := json.Marshal(cfg)
	j, err := faultkit.StartJob(*bin, ctx, append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + ctx, "BUILDKITE=true",
		"DOCKER_CONFIG=" + stackEnv("STACK_DOCKER_CONFIG"), "BUILDKITE_PLUGIN_CONFIGURATION=" + string(js)}, env...), "build")
	fb.must(err)
	return j
}

// recovered waits for the job and returns the time from healed (the fault
// ended) to the job's last `Connected to BuildKit` line: 0 unless the job
// succeeded and the fault was injected (err nil).
func recovered(j *faultkit.Job, err error, healed time.Time) (faultkit.Result, time.Duration, error) {
	r, werr := j.Wait(90 * time.Second)
	if err == nil {
		err = werr
	}
	if err != nil || r.Code != 0 {
		return r, 0, err
	}
	var at time.Time
	for _, l := range r.Lines {
		if connected.MatchString(l.Text) {
			at = j.Start.Add(l.When)
		}
	}
	return r, at.Sub(healed), nil
}

func attempts(r faultkit.Result) string {
	return fmt.Sprint(1 + strings.Count(r.Stdout, "--- :repeat: remote-buildkit: attempt "))
}

func outcome(r faultkit.Result, err error) string {
	if err != nil {
		return "FAILED: " + err.Error()
	}
	return fmt.Sprintf("exit %d in %s", r.Code, ms(r.Elapsed))
}

// restartMidBuild: kill -9 1 s into RUN, start again 1 s later; returns the
// restart time (kill → listening) and the recovery (kill → connected again).
func (fb *faultBench) restartMidBuild(i int) (restart, recovery time.Duration) {
	d := fb.daemon()
	defer d.Remove()
	j := fb.job(map[string]any{"buildkit-host": d.Host}, "sleep 3 && cat /nonce > /out")
	var killed time.Time
	_, err := j.WaitLine(stepRun, 0, 60*time.Second)
	if err == nil {
		time.Sleep(time.Second)
		killed = time.Now()
		err = d.Restart(time.Second)
		restart = time.Since(killed)
	}
	r, recovery, err := recovered(j, err, killed)
	if strings.Count(r.Stdout, "Connected to BuildKit") != 2 {
		recovery = 0 // not a retry on the restarted daemon
	}
	fb.row(fmt.Sprintf("daemon killed mid-RUN, restarted 1 s later (run %d)", i+1), r, err, recovery, "≤ restart ("+ms(restart)+") + 2 s",
		recovery > 0 && recovery <= restart+2*time.Second)
	return restart, recovery
}

func (fb *faultBench) row(name string, r faultkit.Result, err error, recover time.Duration, target string, ok bool) {
	rec, verdict := "—", "met"
	if recover > 0 {
		rec = ms(recover)
	}
	if !ok {
		verdict = "MISSED"
	}
	faultRows = append(faultRows, faultRow{name: name, outcome: outcome(r, err), recover: rec, attempts: attempts(r), target: target, verdict: verdict})
	fmt.Printf("%-45s %s, recovered in %s, %s attempt(s)\n", "fault: "+name, outcome(r, err), rec, attempts(r))
	if !ok {
		fmt.Printf("  stdout:\n%s\n  stderr:\n%s\n", tail(r.Stdout, 15), tail(r.Stderr, 25))
	}
}

// faultsTable is the Markdown section of the faults table.
func faultsTable() string {
	if len(faultRows) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Faults\n\n| case | outcome | time to recover | attempts | target | |\n|---|---|---|---|---|---|\n")
	for _, f := range faultRows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", f.name, f.outcome, f.recover, f.attempts, f.target, f.verdict)
	}
	return b.String()
}

// lateDaemon: the daemon starts 3 s after the job; recovery is listening →
// connected.
func (fb *faultBench) lateDaemon() {
	d := fb.newDaemon()
	j := fb.job(map[string]any{"buildkit-host": d.Host}, "")
	time.Sleep(3 * time.Second)
	err := d.StartReady()
	ready := time.Now()
	r, rec, err := recovered(j, err, ready)
	fb.row("daemon started 3 s after the job", r, err, rec, "≤ 3.5 s (the backoff's cap + jitter)", rec > 0 && rec <= 3500*time.Millisecond)
}

// poolMemberKilled: the pool member building is killed 1 s into RUN and
// stays down; recovery is kill → connected to the other member.
func (fb *faultBench) poolMemberKilled() {
	a, b := fb.daemon(), fb.daemon()
	j := fb.job(map[string]any{"buildkit-host": []string{a.Host, b.Host}}, "sleep 3", "BUILDKITE_PIPELINE_SLUG=bench-faults-pool")
	var killed time.Time
	l, err := j.WaitLine(connected, 0, 30*time.Second)
	if err == nil {
		_, err = j.WaitLine(stepRun, l.Index, 60*time.Second)
	}
	if err == nil {
		time.Sleep(time.Second)
		first := a
		if strings.Contains(l.Text, " "+b.Host+" ") {
			first = b
		}
		killed = time.Now()
		err = first.Kill()
	}
	r, rec, err := recovered(j, err, killed)
	fb.row("pool member killed mid-RUN (stays down)", r, err, rec, "≤ 2 s", rec > 0 && rec <= 2*time.Second)
}

// proxyHealed: toxiproxy's listener in front of the stack's daemon is
// closed when the job starts and opened 2 s later; recovery is enabled →
// connected.
func (fb *faultBench) proxyHealed() {
	api, err := fb.proxies.Take("127.0.0.1")
	fb.must(err)
	listen, err := fb.proxies.Take("127.0.0.1")
	fb.must(err)
	x, err := faultkit.StartToxiproxy(stackEnv("STACK_TOXIPROXY"), fb.dir, api)
	fb.must(err)
	fb.stops = append(fb.stops, x.Stop)
	addr := fmt.Sprintf("127.0.0.1:%d", listen)
	fb.must(x.Proxy("bench", addr, strings.TrimPrefix(fb.host, "tcp://"), false))
	j := fb.job(map[string]any{"buildkit-host": "tcp://" + addr}, "")
	time.Sleep(2 * time.Second)
	err = x.SetEnabled("bench", true)
	enabled := time.Now()
	r, rec, err := recovered(j, err, enabled)
	fb.row("toxiproxy listener closed, opened after 2 s", r, err, rec, "≤ 3.5 s (the backoff's cap + jitter)", rec > 0 && rec <= 3500*time.Millisecond)
}

// registry503: faultproxy in front of the stack's registry answers the
// first manifest PUT with 503; the cost is the job's time minus the same
// build's without the fault.
func (fb *faultBench) registry503() {
	port, err := fb.proxies.Take("127.0.0.1")
	fb.must(err)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	fp, err := faultkit.StartFaultProxy(fb.faultproxy, fb.dir, addr, "http://"+fb.registry)
	fb.must(err)
	fb.stops = append(fb.stops, fp.Stop)
	cfg := func() map[string]any {
		return map[string]any{"buildkit-host": fb.host, "tags": []string{addr + "/bench/faults:503"}, "push": true,
			"registry-credentials": []any{map[string]any{"registry": addr, "username-env": "FAULT_REGISTRY_USER", "password-env": "FAULT_REGISTRY_PASSWORD"}}}
	}
	env := []string{"FAULT_REGISTRY_USER=" + stackEnv("STACK_REGISTRY_USER"), "FAULT_REGISTRY_PASSWORD=" + stackEnv("STACK_REGISTRY_PASSWORD")}
	fb.job(cfg(), "", env...).Wait(60 * time.Second) // the base image's layers are pushed once, before either run
	clean, err := fb.job(cfg(), "", env...).Wait(60 * time.Second)
	if err == nil && clean.Code != 0 {
		err = fmt.Errorf("the build without a fault failed: exit %d\n%s", clean.Code, tail(clean.Stderr, 20))
	}
	var r faultkit.Result
	if err == nil {
		fb.must(fp.Add(faultkit.Rule{Method: "PUT", Path: `^/v2/.+/manifests/[^/]+$`, Status: 503, Count: 1}))
		r, err = fb.job(cfg(), "", env...).Wait(90 * time.Second)
	}
	if es, lerr := fp.Log(); err == nil && (lerr != nil || !injected(es)) {
		err = fmt.Errorf("the 503 was never sent (%v)", lerr)
	}
	var rec time.Duration
	if err == nil && r.Code == 0 {
		rec = max(r.Elapsed-clean.Elapsed, time.Millisecond)
	}
	fb.row("registry: 503 on the first manifest PUT", r, err, rec, "exit 0", err == nil && r.Code == 0)
}

func injected(es []faultkit.Entry) bool {
	for _, e := range es {
		if e.Fault != "" {
			return true
		}
	}
	return false
}

// tlsFailsFast: a tls-dir whose ca.pem did not sign the daemon's
// certificate fails at once (exit 3), without waiting or retrying.
func (fb *faultBench) tlsFailsFast() {
	dir, err := os.MkdirTemp(fb.dir, "tls-")
	fb.must(err)
	for _, f := range []string{"cert.pem", "key.pem"} {
		b, err := os.ReadFile(filepath.Join(fb.tlsDir, f))
		fb.must(err)
		fb.must(os.WriteFile(filepath.Join(dir, f), b, 0o600))
	}
	fb.must(os.WriteFile(filepath.Join(dir, "ca.pem"), selfSignedCA(), 0o600))
	r, err := fb.job(map[string]any{"buildkit-host": fb.host, "tls-dir": dir}, "").Wait(30 * time.Second)
	ok := err == nil && r.Code == 3 && r.Elapsed < time.Second && !strings.Contains(r.Stderr, "waiting for buildkitd")
	fb.row("TLS: wrong CA (not retried)", r, err, 0, "exit 3 in < 1 s, no wait", ok)
}

// selfSignedCA is a CA certificate (PEM) nobody's certificates chain to.
func selfSignedCA() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "bench wrong CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	must(err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// s3Errors: faultproxy in front of the stack's S3 answers the first 2 object
// GETs with 500; `environment` (a fresh HOME each time) is timed with and
// without the fault.
func (fb *faultBench) s3Errors() {
	s3 := stackEnv("STACK_S3_ENDPOINT")
	awsEnv := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}
	bucket := fmt.Sprintf("bench-faults-%d", time.Now().UnixNano())
	run(awsEnv, "", "aws", "--endpoint-url", s3, "s3", "mb", "s3://"+bucket)
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		run(awsEnv, "", "aws", "--endpoint-url", s3, "s3", "cp", "--quiet", filepath.Join(fb.tlsDir, f), "s3://"+bucket+"/buildkit/"+f)
	}
	defer run(awsEnv, "", "aws", "--endpoint-url", s3, "s3", "rb", "--force", "s3://"+bucket)
	port, err := fb.proxies.Take("127.0.0.1")
	fb.must(err)
	fp, err := faultkit.StartFaultProxy(fb.faultproxy, fb.dir, fmt.Sprintf("127.0.0.1:%d", port), s3)
	fb.must(err)
	fb.stops = append(fb.stops, fp.Stop)
	cfg, _ := json.Marshal(map[string]any{"buildkit-host": fb.host, "secrets-bucket": bucket, "secrets-region": "us-east-1"})
	env := func() faultkit.Result {
		home, err := os.MkdirTemp(fb.dir, "home-")
		fb.must(err)
		j, err := faultkit.StartJob(*bin, home, append(awsEnv, "PATH="+os.Getenv("PATH"), "HOME="+home, "AWS_ENDPOINT_URL="+fp.URL,
			"BUILDKITE_PIPELINE_SLUG=bench-faults", "BUILDKITE_PLUGIN_CONFIGURATION="+string(cfg)), "environment")
		fb.must(err)
		r, err := j.Wait(60 * time.Second)
		fb.must(err)
		return r
	}
	clean := env()
	fb.must(fp.Add(faultkit.Rule{Method: "GET", Path: "^/" + bucket + "/.+", Status: 500, Count: 2,
		Body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>faultproxy</Message></Error>`}))
	before, _ := fp.Log()
	r := env()
	after, err := fp.Log()
	gets := map[string]int{}
	for _, e := range after[len(before):] {
		if e.Method == "GET" {
			gets[e.Path]++
		}
	}
	var rec time.Duration
	ok := err == nil && clean.Code == 0 && r.Code == 0 && injected(after)
	if ok {
		rec = max(r.Elapsed-clean.Elapsed, time.Millisecond)
	}
	fb.row("S3: 500 on the first 2 object GETs (environment)", r, err, rec, "exit 0", ok)
	most := 0
	for _, n := range gets {
		most = max(most, n)
	}
	faultRows[len(faultRows)-1].attempts = fmt.Sprint(most)
}
