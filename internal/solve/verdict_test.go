package solve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/pki"
	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// verdictDaemon is a TLS 1.3 listener that requires client certificates of
// ca, as buildkitd's does, and answers an accepted client with bytes (the
// HTTP/2 settings gRPC sends first). It returns its tcp:// address.
func verdictDaemon(t *testing.T, ca *pki.Authority) string {
	t.Helper()
	now := time.Now()
	srv, err := ca.Issue(pki.ServerAuth, "daemon", nil, []net.IP{net.IPv4(127, 0, 0, 1)}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(srv.Cert, srv.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	faultkit.Serve(l, func(c net.Conn) {
		if c.(*tls.Conn).Handshake() == nil {
			c.Write([]byte("settings"))
			c.Read(make([]byte, 1))
		}
	})
	return "tcp://" + l.Addr().String()
}

// writeVerdictSet writes ca.pem, and cert.pem and key.pem issued by signer, into a new directory.
func writeVerdictSet(t *testing.T, ca, signer *pki.Authority) TLS {
	t.Helper()
	dir := t.TempDir()
	leaf, err := signer.Issue(pki.ClientAuth, "client", nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	set := TLS{Enabled: true, CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), ClientCertUsed: true}
	for path, b := range map[string][]byte{set.CA: ca.PEM, set.Cert: leaf.Cert, set.Key: leaf.Key} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return set
}

// A reset that hid the daemon's rejection of our client certificate (TLS
// 1.3 sends it after the handshake; gRPC's preface turns it into a reset)
// read as a restart and was waited on. certVerdict asks again without
// writing and gets the alert; any other reset stays a reset.
func TestCertVerdict(t *testing.T) {
	now := time.Now()
	ca, _, err := pki.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := pki.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	host := verdictDaemon(t, ca)
	trusted, stranger := writeVerdictSet(t, ca, ca), writeVerdictSet(t, ca, other)
	serverOnly := stranger
	serverOnly.ClientCertUsed = false
	reset := errors.New(`rpc error: code = Unavailable desc = connection error: desc = "error reading server preface: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"`)
	refused := errors.New(`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:2: connect: connection refused"`)
	cases := []struct {
		name string
		host string
		tls  TLS
		err  error
		want string // in the returned error; "" = err unchanged
	}{
		{"another CA's client certificate", host, stranger, reset, "remote error: tls:"},
		{"no client certificate", host, serverOnly, reset, "remote error: tls: certificate required"},
		{"accepted: the reset was something else", host, trusted, reset, ""},
		{"not a reset", host, stranger, refused, ""},
		{"no TLS", host, TLS{}, reset, ""},
		{"not tcp://", "unix:///run/buildkit.sock", stranger, reset, ""},
		{"nobody listening", "tcp://127.0.0.1:1", stranger, reset, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if transportCause(tc.err.Error()) == "" && tc.err == reset {
				t.Fatal("the reset is not transient: the case shows nothing")
			}
			got := certVerdict(context.Background(), tc.err, config.Node{Host: tc.host}, tc.tls)
			if tc.want == "" {
				if got != tc.err {
					t.Fatalf("want the error unchanged, got %v", got)
				}
				return
			}
			if !strings.Contains(got.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, got)
			}
			if c := transportCause(got.Error()); c != "" {
				t.Errorf("the alert is still waited on as %q", c)
			}
		})
	}
}
