package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return t0 }

func initDir(t *testing.T, names, ips []string) Layout {
	t.Helper()
	out := filepath.Join(t.TempDir(), "certs")
	var log bytes.Buffer
	if err := Init(InitOptions{Out: out, ServerNames: names, IPs: ips, CAValidity: DefaultCAValidity, Validity: DefaultValidity}, clock, &log); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if !strings.Contains(log.String(), "keep "+filepath.Join(out, "ca")+" offline") {
		t.Errorf("Init does not say to keep the CA offline:\n%s", log.String())
	}
	return Layout(out)
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cs := mustCerts(t, path)
	return cs[0]
}

func mustCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ParseCerts(b)
	if err != nil || len(cs) == 0 {
		t.Fatalf("%s: no certificate (%v)", path, err)
	}
	return cs
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInitSANsAndUsages(t *testing.T) {
	for _, tc := range []struct {
		name      string
		names     []string
		ips       []string
		wantDNS   []string
		wantIPs   []string
		wantCN    string
		wantError string
	}{
		{name: "one name", names: []string{"buildkit.internal"}, wantDNS: []string{"buildkit.internal"}, wantCN: "buildkit.internal"},
		{name: "names and ips", names: []string{"a.example", "b.example"}, ips: []string{"10.0.1.20", "::1"},
			wantDNS: []string{"a.example", "b.example"}, wantIPs: []string{"10.0.1.20", "::1"}, wantCN: "a.example"},
		{name: "an IP given as a server name", names: []string{"127.0.0.1"}, wantIPs: []string{"127.0.0.1"}, wantCN: "127.0.0.1"},
		{name: "ip only", ips: []string{"192.0.2.7"}, wantIPs: []string{"192.0.2.7"}, wantCN: "192.0.2.7"},
		{name: "missing --server-name", wantError: "--server-name is required"},
		{name: "a URL", names: []string{"tcp://b:1234"}, wantError: `--server-name "tcp://b:1234" is not a host name`},
		{name: "bad ip", names: []string{"b"}, ips: []string{"10.0.0"}, wantError: `--ip "10.0.0" is not an IP address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantError != "" {
				out := filepath.Join(t.TempDir(), "certs")
				err := Init(InitOptions{Out: out, ServerNames: tc.names, IPs: tc.ips, CAValidity: DefaultCAValidity, Validity: DefaultValidity}, clock, &bytes.Buffer{})
				if err == nil || !strings.Contains(err.Error(), tc.wantError) || exitcode.Of(err) != exitcode.BadConfig {
					t.Fatalf("err = %v (exit %d), want %q, exit 2", err, exitcode.Of(err), tc.wantError)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("%s was created on error", out)
				}
				return
			}
			l := initDir(t, tc.names, tc.ips)
			server := mustCert(t, l.Path(DaemonDir, ServerFile))
			if !slices.Equal(server.DNSNames, tc.wantDNS) {
				t.Errorf("DNS SANs %v, want %v", server.DNSNames, tc.wantDNS)
			}
			var ips []string
			for _, ip := range server.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tc.wantIPs) {
				t.Errorf("IP SANs %v, want %v", ips, tc.wantIPs)
			}
			if server.Subject.CommonName != tc.wantCN {
				t.Errorf("server CN %q, want %q", server.Subject.CommonName, tc.wantCN)
			}
			checkUsages(t, l)
		})
	}
}

// checkUsages: server certs serve, client certs authenticate clients, both
// chain to the CA, all keys are P-256, validity as asked.
func checkUsages(t *testing.T, l Layout) {
	t.Helper()
	ca := mustCert(t, l.Path(CADir, CAFile))
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA %v, key usage %b", ca.IsCA, ca.KeyUsage)
	}
	if want := t0.Add(DefaultCAValidity); !ca.NotAfter.Equal(want) {
		t.Errorf("CA valid until %s, want %s", ca.NotAfter, want)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, c := range []struct {
		path string
		use  x509.ExtKeyUsage
		not  x509.ExtKeyUsage
	}{
		{l.Path(DaemonDir, ServerFile), x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		{l.Path(ClientDir, ClientCert), x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	} {
		leaf := mustCert(t, c.path)
		if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{c.use}) || leaf.IsCA {
			t.Errorf("%s: ext key usage %v (IsCA %v), want only %v", c.path, leaf.ExtKeyUsage, leaf.IsCA, c.use)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{c.use}}); err != nil {
			t.Errorf("%s does not chain to the CA for %v: %v", c.path, c.use, err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{c.not}}); err == nil {
			t.Errorf("%s also verifies for %v", c.path, c.not)
		}
		if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key is %T, want ECDSA P-256", c.path, leaf.PublicKey)
		}
		if want := t0.Add(DefaultValidity); !leaf.NotAfter.Equal(want) {
			t.Errorf("%s valid until %s, want %s", c.path, leaf.NotAfter, want)
		}
	}
	for _, set := range []string{DaemonDir, ClientDir} {
		if !bytes.Equal(mustRead(t, l.Path(set, CAFile)), mustRead(t, l.Path(CADir, CAFile))) {
			t.Errorf("%s/ca.pem differs from ca/ca.pem", set)
		}
	}
	for _, k := range []string{l.Path(CADir, CAKeyFile), l.Path(DaemonDir, ServerKey), l.Path(ClientDir, ClientKey)} {
		if b, _ := pem.Decode(mustRead(t, k)); b == nil || b.Type != "PRIVATE KEY" {
			t.Errorf("%s is not a PKCS#8 PEM key", k)
		}
	}
}

func TestInitModes(t *testing.T) {
	l := initDir(t, []string{"b"}, nil)
	want := map[string]os.FileMode{".": 0o700, CADir: 0o700, DaemonDir: 0o700, ClientDir: 0o700}
	for _, set := range []string{CADir, DaemonDir, ClientDir} {
		entries, err := os.ReadDir(filepath.Join(string(l), set))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Errorf("%s is empty", set)
		}
		for _, e := range entries {
			want[filepath.Join(set, e.Name())] = 0o600
		}
	}
	if len(want) != 4+8 {
		t.Errorf("%d entries, want 3 dirs and 8 files: %v", len(want)-1, want)
	}
	for rel, mode := range want {
		fi, err := os.Stat(filepath.Join(string(l), rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", rel, fi.Mode().Perm(), mode)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(string(l)))
	if len(entries) != 1 {
		t.Errorf("temp directories left beside the output: %v", entries)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, out string)
		ok    bool
	}{
		{name: "existing certs", setup: func(t *testing.T, out string) {
			if err := Init(InitOptions{Out: out, ServerNames: []string{"b"}, CAValidity: DefaultCAValidity, Validity: DefaultValidity}, clock, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "any file", setup: func(t *testing.T, out string) {
			os.Mkdir(out, 0o755)
			os.WriteFile(filepath.Join(out, "notes.txt"), []byte("x"), 0o644)
		}},
		{name: "a file at the path", setup: func(t *testing.T, out string) { os.WriteFile(out, []byte("x"), 0o644) }},
		{name: "an empty directory is used", setup: func(t *testing.T, out string) { os.Mkdir(out, 0o755) }, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "certs")
			tc.setup(t, out)
			before := snapshot(t, filepath.Dir(out))
			err := Init(InitOptions{Out: out, ServerNames: []string{"b"}, CAValidity: DefaultCAValidity, Validity: DefaultValidity}, clock, &bytes.Buffer{})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o700 {
					t.Errorf("mode %o, want 700", fi.Mode().Perm())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "--out "+out) || exitcode.Of(err) != exitcode.BadConfig {
				t.Fatalf("err = %v (exit %d), want an --out error, exit 2", err, exitcode.Of(err))
			}
			if after := snapshot(t, filepath.Dir(out)); !maps(before, after) {
				t.Errorf("files changed on refusal:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// snapshot maps every path below dir to its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		} else if err == nil {
			m[p] = "/"
		}
		return nil
	})
	return m
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestIssueClampsToCA(t *testing.T) {
	ca, _, err := NewCA(t0, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(ClientAuth, "c", nil, nil, t0, DefaultValidity)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Clamped || !leaf.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf valid until %s (clamped %v), want the CA's %s", leaf.NotAfter, leaf.Clamped, ca.Cert.NotAfter)
	}
	names := [3]string{"ca", "cert", "key"}
	if _, err := certs.Verify(certs.Set{CA: ca.PEM, Cert: leaf.Cert, Key: leaf.Key}, names, t0); err != nil {
		t.Errorf("certs.Verify: %v", err)
	}
}
