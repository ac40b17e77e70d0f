package diagnose

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// host, dns and tcp, in order, against real listeners.
func TestAddressChecks(t *testing.T) {
	up := listen(t, func(net.Conn) {})
	_, port, _ := net.SplitHostPort(up)
	dir := t.TempDir()
	sock := filepath.Join(dir, "buildkitd.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, nil, 0o644)

	tests := []struct {
		name, host, check string
		status            Status
		found, fix        string
	}{
		{"no address", "", "host", Fail, "no BuildKit address", "buildkit-host"},
		{"not an address", "buildkitd", "host", Fail, `"buildkitd" is not an address`, "tcp://host:port"},
		{"no port", "tcp://127.0.0.1", "host", Fail, "has no port", "add the port"},
		{"tcp address", "tcp://" + up, "host", Pass, "tcp://" + up, ""},
		{"ip needs no dns", "tcp://" + up, "dns", Pass, "127.0.0.1 is an IP address", ""},
		{"localhost resolves", "tcp://localhost:" + port, "dns", Pass, "localhost →", ""},
		{"unresolvable", "tcp://no-such-host.invalid:1234", "dns", Fail, "cannot resolve no-such-host.invalid", "DNS"},
		{"unix has no dns", "unix://" + sock, "dns", Skip, "not a tcp:// address", ""},
		{"tcp connects", "tcp://" + up, "tcp", Pass, "connected to " + up, ""},
		{"tcp refused", "tcp://" + closedAddr(t), "tcp", Fail, "connection refused", "start buildkitd with --addr tcp://0.0.0.0:"},
		{"no address to dial", "buildkitd", "tcp", Skip, "no address", ""},
		{"unix connects", "unix://" + sock, "tcp", Pass, "connected to " + sock, ""},
		{"unix missing", "unix://" + filepath.Join(dir, "none.sock"), "tcp", Fail, "does not exist", "--addr unix://"},
		{"unix not a socket", "unix://" + regular, "tcp", Fail, "is not a socket", "buildkitd's socket"},
		{"unix nobody listens", "unix://" + stale, "tcp", Fail, "cannot connect to " + stale, "--group"},
		{"connection helper", "docker-container://buildkitd", "tcp", Skip, "docker-container:// is reached through its connection helper", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			s := &state{cfg: parseCfg(t, map[string]any{}), node: config.Node{Host: tt.host}}
			got := map[string]Check{}
			for _, st := range []step{{"host", r.checkHost}, {"dns", r.checkDNS}, {"tcp", r.checkTCP}} {
				got[st.name] = st.run(context.Background(), s)
			}
			want(t, got[tt.check], tt.status, tt.found, tt.fix)
		})
	}
}

func TestHostWithoutConfig(t *testing.T) {
	want(t, testRunner().checkHost(context.Background(), &state{}), Fail, "no BuildKit address", "BUILDKIT_HOST")
}

// A dial that does not complete is a FAIL whichever way the network says no.
func TestTCPUnanswered(t *testing.T) {
	r := testRunner()
	r.Probe = 200 * time.Millisecond
	s := &state{cfg: parseCfg(t, map[string]any{}), node: config.Node{Host: "tcp://192.0.2.1:1234"}} // TEST-NET-1
	r.checkHost(context.Background(), s)
	c := r.checkTCP(context.Background(), s)
	if c.Status != Fail || s.tcpOK {
		t.Errorf("got %+v, want FAIL", c)
	}
}

// tlsState is the state after host and tcp for addr, with the node's tls-dir.
func tlsState(t *testing.T, r *Runner, addr, dir string, dirSet bool, opts map[string]any) *state {
	t.Helper()
	cfg := parseCfg(t, opts)
	s := &state{cfg: cfg, node: config.Node{Host: "tcp://" + addr, TLSDir: dir, TLSDirSet: dirSet}}
	if c := r.checkHost(context.Background(), s); c.Status != Pass {
		t.Fatalf("host: %+v", c)
	}
	r.checkTCP(context.Background(), s)
	return s
}

func TestTLSMode(t *testing.T) {
	ca := newCA(t, "test CA", time.Now().Add(365*24*time.Hour))
	_, _, server := ca.issue(t, "buildkitd", time.Now().Add(200*24*time.Hour), true)
	cert, key, _ := ca.issue(t, "agent", time.Now().Add(200*24*time.Hour), false)
	mtls := serveTLS(t, server, tls.RequireAnyClientCert, 0)
	mtls12 := serveTLS(t, server, tls.RequireAnyClientCert, tls.VersionTLS12)
	serverOnly := serveTLS(t, server, tls.NoClientCert, 0)
	plain, hole := servePlain(t), serveHole(t)
	client := tlsDir(t, ca.pem, cert, key, 0o600)
	none := t.TempDir()

	tests := []struct {
		name      string
		addr, dir string
		dirSet    bool
		opts      map[string]any
		remote    string // a host name the daemon is reached under, instead of 127.0.0.1
		status    Status
		found     string
		fix       string
		chain     bool
	}{
		{"mTLS", mtls, client, true, nil, "", Pass, "mTLS: the daemon asks for a client certificate", "", true},
		{"mTLS over TLS 1.2", mtls12, client, true, nil, "", Pass, "mTLS", "", true},
		{"server-only TLS", serverOnly, client, true, nil, "", Pass, "does not ask for a client certificate", "", true},
		{"tls-dir set but empty", mtls, none, true, nil, "", Fail, "TLS files missing", "put ca.pem, cert.pem and key.pem in " + none, false},
		{"black hole", hole, client, true, nil, "", Fail, "accepts TCP but does not answer", "journalctl", false},
		{"no certificates yet, bucket set", mtls, none, false, map[string]any{"secrets-bucket": "certs"}, "", Fail, "has no certificates yet", "s3://certs", true},
		{"plaintext client to TLS daemon", mtls, none, false, nil, "", Fail, "error reading server preface", "(ca.pem, cert.pem, key.pem)", true},
		{"TLS client to plaintext daemon", plain, client, true, nil, "", Fail, "does not speak TLS", "--tlscacert", false},
		{"plaintext on loopback", plain, none, false, nil, "", Pass, "plaintext on a loopback address", "", false},
		{"plaintext, require-tls", plain, none, false, map[string]any{"require-tls": true}, "builder.internal", Fail, "but require-tls is set", "mTLS", false},
		{"plaintext on the network", plain, none, false, nil, "builder.internal", Warn, "anyone who reaches the port can run builds", "private subnet", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			s := tlsState(t, r, tt.addr, tt.dir, tt.dirSet, tt.opts)
			if tt.remote != "" {
				s.u.Host = tt.remote + ":" + s.u.Port()
				s.node.Host = "tcp://" + s.u.Host
			}
			want(t, r.checkTLSMode(context.Background(), s), tt.status, tt.found, tt.fix)
			if got := len(s.serverCert) > 0; got != tt.chain {
				t.Errorf("server chain seen: %v, want %v", got, tt.chain)
			}
		})
	}
}

func TestTLSModeSkips(t *testing.T) {
	r := testRunner()
	want(t, r.checkTLSMode(context.Background(), &state{}), Skip, "no address", "")
	s := tlsState(t, r, closedAddr(t), t.TempDir(), false, nil)
	want(t, r.checkTLSMode(context.Background(), s), Skip, "needs a tcp:// daemon that accepts connections", "")
}
