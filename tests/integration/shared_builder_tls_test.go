package integration

// TLS fails closed: once anything asks for TLS, a job whose
// certificates are missing fails naming the file, and nothing reaches the
// daemon's address in plaintext — for a single host, a pool and a dns://
// fleet. The daemon's address is a plaintext listener that counts the
// connections it accepts (whoever answers there would get the session:
// secrets, registry logins, the ssh-agent).

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// plainListener accepts connections on addr and counts them.
type plainListener struct {
	l     net.Listener
	Addr  string // host:port
	conns atomic.Int64
}

func listenPlain(t *testing.T, addr string) *plainListener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	p := &plainListener{l: l, Addr: l.Addr().String()}
	faultkit.Serve(l, func(net.Conn) { p.conns.Add(1) })
	t.Cleanup(func() { l.Close() })
	return p
}

// tlsTarget is one way of naming the daemons: a single host, a pool, a
// dns:// fleet; its listeners stand where the daemons would.
type tlsTarget struct {
	name      string
	cfg       map[string]any
	listeners []*plainListener
}

func tlsTargets(t *testing.T) []tlsTarget {
	single := listenPlain(t, "127.0.0.1:0")
	p1, p2 := listenPlain(t, "127.0.0.1:0"), listenPlain(t, "127.0.0.1:0")
	e := newFleetEnv(t)
	var members []*plainListener
	for _, ip := range fleetIPs {
		members = append(members, listenPlain(t, ip+":"+fleetPort))
	}
	return []tlsTarget{
		{"single", map[string]any{"buildkit-host": "tcp://" + single.Addr}, []*plainListener{single}},
		{"pool", map[string]any{"buildkit-host": []string{"tcp://" + p1.Addr, "tcp://" + p2.Addr}}, []*plainListener{p1, p2}},
		{"dns", map[string]any{"buildkit-host": "dns://" + fleetName + ":" + fleetPort, "dns-server": e.Server}, members},
	}
}

func (tt tlsTarget) seen() int64 {
	var n int64
	for _, l := range tt.listeners {
		n += l.conns.Load()
	}
	return n
}

func withCfg(base map[string]any, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// A secrets bucket configured, then: the bucket without key.pem, or the
// installed certificates deleted between the environment and the command
// hook. Each fails the step naming what is missing, and no plaintext
// connection reaches the daemon's address.
func TestSharedBuilderTLSFailsClosed(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	ca := stackCA(t)
	full := newBucket(t, s3Client(a.Moto, "test", "test"))
	full.putSet("buildkit/", ca.valid(t, "tls-fails-closed"))
	noKey := newBucket(t, s3Client(a.Moto, "test", "test"))
	set := ca.valid(t, "tls-no-key")
	noKey.put("buildkit/ca.pem", set.CA)
	noKey.put("buildkit/cert.pem", set.Cert)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo never\n"})
	for _, tt := range tlsTargets(t) {
		for _, c := range []struct {
			name, bucket, after, want string
			installed                 bool // certificates in ~/.buildkit before the job, no TLS option
		}{
			{"bucket without key.pem", noKey.Name, "", "key.pem", false},
			{"certificates deleted before the command hook", full.Name, `rm -f "$HOME/.buildkit/"*.pem`, "ca.pem, cert.pem, key.pem", false},
			{"installed certificates deleted before the command hook", "", `rm -f "$HOME/.buildkit/"*.pem`, "the environment hook found certificates", true},
		} {
			t.Run(tt.name+"/"+c.name, func(t *testing.T) {
				home := t.TempDir()
				cfg := tt.cfg
				if c.installed {
					writeSet(t, filepath.Join(home, ".buildkit"), ca.valid(t, "installed"))
				} else {
					cfg = withCfg(tt.cfg, map[string]any{"secrets-bucket": c.bucket})
				}
				before := tt.seen()
				r := a.hooks(t, s, hookRun{Home: home, Dir: dir, Cfg: cfg, Build: true, After: c.after})
				if got := tt.seen() - before; got != 0 {
					t.Errorf("ATTACK: the plaintext listener at the daemon's address accepted %d connection(s)", got)
				}
				if r.Code == 0 {
					t.Fatalf("the job succeeded: %s", r)
				}
				lines := errorLines(r.Stderr)
				if len(lines) != 1 || !strings.Contains(lines[0], c.want) {
					t.Errorf("want one error line naming %q, got %q\n%s", c.want, lines, r)
				}
				t.Logf("exit %d: %s", r.Code, strings.Join(lines, " | "))
			})
		}
	}
}

// With nothing asking for TLS (no bucket, no tls-dir, no certificates, no
// require-tls) a tcp daemon is used in plaintext, with the warning for a
// non-loopback address.
func TestSharedBuilderNoTLSConfiguredBuilds(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	plain := os.Getenv("STACK_PLAIN_BUILDKIT_HOST")
	if plain == "" {
		t.Fatal("STACK_PLAIN_BUILDKIT_HOST is unset: re-run `make stack-up`")
	}
	dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo plain > /plain\n", s.BaseImage)})
	r := a.hooks(t, s, hookRun{Dir: dir, Cfg: map[string]any{"buildkit-host": plain}, Build: true})
	if r.Code != 0 {
		t.Fatalf("a plaintext job without any TLS configured failed: %s", r)
	}
	if !strings.Contains(r.Stdout, "(no TLS") && !strings.Contains(r.Stdout, "no TLS") {
		t.Errorf("the build does not say it used no TLS: %s", r)
	}
	// The warning is for non-loopback addresses (the environment hook does not dial).
	r = a.hooks(t, s, hookRun{Cfg: map[string]any{"buildkit-host": "tcp://10.9.8.7:1234"}})
	if r.Code != 0 || !strings.Contains(r.Stderr, "WARNING: tcp://10.9.8.7:1234 will be used without TLS") {
		t.Errorf("want exit 0 with the plaintext warning: %s", r)
	}
}
