package diagnose

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// testEnv is a config.Env over a map; HOME is a temp dir unless given.
func testEnv(t *testing.T, m map[string]string) config.Env {
	t.Helper()
	if _, ok := m["HOME"]; !ok {
		m["HOME"] = t.TempDir()
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// parseCfg parses plugin options as the environment phase does.
func parseCfg(t *testing.T, opts map[string]any) *config.Config {
	t.Helper()
	js, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.ParseForEnvironment(js, testEnv(t, map[string]string{}), t.TempDir())
	if err != nil {
		t.Fatalf("config %s: %v", js, err)
	}
	return c
}

// stateFor is the state the daemon checks start from for cfg's default node.
func stateFor(cfg *config.Config) *state {
	s := &state{cfg: cfg}
	if cfg != nil {
		s.node, s.platforms = cfg.Default(), cfg.Platforms
	}
	return s
}

func testRunner() *Runner {
	return &Runner{Probe: 500 * time.Millisecond, Now: time.Now, Env: func(string) (string, bool) { return "", false },
		LookPath: func(string) (string, error) { return "", os.ErrNotExist }, free: freeBytes,
		clientVersion: func() string { return "v0.34.2" }}
}

// want asserts a check's status and that found and fix contain the strings.
func want(t *testing.T, c Check, status Status, found, fix string) {
	t.Helper()
	if c.Status != status || !strings.Contains(c.Found, found) || !strings.Contains(c.Fix, fix) {
		t.Errorf("got %s %q (fix %q); want %s containing %q, fix containing %q", c.Status, c.Found, c.Fix, status, found, fix)
	}
}

// testCA issues certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64 = 1

// sign creates the certificate tmpl for a new key, signed by parent (nil:
// self-signed); it returns the certificate's and the key's PEM.
func sign(t *testing.T, tmpl *x509.Certificate, parent *testCA) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	issuer, issuerKey := tmpl, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	return c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func newCA(t *testing.T, cn string, notAfter time.Time) *testCA {
	t.Helper()
	c, key, certPEM, _ := sign(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: cn},
		NotBefore: notAfter.Add(-2 * 365 * 24 * time.Hour), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	return &testCA{cert: c, key: key, pem: certPEM}
}

// notBefore starts a certificate two hours ago, or a month before it
// expires when that is earlier.
func notBefore(notAfter time.Time) time.Time {
	if nb := time.Now().Add(-2 * time.Hour); nb.Before(notAfter) {
		return nb
	}
	return notAfter.Add(-30 * 24 * time.Hour)
}

// issue returns a leaf's PEM certificate and key and the tls.Certificate;
// server leaves cover 127.0.0.1 and localhost plus names.
func (a *testCA) issue(t *testing.T, cn string, notAfter time.Time, server bool, names ...string) ([]byte, []byte, tls.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: cn},
		NotBefore: notBefore(notAfter), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = append([]string{"localhost"}, names...)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	_, _, certPEM, keyPEM := sign(t, tmpl, a)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

// tlsDir writes ca.pem and, when given, cert.pem and key.pem (mode keyMode).
func tlsDir(t *testing.T, ca, cert, key []byte, keyMode os.FileMode) string {
	t.Helper()
	d := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) {
		if b == nil {
			return
		}
		if err := os.WriteFile(filepath.Join(d, name), b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(d, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(config.CAFile, ca, 0o644)
	write(config.CertFile, cert, 0o644)
	write(config.KeyFile, key, keyMode)
	return d
}

// listen serves each connection on 127.0.0.1 with handle until the test ends.
func listen(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	faultkit.Serve(l, handle)
	return l.Addr().String()
}

// serveTLS is a TLS server with cert; chain certificates follow the leaf.
func serveTLS(t *testing.T, cert tls.Certificate, auth tls.ClientAuthType, maxVersion uint16, chain ...[]byte) string {
	t.Helper()
	cert.Certificate = append(cert.Certificate, chain...)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: auth, MaxVersion: maxVersion, NextProtos: []string{"h2"}}
	return listen(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(c, cfg)
		if tc.Handshake() == nil {
			buf := make([]byte, 1)
			tc.Read(buf) // let the client read the session
		}
	})
}

// servePlain accepts and closes, as a plaintext gRPC server answering a ClientHello can.
func servePlain(t *testing.T) string { return listen(t, func(net.Conn) {}) }

// serveHole accepts and never answers.
func serveHole(t *testing.T) string {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return listen(t, func(net.Conn) {
		select {
		case <-stop:
		case <-time.After(10 * time.Second):
		}
	})
}

// closedAddr is a 127.0.0.1 port nobody listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

type fakeDaemon struct {
	mu           sync.Mutex // the fleet check asks members in parallel
	ver          string
	err          error
	plats        []string
	platErr      error
	size         int64
	records      int
	cacheErr     error
	active       int
	infoCalls    int
	lastInfoNode config.Node
}

func (f *fakeDaemon) Info(_ context.Context, n config.Node, _ time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.infoCalls++
	f.lastInfoNode = n
	return f.ver, f.err
}
func (f *fakeDaemon) Platforms(context.Context, config.Node, time.Duration) ([]string, error) {
	return f.plats, f.platErr
}
func (f *fakeDaemon) Cache(context.Context, config.Node, time.Duration) (int64, int, error) {
	return f.size, f.records, f.cacheErr
}
func (f *fakeDaemon) Active(context.Context, config.Node, time.Duration) (int, error) {
	return f.active, f.err
}

type fakeAWS struct {
	prefix            string
	missing           []string
	err               error
	exists, immutable bool
	repoErr           error
}

func (f *fakeAWS) LocateCerts(context.Context, *config.Config, []string) (string, []string, error) {
	return f.prefix, f.missing, f.err
}
func (f *fakeAWS) Repository(context.Context, registryauth.ECRRegistry, string) (bool, bool, error) {
	return f.exists, f.immutable, f.repoErr
}

type fakeRegistry struct {
	ecr      map[string]registryauth.ECRRegistry
	status   int
	pingErr  error
	login    string
	loginErr error
}

func (f *fakeRegistry) Ping(context.Context, string) (int, error) { return f.status, f.pingErr }
func (f *fakeRegistry) Login(context.Context, string) (string, error) {
	return f.login, f.loginErr
}
func (f *fakeRegistry) ECRHost(h string) (registryauth.ECRRegistry, bool) {
	r, ok := f.ecr[h]
	return r, ok
}

type fakeBuildkite struct {
	scopes    []string
	scopesErr error
	found     bool
	state     string
	agentErr  error
}

func (f *fakeBuildkite) TokenScopes(context.Context) ([]string, error) { return f.scopes, f.scopesErr }
func (f *fakeBuildkite) Agent(context.Context, string, string) (bool, string, error) {
	return f.found, f.state, f.agentErr
}
