// Package diagnose checks a remote-buildkit set-up layer by layer — config,
// address, DNS, TCP, TLS, certificates and their expiry, gRPC, versions, workers, secrets
// bucket, ECR, registries, disk, agent — and says for each what it found and,
// when something is wrong, how to fix it.
package diagnose

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/buildxcfg"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
	"github.com/remote-buildkit/remote-buildkit/internal/versions"
)

// Status of a check.
type Status string

// Statuses, from best to worst.
const (
	Pass Status = "PASS"
	Skip Status = "SKIP"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Found  string `json:"found"`
	Fix    string `json:"fix,omitempty"`
	Millis int64  `json:"ms"`
}

// Report is every check, in order.
type Report struct {
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"` // no FAIL
}

// Worst returns the worst status in the report.
func (r *Report) Worst() Status {
	worst := Pass
	rank := map[Status]int{Pass: 0, Skip: 0, Warn: 1, Fail: 2}
	for _, c := range r.Checks {
		if rank[c.Status] > rank[worst] {
			worst = c.Status
		}
	}
	return worst
}

// Runner holds the inputs and the seams to the outside world.
type Runner struct {
	Config    *config.Config // nil when the configuration is invalid
	ConfigErr error
	Env       config.Env
	WorkDir   string        // the job's working directory: the step's paths (and its route key) are relative to it
	Probe     time.Duration // bound of each network check (default 3s)
	Now       func() time.Time
	LookPath  func(string) (string, error)
	Daemon    DaemonAPI // BuildKit client calls (Info, workers)
	AWS       AWSAPI    // S3 and ECR calls; nil when unavailable
	Registry  RegistryAPI
	Buildkite BuildkiteAPI // nil without BUILDKITE_API_TOKEN
	// BuildxPlan routes the job's buildx builder as the environment hook
	// would (nil: buildx is not set, no buildx check).
	BuildxPlan func(ctx context.Context) ([]buildxcfg.Node, error)

	free          func(dir string) (uint64, error)                                                             // free bytes (default statfs); tests fake it
	resolve       fleet.ResolveFunc                                                                            // default fleet.Resolve
	clientVersion func() string                                                                                // default versions.ClientVersion
	buildxInspect func(ctx context.Context, n buildxcfg.Node, timeout time.Duration) (string, []string, error) // default buildxcfg.Inspect
}

// state is what earlier checks learned, for later ones.
type state struct {
	cfg        *config.Config
	node       config.Node // the daemon the daemon checks look at
	platforms  []string    // the platforms wanted of it
	u          *url.URL
	addr       string // host:port for tcp
	tcpOK      bool
	daemonTLS  *bool // nil: unknown
	wantsCert  bool
	serverCert []*x509.Certificate
	clientTLS  bool
	connected  bool
	daemonVer  string
}

type step struct {
	name string
	run  func(ctx context.Context, s *state) Check
}

// daemonSteps are the checks of one daemon, in order.
func (r *Runner) daemonSteps() []step {
	return []step{
		{"host", r.checkHost},
		{"dns", r.checkDNS},
		{"tcp", r.checkTCP},
		{"tls-mode", r.checkTLSMode},
		{"certificates", r.checkCerts},
		{"server-cert", r.checkServerCert},
		{"ca-expiry", r.checkCAExpiry},
		{"grpc", r.checkGRPC},
		{"versions", r.checkVersions},
		{"platforms", r.checkPlatforms},
		{"cache", r.checkCache},
	}
}

// globalSteps are the checks after the daemons', in order.
func (r *Runner) globalSteps() []step {
	return []step{
		{"secrets-bucket", r.checkBucket},
		{"ecr", r.checkECR},
		{"registries", r.checkRegistries},
		{"context", r.checkContext},
		{"disk", r.checkDisk},
		{"buildkite-agent", r.checkAgent},
		{"buildkite-api", r.checkBuildkiteAPI},
	}
}

// Run performs every check in order; none takes longer than its bound.
func (r *Runner) Run(ctx context.Context) *Report {
	if r.Probe == 0 {
		r.Probe = 3 * time.Second
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.free == nil {
		r.free = freeBytes
	}
	if r.clientVersion == nil {
		r.clientVersion = versions.ClientVersion
	}
	rep := &Report{OK: true}
	run := func(st step, s *state, prefix string) {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 2*r.Probe+2*time.Second)
		c := st.run(cctx, s)
		cancel()
		c.Name = prefix + st.name
		c.Millis = time.Since(start).Milliseconds()
		if c.Status == Fail {
			rep.OK = false
		}
		rep.Checks = append(rep.Checks, c)
	}
	fleetCheck, dns := r.resolveFleet(ctx)
	s := &state{cfg: r.Config}
	if r.Config != nil {
		s.node, s.platforms = r.Config.Default(), r.Config.Platforms
	}
	run(step{"config", r.checkConfig}, s, "")
	if dns {
		run(step{"fleet-dns", func(context.Context, *state) Check { return fleetCheck }}, s, "")
	}
	if r.Config != nil && len(r.Config.Nodes) > 1 {
		// Every node gets the daemon checks, with its own connection settings.
		for _, n := range r.Config.Nodes {
			ns := &state{cfg: r.Config, node: n, platforms: r.Config.Platforms}
			if len(n.Platforms) > 0 {
				ns.platforms = n.Platforms
			}
			for _, st := range r.daemonSteps() {
				run(st, ns, n.Name+": ")
			}
		}
	} else {
		for _, st := range r.daemonSteps() {
			run(st, s, "")
		}
	}
	if r.Config != nil && len(r.Config.Nodes) > 1 {
		run(step{"fleet", r.checkFleet}, s, "")
	}
	if r.Config != nil && r.Config.Buildx != "" {
		run(step{"buildx", r.checkBuildx}, s, "")
	}
	for _, st := range r.globalSteps() {
		run(st, s, "")
	}
	return rep
}

func pass(format string, a ...any) Check {
	return Check{Status: Pass, Found: fmt.Sprintf(format, a...)}
}
func skip(format string, a ...any) Check {
	return Check{Status: Skip, Found: fmt.Sprintf(format, a...)}
}
func warn(found, fix string) Check { return Check{Status: Warn, Found: found, Fix: fix} }
func fail(found, fix string) Check { return Check{Status: Fail, Found: found, Fix: fix} }

func (r *Runner) checkConfig(_ context.Context, s *state) Check {
	if r.ConfigErr != nil {
		var cerr *config.Error
		if errors.As(r.ConfigErr, &cerr) {
			var lines []string
			for _, p := range cerr.Problems {
				lines = append(lines, p.String())
			}
			return fail("plugin configuration invalid: "+strings.Join(lines, "; "), "fix the options named above (see the configuration reference in the README)")
		}
		return fail(r.ConfigErr.Error(), "set BUILDKITE_PLUGIN_CONFIGURATION or run from the plugin's hooks")
	}
	return pass("plugin configuration valid")
}

func (r *Runner) checkHost(_ context.Context, s *state) Check {
	if s.cfg == nil || s.node.Host == "" {
		return fail("no BuildKit address", "set the buildkit-host option or BUILDKIT_HOST, e.g. tcp://buildkitd.internal:1234")
	}
	u, err := url.Parse(s.node.Host)
	if err != nil || u.Scheme == "" {
		return fail(fmt.Sprintf("%q is not an address", s.node.Host), "use tcp://host:port or unix:///path")
	}
	s.u = u
	if u.Scheme == "tcp" {
		if u.Port() == "" {
			return fail(fmt.Sprintf("%s has no port", s.node.Host), "add the port, e.g. tcp://host:1234")
		}
		s.addr = u.Host
	}
	return pass("%s", s.node.Host)
}

func (r *Runner) checkDNS(ctx context.Context, s *state) Check {
	if s.u == nil || s.u.Scheme != "tcp" {
		return skip("not a tcp:// address")
	}
	h := s.u.Hostname()
	if ip := net.ParseIP(h); ip != nil {
		return pass("%s is an IP address", h)
	}
	ctx, cancel := context.WithTimeout(ctx, r.Probe)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, h)
	if err != nil {
		return fail(fmt.Sprintf("cannot resolve %s: %v", h, oneLine(err)), "fix the host name in buildkit-host, or the agent's DNS (e.g. the VPC's private hosted zone)")
	}
	return pass("%s → %s", h, strings.Join(addrs, ", "))
}

func (r *Runner) checkTCP(ctx context.Context, s *state) Check {
	if s.u == nil {
		return skip("no address")
	}
	switch s.u.Scheme {
	case "tcp":
		d := net.Dialer{Timeout: r.Probe}
		c, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return fail(fmt.Sprintf("no TCP answer from %s within %s (packets dropped)", s.addr, r.Probe), "allow TCP "+s.u.Port()+" from the agents' security group to the builder, and check the address")
			}
			if strings.Contains(err.Error(), "refused") {
				return fail(fmt.Sprintf("connection refused by %s: nothing listens there", s.addr), "start buildkitd with --addr tcp://0.0.0.0:"+s.u.Port()+" (sudo systemctl status buildkitd), or fix buildkit-host")
			}
			return fail(fmt.Sprintf("cannot connect to %s: %v", s.addr, oneLine(err)), "check the address and the network path from the agent")
		}
		c.Close()
		s.tcpOK = true
		return pass("connected to %s", s.addr)
	case "unix":
		p := s.u.Path
		fi, err := os.Stat(p)
		if err != nil {
			return fail(fmt.Sprintf("socket %s does not exist", p), "start buildkitd with --addr unix://"+p+", or fix buildkit-host")
		}
		if fi.Mode()&os.ModeSocket == 0 {
			return fail(fmt.Sprintf("%s is not a socket", p), "point buildkit-host at buildkitd's socket")
		}
		c, err := (&net.Dialer{Timeout: r.Probe}).DialContext(ctx, "unix", p)
		if err != nil {
			return fail(fmt.Sprintf("cannot connect to %s: %v", p, oneLine(err)), "run buildkitd with --group <the agent's group>, or fix buildkit-host")
		}
		c.Close()
		s.tcpOK = true
		return pass("connected to %s", p)
	}
	return skip("%s:// is reached through its connection helper", s.u.Scheme)
}

// checkTLSMode finds out whether the daemon speaks TLS and compares that with
// this client's configuration — the cause of "error reading server preface".
func (r *Runner) checkTLSMode(ctx context.Context, s *state) Check {
	if s.cfg == nil || s.u == nil {
		return skip("no address")
	}
	tlsCfg, err := clientTLS(s.node)
	if err != nil {
		return fail(oneLine(err), "put ca.pem, cert.pem and key.pem in "+s.node.TLSDir)
	}
	s.clientTLS = tlsCfg
	if s.u.Scheme != "tcp" || !s.tcpOK {
		return skip("needs a tcp:// daemon that accepts connections")
	}
	daemonTLS, wants, chain, err := probeTLS(ctx, s.addr, r.Probe)
	if err != nil {
		return fail(fmt.Sprintf("%s accepts TCP but does not answer (%v)", s.addr, oneLine(err)), "something holds the port without serving BuildKit (a stuck daemon, a proxy, a firewall): check `sudo journalctl -u buildkitd -n 50` on the builder")
	}
	s.daemonTLS, s.wantsCert, s.serverCert = &daemonTLS, wants, chain
	client := "without TLS"
	if tlsCfg {
		client = "with TLS (files in " + s.node.TLSDir + ")"
	}
	switch {
	case daemonTLS && !tlsCfg && s.cfg.SecretsBucket != "":
		return fail("the daemon speaks TLS but "+s.node.TLSDir+" has no certificates yet: this is what `error reading server preface` means",
			"the plugin's environment hook installs them from s3://"+s.cfg.SecretsBucket+" (run `remote-buildkit environment` here to do it now)")
	case daemonTLS && !tlsCfg:
		return fail("the daemon speaks TLS but this client connects "+client+": this is what `error reading server preface` means",
			"put the daemon's CA and a client certificate in "+s.node.TLSDir+" (ca.pem, cert.pem, key.pem), or configure secrets-bucket")
	case !daemonTLS && tlsCfg:
		return fail("the daemon does not speak TLS but this client connects "+client,
			"start buildkitd with --tlscacert/--tlscert/--tlskey, or remove the certificates from tls-dir")
	case daemonTLS && wants:
		return pass("mTLS: the daemon asks for a client certificate and this client has one")
	case daemonTLS:
		return pass("TLS (the daemon does not ask for a client certificate)")
	}
	if solve.LoopbackHost(s.u.Hostname()) {
		return pass("plaintext on a loopback address")
	}
	if s.cfg.RequireTLS {
		return fail("plaintext connection to "+s.node.Host+" but require-tls is set", "start buildkitd with mTLS and provide client certificates")
	}
	return warn("plaintext connection to "+s.node.Host+": anyone who reaches the port can run builds",
		"keep the builder in a private subnet with a security group that admits only the agents, or set up mTLS")
}

func (r *Runner) checkCerts(_ context.Context, s *state) Check {
	if s.cfg == nil || !s.clientTLS {
		return skip("no client certificates configured")
	}
	return checkCertFiles(s.node, s.serverCert, s.u, r.Now())
}

func (r *Runner) checkGRPC(ctx context.Context, s *state) Check {
	if s.cfg == nil || r.Daemon == nil {
		return skip("no configuration")
	}
	if s.u != nil && (s.u.Scheme == "tcp" || s.u.Scheme == "unix") && !s.tcpOK {
		return skip("no connection")
	}
	if s.daemonTLS != nil && *s.daemonTLS != s.clientTLS {
		return skip("TLS mode mismatch (see tls-mode)")
	}
	if s.u != nil && s.u.Scheme == "tcp" && s.daemonTLS == nil {
		return skip("the daemon did not answer (see tls-mode)")
	}
	ver, err := r.Daemon.Info(ctx, s.node, r.Probe)
	if err != nil {
		return fail(oneLine(err), "see the message: it names the setting to change")
	}
	s.connected, s.daemonVer = true, ver
	return pass("BuildKit daemon %s answers Info", ver)
}

func (r *Runner) checkDisk(_ context.Context, s *state) Check {
	if s.cfg == nil || s.cfg.TLSDir == "" {
		return skip("no tls-dir")
	}
	dir := s.cfg.TLSDir
	for {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	free, err := r.free(dir)
	if err != nil {
		return warn(fmt.Sprintf("cannot read free space of %s: %v", dir, err), "")
	}
	mb := free / (1 << 20)
	switch {
	case mb < 1:
		return fail(fmt.Sprintf("%s has no free space", dir), "free disk space on the agent (certificates and tokens are written there)")
	case mb < 100:
		return warn(fmt.Sprintf("%s has only %d MB free", dir, mb), "free disk space on the agent")
	}
	return pass("%d MB free in %s", mb, dir)
}

func (r *Runner) checkAgent(ctx context.Context, _ *state) Check {
	p, err := r.LookPath("buildkite-agent")
	if err != nil {
		return warn("buildkite-agent is not on PATH", "run inside a Buildkite job or install the agent: annotations and meta-data go through it")
	}
	return pass("%s", p)
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// probeTLS sends a TLS ClientHello and reports whether the daemon answered
// with TLS and asked for a client certificate.
func probeTLS(ctx context.Context, addr string, timeout time.Duration) (isTLS, wantsCert bool, chain []*x509.Certificate, err error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, false, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	var seen []*x509.Certificate
	tc := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true, // only looking: the certificates check verifies
		NextProtos:         []string{"h2"},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			for _, b := range raw { // kept for a TLS 1.2 daemon that then rejects the empty client certificate
				if c, err := x509.ParseCertificate(b); err == nil {
					seen = append(seen, c)
				}
			}
			return nil
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			wantsCert = true
			return &tls.Certificate{}, nil
		},
	})
	herr := tc.Handshake()
	if herr == nil {
		return true, wantsCert, tc.ConnectionState().PeerCertificates, nil
	}
	var ne net.Error
	if errors.As(herr, &ne) && ne.Timeout() {
		return false, false, nil, fmt.Errorf("no TLS or gRPC answer within %s", timeout)
	}
	if strings.Contains(herr.Error(), "remote error: tls") {
		// A TLS 1.2 server that rejected our empty client certificate.
		return true, true, seen, nil
	}
	// A plaintext gRPC server answers a ClientHello with HTTP/2 bytes or closes.
	return false, false, nil, nil
}
