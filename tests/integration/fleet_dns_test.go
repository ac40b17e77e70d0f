package integration

// Fleets discovered from DNS, sticky routing with bounded loads, on real
// processes: three buildkitd on 127.0.0.31-33
// port 1260 with one server certificate for builders.test (and the three
// IPs), and a dnsmasq of the test's own on 127.0.0.1:5350-5359 that serves
// builders.test's A records from a hosts file it re-reads on SIGHUP. Both
// are started and killed here. The fleet functions are tested against them
// directly; the end-to-end builds go through the binary with buildkit-host
// dns://builders.test:1260 (skipped, saying so, while the binary does not
// accept dns:// yet).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

const (
	fleetName = "builders.test"
	fleetPort = "1260"
)

var fleetIPs = []string{"127.0.0.31", "127.0.0.32", "127.0.0.33"}

// fleetEnv is one test's certificates, DNS server and daemons.
type fleetEnv struct {
	t         *testing.T
	dir       string // short: the daemons' trace sockets live here
	ClientDir string // tls-dir for the members
	serverDir string
	hosts     string // dnsmasq's hosts file
	dns       *exec.Cmd
	Server    string // the DNS server, 127.0.0.1:PORT
	canary    string // a name only this test's dnsmasq serves
}

// lockFleetAddresses holds a lock on the fixed addresses (127.0.0.31-34:1260)
// until the test ends: another run of these tests on the machine waits for
// it instead of failing on a taken port.
func lockFleetAddresses(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "remote-buildkit-fleet-dns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	locked := make(chan error, 1)
	go func() { locked <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("another run of the fleet DNS tests has held 127.0.0.31-34:1260 for 5 minutes")
	}
	t.Cleanup(func() { f.Close() })
}

func newFleetEnv(t *testing.T) *fleetEnv {
	t.Helper()
	requireStack(t)
	for _, v := range []string{"STACK_DNSMASQ", "STACK_BUILDKITD", "STACK_BUILDCTL"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is unset: re-run `make stack-up` (dnsmasq comes from tests/stack/stack.sh install)", v)
		}
	}
	lockFleetAddresses(t)
	dir, err := os.MkdirTemp("", "fleet-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &fleetEnv{t: t, dir: dir, canary: fmt.Sprintf("run-%d.test", time.Now().UnixNano()), ClientDir: filepath.Join(dir, "client"), serverDir: filepath.Join(dir, "server"), hosts: filepath.Join(dir, "hosts")}
	e.makeCerts(append(slices.Clone(fleetIPs), "127.0.0.34"))
	e.startDNS(fleetIPs)
	return e
}

// makeCerts writes a CA, a server certificate for builders.test and ips,
// and a client certificate.
func (e *fleetEnv) makeCerts(ips []string) {
	ca := newCA(e.t, "fleet test CA")
	writeSet(e.t, e.ClientDir, ca.valid(e.t, "fleet client"))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(e.t),
		Subject:      pkix.Name{CommonName: fleetName},
		DNSNames:     []string{fleetName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		e.t.Fatal(err)
	}
	writeSet(e.t, e.serverDir, certSet{
		CA:   ca.PEM,
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}),
	})
}

// startDNS starts dnsmasq on the first free port of 5350-5359, answering
// only for builders.test: no upstream, no /etc/hosts, no config file, and
// authoritative for .test (any other name there is NXDOMAIN, not REFUSED).
func (e *fleetEnv) startDNS(ips []string) {
	e.writeHosts(ips)
	for port := 5350; port <= 5359; port++ {
		logPath := filepath.Join(e.dir, fmt.Sprintf("dnsmasq-%d.log", port))
		logf, err := os.Create(logPath)
		if err != nil {
			e.t.Fatal(err)
		}
		cmd := exec.Command(os.Getenv("STACK_DNSMASQ"), "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--local=/test/",
			"--addn-hosts="+e.hosts, fmt.Sprintf("--port=%d", port), "--listen-address=127.0.0.1", "--bind-interfaces",
			"--user=root", "--group=root", "--local-ttl=0", "--log-facility=-", "--log-queries")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			e.t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(exited) }()
		e.Server = fmt.Sprintf("127.0.0.1:%d", port)
		if e.waitResolves(len(ips), exited) {
			e.dns = cmd
			e.t.Cleanup(func() { cmd.Process.Kill(); <-exited })
			return
		}
		cmd.Process.Kill()
		<-exited
		b, _ := os.ReadFile(logPath)
		e.t.Logf("dnsmasq on port %d did not serve: %s", port, b)
	}
	e.t.Fatal("dnsmasq did not start on any port of 5350-5359")
}

func (e *fleetEnv) writeHosts(ips []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "127.0.0.39 %s\n", e.canary)
	for _, ip := range ips {
		fmt.Fprintf(&b, "%s %s\n", ip, fleetName)
	}
	if err := os.WriteFile(e.hosts, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// waitResolves waits up to 10s for builders.test to have n records.
func (e *fleetEnv) waitResolves(n int, exited chan struct{}) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, cerr := fleet.Resolve(ctx, e.canary, fleetPort, e.Server) // this dnsmasq answers, not another
		addrs, err := fleet.Resolve(ctx, fleetName, fleetPort, e.Server)
		cancel()
		if cerr == nil && (err == nil && len(addrs) == n || n == 0 && err != nil) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// setRecords replaces builders.test's A records (dnsmasq re-reads its
// hosts file on SIGHUP).
func (e *fleetEnv) setRecords(ips []string) {
	e.t.Helper()
	e.writeHosts(ips)
	if err := e.dns.Process.Signal(syscall.SIGHUP); err != nil {
		e.t.Fatal(err)
	}
	if !e.waitResolves(len(ips), nil) {
		e.t.Fatalf("dnsmasq does not serve %d records after SIGHUP", len(ips))
	}
}

// members resolves builders.test into pool members with the client set.
func (e *fleetEnv) members() []config.Node {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := fleet.Resolve(ctx, fleetName, fleetPort, e.Server)
	if err != nil {
		e.t.Fatal(err)
	}
	return fleet.Members(fleetName, addrs, config.Node{TLSDir: e.ClientDir, TLSDirSet: true})
}

// startDaemon starts buildkitd on ip:1260 with the server certificate, its
// own root and its own trace socket.
func (e *fleetEnv) startDaemon(ip string) {
	e.t.Helper()
	root := filepath.Join(e.dir, ip)
	conf := filepath.Join(root, "buildkitd.toml")
	if err := os.MkdirAll(root, 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("[otel]\n  socketPath = %q\n", filepath.Join(root, "otel.sock"))), 0o644); err != nil {
		e.t.Fatal(err)
	}
	addr := net.JoinHostPort(ip, fleetPort)
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		e.t.Fatalf("%s is taken: a buildkitd left over from an earlier run?", addr)
	}
	logf, err := os.Create(filepath.Join(root, "buildkitd.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("STACK_BUILDKITD"), "--addr", "tcp://"+addr, "--root", filepath.Join(root, "state"), "--config", conf,
		"--tlscacert", filepath.Join(e.serverDir, "ca.pem"), "--tlscert", filepath.Join(e.serverDir, "cert.pem"), "--tlskey", filepath.Join(e.serverDir, "key.pem"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	n := config.Node{Name: addr, Host: "tcp://" + addr, TLSDir: e.ClientDir, TLSDirSet: true, TLSServerName: fleetName}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := fleet.Connect(context.Background(), n, 2*time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(root, "buildkitd.log"))
			e.t.Fatalf("buildkitd on %s does not answer: %v\n%s", addr, err, b)
		}
	}
}

// The name resolves to the three members, each reached over mTLS with the
// certificate verified against the DNS name.
func TestParallelFleetDNSResolve(t *testing.T) {
	e := newFleetEnv(t)
	for _, ip := range fleetIPs {
		e.startDaemon(ip)
	}
	ms := e.members()
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
		if m.TLSServerName != fleetName || m.Host != "tcp://"+m.Name {
			t.Errorf("member %+v: want Host tcp://%s and TLSServerName %s", m, m.Name, fleetName)
		}
		c, err := fleet.Connect(context.Background(), m, 5*time.Second)
		if err != nil {
			t.Errorf("connect %s: %v", m.Name, err)
			continue
		}
		t.Logf("%s: BuildKit %s, %s", m.Name, c.Info.BuildkitVersion.Version, c.TLS)
		c.Close()
	}
	if want := []string{"127.0.0.31:1260", "127.0.0.32:1260", "127.0.0.33:1260"}; !slices.Equal(names, want) {
		t.Errorf("members %v, want %v", names, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := fleet.Resolve(ctx, "missing.test", fleetPort, e.Server); err == nil || !strings.Contains(err.Error(), "lookup missing.test on "+e.Server+": no such host") {
		t.Errorf("an unknown name: %v, want an error naming it, the server and no such host", err)
	}
}

// Removing one record moves only the pipelines that member won, to their
// runner-up; adding it back brings them home.
func TestParallelFleetDNSRemoveRecordMovesOnlyItsPipelines(t *testing.T) {
	e := newFleetEnv(t)
	winners := func() map[string]string {
		ms := e.members()
		out := map[string]string{}
		for i := 0; i < 30; i++ {
			key := fleet.Key(fmt.Sprintf("pipeline-%d", i), "Dockerfile")
			out[key] = fleet.Ordered(key, ms)[0].Name
		}
		return out
	}
	before := winners()
	all := e.members()
	e.setRecords([]string{fleetIPs[0], fleetIPs[2]})
	after := winners()
	removed := net.JoinHostPort(fleetIPs[1], fleetPort)
	owned := 0
	for key, w := range before {
		switch {
		case w == removed:
			owned++
			if want := fleet.Ordered(key, all)[1].Name; after[key] != want {
				t.Errorf("%q: moved to %s, want its runner-up %s", key, after[key], want)
			}
		case after[key] != w:
			t.Errorf("%q moved from %s to %s though %s is still there", key, w, after[key], w)
		}
	}
	t.Logf("%s won %d of 30 pipelines; only those moved", removed, owned)
	if owned == 0 || owned == 30 {
		t.Errorf("the removed member won %d of 30 pipelines: the test needs some of each", owned)
	}
	e.setRecords(fleetIPs)
	if back := winners(); fmt.Sprint(back) != fmt.Sprint(before) {
		t.Errorf("with the record back the pipelines did not return:\nbefore %v\nafter  %v", before, back)
	}
}

// build runs buildctl build of a Dockerfile on a member (no output).
func (e *fleetEnv) buildctl(ctx context.Context, s *stack, host, dockerfile string) *exec.Cmd {
	dir := writeFiles(e.t, map[string]string{"Dockerfile": dockerfile})
	cmd := exec.CommandContext(ctx, s.Buildctl, "--addr", host, "--tlsdir", e.ClientDir, "--tlsservername", fleetName,
		"build", "--frontend", "dockerfile.v0", "--local", "context="+dir, "--local", "dockerfile="+dir)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+s.DockerConfig)
	return cmd
}

// connectMember connects to a member or fails the test.
func connectMember(t *testing.T, m config.Node) *fleet.Connected {
	t.Helper()
	c, err := fleet.Connect(context.Background(), m, 5*time.Second)
	if err != nil {
		t.Fatalf("connect %s: %v", m.Name, err)
	}
	return c
}

// activeBuilds asks a member how many builds it runs.
func activeBuilds(t *testing.T, m config.Node) int {
	t.Helper()
	c := connectMember(t, m)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := fleet.ActiveBuilds(ctx, c.Client)
	if err != nil {
		t.Fatalf("active builds on %s: %v", m.Name, err)
	}
	return n
}

// waitActive polls a member until it runs want builds (within 20s).
func waitActive(t *testing.T, m config.Node, want int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); activeBuilds(t, m) != want; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never ran %d builds", m.Name, want)
		}
	}
}

// A daemon running a build reports it, through its build history; Probe
// sees it there and nowhere else; when it is done the count is 0 again.
func TestParallelFleetDNSActiveBuilds(t *testing.T) {
	s := requireStack(t)
	e := newFleetEnv(t)
	for _, ip := range fleetIPs {
		e.startDaemon(ip)
	}
	ms := e.members()
	if n := activeBuilds(t, ms[0]); n != 0 {
		t.Fatalf("a fresh daemon runs %d builds", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	build := e.buildctl(ctx, s, ms[0].Host, fmt.Sprintf("FROM %s\nRUN sleep 3 && echo %d\n", s.BaseImage, time.Now().UnixNano()))
	out := &syncBuffer{}
	build.Stdout, build.Stderr = out, out
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	waitActive(t, ms[0], 1)
	ls := fleet.Probe(ctx, fleet.Connect, ms, 5*time.Second, time.Second)
	for _, l := range ls {
		if l.Conn != nil {
			l.Conn.Close()
		}
	}
	want := map[string]int{ms[0].Name: 1, ms[1].Name: 0, ms[2].Name: 0}
	if got := fleet.Loads(ls); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Probe while one build runs on %s: %v, want %v (%+v)", ms[0].Name, got, want, ls)
	}
	if err := build.Wait(); err != nil {
		t.Fatalf("buildctl build: %v\n%s", err, out.String())
	}
	waitActive(t, ms[0], 0)
}

// silentMember accepts TCP connections on ip:1260 and never answers.
func silentMember(t *testing.T, ip string) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, fleetPort))
	if err != nil {
		t.Fatal(err)
	}
	faultkit.Hold(l)
	t.Cleanup(func() { l.Close() })
}

// A member that accepts TCP but never answers is marked down by Probe
// within its 1s deadline, and bounded routing passes it for the next one.
func TestParallelFleetDNSProbeSkipsSilentMember(t *testing.T) {
	e := newFleetEnv(t)
	for _, ip := range fleetIPs {
		e.startDaemon(ip)
	}
	silentMember(t, "127.0.0.34")
	e.setRecords(append(slices.Clone(fleetIPs), "127.0.0.34"))
	ms := e.members()
	silent := "127.0.0.34:" + fleetPort
	start := time.Now()
	ls := fleet.Probe(context.Background(), fleet.Connect, ms, 10*time.Second, time.Second)
	took := time.Since(start)
	for _, l := range ls {
		if up := l.Node.Name != silent; up != (l.Active == 0 && l.Conn != nil) {
			t.Errorf("%s: active %d, err %v; want %s", l.Node.Name, l.Active, l.Err, map[bool]string{true: "0", false: "down"}[up])
		}
		if l.Conn != nil {
			l.Conn.Close()
		}
	}
	if took > 2*time.Second {
		t.Errorf("Probe took %s, want under 2s", took)
	}
	key := ""
	for i := 0; key == ""; i++ {
		if k := fleet.Key(fmt.Sprint("pipeline-", i), "Dockerfile"); fleet.Ordered(k, ms)[0].Name == silent {
			key = k
		}
	}
	var warns []string
	start = time.Now()
	c, _, err := fleet.ChooseLoaded(context.Background(), fleet.Connect, key, ms, 1.25, 0, 10*time.Second, time.Second, func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("chose %s (rank %d) in %s; %q", c.Node.Name, c.Rank, time.Since(start).Round(time.Millisecond), warns)
	if c.Node.Name == silent || c.Rank != 2 || time.Since(start) > 2*time.Second || len(warns) != 1 || !strings.Contains(warns[0], "skipping BuildKit node "+silent+": no answer within 1s") {
		t.Errorf("chose %s rank %d after %s, warnings %q; want the runner-up within 2s and one warning naming %s", c.Node.Name, c.Rank, time.Since(start), warns, silent)
	}
}

func (e *fleetEnv) hostConfig(extra map[string]any) map[string]any {
	cfg := map[string]any{"buildkit-host": "dns://" + fleetName + ":" + fleetPort, "dns-server": e.Server, "tls-dir": e.ClientDir}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// completedBuilds counts the finished builds in a member's history.
func completedBuilds(t *testing.T, m config.Node) int {
	t.Helper()
	c := connectMember(t, m)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.Client.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("history of %s: %v", m.Name, err)
		}
		if ev.GetType() == controlapi.BuildHistoryEventType_COMPLETE && ev.GetRecord().GetCompletedAt() != nil {
			n++
		}
	}
}

// watchPeaks polls every member's active count until stop is closed and
// returns the most each ran at once.
func watchPeaks(t *testing.T, ms []config.Node, stop chan struct{}) func() map[string]int {
	peaks := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range ms {
		c := connectMember(t, m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for {
				if n, err := fleet.ActiveBuilds(context.Background(), c.Client); err == nil {
					mu.Lock()
					peaks[m.Name] = max(peaks[m.Name], n)
					mu.Unlock()
				}
				select {
				case <-stop:
					return
				case <-time.After(150 * time.Millisecond):
				}
			}
		}()
	}
	return func() map[string]int { wg.Wait(); return peaks }
}

// Nine builds of one pipeline through the binary on dns://builders.test:
// with max-load-factor 1.25 no member runs more than four at once
// (ceil(1.25 × 9 / 3)), the first goes to the pipeline's rendezvous winner,
// and the daemons' histories hold all nine. The builds start 700 ms apart
// so that each probe sees the builds started before it (a build appears in
// the daemon's history once its solve starts; builds that start at the very
// same instant all see the same loads and pick the same member).
func TestParallelFleetDNSBoundedBuildsThroughBinary(t *testing.T) {
	s := requireStack(t)
	e := newFleetEnv(t)
	for _, ip := range fleetIPs {
		e.startDaemon(ip)
	}
	ms := e.members()
	slug := fmt.Sprintf("fleet-e2e-%d", time.Now().UnixNano())
	stop := make(chan struct{})
	peaks := watchPeaks(t, ms, stop)
	results := make([]result, 9)
	var wg sync.WaitGroup // not parallel subtests: -parallel (GOMAXPROCS) would hold all nine to two at a time
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 700 * time.Millisecond)
			dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN sleep 8 && echo %s-%d\n", s.BaseImage, slug, i)})
			results[i] = s.run(t, dir, e.hostConfig(map[string]any{"max-load-factor": 1.25}), "BUILDKITE_PIPELINE_SLUG="+slug)
		}()
	}
	wg.Wait()
	close(stop)
	got := peaks()
	for i, r := range results {
		if r.Code != 0 {
			t.Errorf("build %d: %s", i, r)
		}
	}
	total, used := 0, 0
	for _, m := range ms {
		n := completedBuilds(t, m)
		total += n
		if n > 0 {
			used++
		}
		t.Logf("%s: %d builds, at most %d at once", m.Name, n, got[m.Name])
		if got[m.Name] > 4 {
			t.Errorf("%s ran %d builds at once, want at most 4", m.Name, got[m.Name])
		}
	}
	if total != 9 || used < 3 {
		t.Errorf("the members' histories hold %d builds on %d members, want 9 on all 3", total, used)
	}
	first := fleet.Ordered(fleet.Key(slug, "Dockerfile"), ms)[0].Name
	if !strings.Contains(results[0].Stdout, first) {
		t.Errorf("the first build did not go to the pipeline's rendezvous winner %s:\n%s", first, results[0])
	}
}

// A name without records is exit 3 (a connection failure), naming it and
// saying the resolver found nothing.
func TestParallelFleetDNSNoRecordsThroughBinary(t *testing.T) {
	s := requireStack(t)
	e := newFleetEnv(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\n"})
	r := s.run(t, dir, e.hostConfig(map[string]any{"buildkit-host": "dns://missing.test:" + fleetPort}))
	if r.Code != 3 || !strings.Contains(r.Stderr, "missing.test") || !strings.Contains(r.Stderr, "no such host") {
		t.Errorf("want exit 3 naming missing.test and the resolver's answer (no such host): %s", r)
	}
}

// Sequential builds of one pipeline on a dns:// fleet land on the same
// member 10 of 10 times (cache affinity on an idle fleet); a member that
// accepts TCP but never answers is skipped within the probe deadline and
// the build goes on.
func TestParallelFleetDNSStickyAndSilentMemberThroughBinary(t *testing.T) {
	s := requireStack(t)
	e := newFleetEnv(t)
	for _, ip := range fleetIPs {
		e.startDaemon(ip)
	}
	slug := fmt.Sprintf("fleet-sticky-%d", time.Now().UnixNano())
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	hosts := map[string]int{}
	for i := 0; i < 10; i++ {
		meta := filepath.Join(t.TempDir(), "m.json")
		r := s.run(t, dir, e.hostConfig(map[string]any{"metadata-file": meta}), "BUILDKITE_PIPELINE_SLUG="+slug)
		if r.Code != 0 {
			t.Fatalf("build %d: %s", i, r)
		}
		host, _ := readMetadata(t, meta)["remote-buildkit"].(map[string]any)["buildkit_host"].(string)
		hosts[host]++
	}
	if len(hosts) != 1 {
		t.Errorf("10 sequential builds of one pipeline went to %v, want one member", hosts)
	}
	first := fleet.Ordered(fleet.Key(slug, "Dockerfile"), e.members())[0]
	if hosts[first.Host] != 10 {
		t.Errorf("builds on %v, want all 10 on the rendezvous winner %s", hosts, first.Host)
	}

	// A fourth record for a member that accepts TCP and never answers; a
	// pipeline it would win still builds.
	silent := "127.0.0.34"
	silentMember(t, silent)
	e.setRecords(append(slices.Clone(fleetIPs), silent))
	var slugSilent string
	ms := e.members()
	for i := 0; i < 200 && slugSilent == ""; i++ {
		if k := fmt.Sprintf("fleet-silent-%d", i); fleet.Ordered(fleet.Key(k, "Dockerfile"), ms)[0].Host == "tcp://"+silent+":"+fleetPort {
			slugSilent = k
		}
	}
	r := s.run(t, dir, e.hostConfig(nil), "BUILDKITE_PIPELINE_SLUG="+slugSilent)
	if r.Code != 0 || !strings.Contains(r.Stderr, "skipping BuildKit node "+silent) || r.Elapsed > 10*time.Second {
		t.Errorf("want the build to go on past the silent member within the probe deadline: %s", r)
	}
}
