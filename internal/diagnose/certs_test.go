package diagnose

import (
	"context"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

const day24 = 24 * time.Hour

func chainOf(t *testing.T, pems ...[]byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, p := range pems {
		out = append(out, pemCerts(p)...)
	}
	return out
}

func TestCertificates(t *testing.T) {
	now := time.Now()
	ca := newCA(t, "test CA", now.Add(365*day24))
	other := newCA(t, "other CA", now.Add(365*day24))
	cert, key, _ := ca.issue(t, "agent", now.Add(200*day24), false)
	soonCert, soonKey, _ := ca.issue(t, "agent", now.Add(5*day24), false)
	oldCert, oldKey, _ := ca.issue(t, "agent", now.Add(-time.Hour), false)
	server, _, _ := ca.issue(t, "buildkitd", now.Add(200*day24), true, "builder.internal")
	expiredServer, _, _ := ca.issue(t, "buildkitd", now.Add(-day24), true)
	foreignServer, _, _ := other.issue(t, "buildkitd", now.Add(200*day24), true)
	good := tlsDir(t, ca.pem, cert, key, 0o600)

	tests := []struct {
		name       string
		dir        string
		chain      []*x509.Certificate
		serverName string
		status     Status
		found, fix string
	}{
		{"client set valid", good, nil, "", Pass, "client certificate valid until " + day(now.Add(200*day24)), ""},
		{"CA missing", tlsDir(t, nil, cert, key, 0o600), nil, "", Fail, "ca.pem is missing", "secrets bucket"},
		{"key readable by others", tlsDir(t, ca.pem, cert, key, 0o644), nil, "", Fail, "key.pem has mode 0644: the private key is readable by other users", "chmod 600"},
		{"client certificate expired", tlsDir(t, ca.pem, oldCert, oldKey, 0o600), nil, "", Fail, "expired on", "upload a matching, current set"},
		{"client certificate from another CA", tlsDir(t, other.pem, cert, key, 0o600), nil, "", Fail, "not signed by the CA", "upload"},
		{"client certificate expires soon", tlsDir(t, ca.pem, soonCert, soonKey, 0o600), nil, "", Warn, "expires on", "issue new certificates"},
		{"server trusted and named", good, chainOf(t, server), "", Pass, "server certificate covers 127.0.0.1, valid until", ""},
		{"server name set", good, chainOf(t, server), "builder.internal", Pass, "covers builder.internal", ""},
		{"server name not covered", good, chainOf(t, server), "wrong.example", Fail, `does not cover "wrong.example" (it is valid for localhost, builder.internal, 127.0.0.1)`, "tls-server-name"},
		{"server from another CA", good, chainOf(t, foreignServer), "", Fail, "the daemon's certificate is not trusted by ca.pem", "--tlscert"},
		{"server expired: server-cert says so", good, chainOf(t, expiredServer), "", Pass, "server certificate covers 127.0.0.1", ""},
		{"CA only, not a certificate", tlsDir(t, []byte("not PEM"), nil, nil, 0), chainOf(t, server), "", Fail, "ca.pem holds no certificate", "daemon's CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			s := &state{cfg: &config.Config{}, clientTLS: true, serverCert: tt.chain,
				node: config.Node{Host: "tcp://127.0.0.1:1234", TLSDir: tt.dir, TLSServerName: tt.serverName}}
			s.u, _ = url.Parse(s.node.Host)
			want(t, r.checkCerts(context.Background(), s), tt.status, tt.found, tt.fix)
		})
	}
	want(t, testRunner().checkCerts(context.Background(), &state{cfg: &config.Config{}}), Skip, "no client certificates", "")
}

func TestServerCert(t *testing.T) {
	now := time.Now()
	ca := newCA(t, "test CA", now.Add(365*day24))
	leaf := func(left time.Duration) []*x509.Certificate {
		p, _, _ := ca.issue(t, "buildkitd", now.Add(left), true)
		return chainOf(t, p)
	}
	tests := []struct {
		name       string
		chain      []*x509.Certificate
		bucket     string
		status     Status
		found, fix string
	}{
		{"valid", leaf(200 * day24), "", Pass, `the daemon's certificate "buildkitd" is valid until ` + day(now.Add(200*day24)) + " (200 days)", ""},
		{"expires within 30 days", leaf(20 * day24), "", Warn, "expires on " + day(now.Add(20*day24)) + " (in 20 days)", "remote-buildkit certs rotate --dir /etc/bk"},
		{"expired", leaf(-day24), "", Fail, "expired on " + day(now.Add(-day24)), "remote-buildkit certs rotate --dir /etc/bk"},
		{"fix names the bucket", leaf(-day24), "certs", Fail, "expired", "remote-buildkit certs rotate --dir /etc/bk --bucket certs"},
		{"no chain", nil, "", Skip, "no server certificate seen", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &state{cfg: &config.Config{SecretsBucket: tt.bucket}, serverCert: tt.chain, node: config.Node{TLSDir: "/etc/bk"}}
			want(t, testRunner().checkServerCert(context.Background(), s), tt.status, tt.found, tt.fix)
		})
	}
}

func TestCAExpiry(t *testing.T) {
	now := time.Now()
	long := newCA(t, "long CA", now.Add(365*day24))
	soon := newCA(t, "soon CA", now.Add(60*day24))
	gone := newCA(t, "gone CA", now.Add(-day24))
	server, _, _ := long.issue(t, "buildkitd", now.Add(200*day24), true)
	both := append(append([]byte{}, long.pem...), soon.pem...)
	tests := []struct {
		name       string
		ca         []byte // client ca.pem; nil: no client TLS
		chain      []*x509.Certificate
		status     Status
		found, fix string
		cas        int
	}{
		{"CA valid", long.pem, nil, Pass, `CA "long CA" (`, "", 1},
		{"CA expires within 90 days", soon.pem, nil, Warn, `CA "soon CA"`, "remote-buildkit certs rotate --dir", 1},
		{"CA expired", gone.pem, nil, Fail, `CA "gone CA"`, "--new-ca", 1},
		{"bundle with one expiring", both, nil, Warn, "expires on " + day(now.Add(60*day24)) + " (in 60 days)", "--new-ca", 2},
		{"root in the daemon's chain only", nil, chainOf(t, server, soon.pem), Warn, `CA "soon CA" (the daemon's chain)`, "--new-ca", 1},
		{"same CA in ca.pem and the chain, once", long.pem, chainOf(t, server, long.pem), Pass, "valid until " + day(now.Add(365*day24)), "", 1},
		{"leaf only in the chain", nil, chainOf(t, server), Skip, "no CA certificate", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &state{cfg: &config.Config{}, serverCert: tt.chain, node: config.Node{TLSDir: t.TempDir()}}
			if tt.ca != nil {
				s.node.TLSDir, s.clientTLS = tlsDir(t, tt.ca, nil, nil, 0), true
			}
			c := testRunner().checkCAExpiry(context.Background(), s)
			want(t, c, tt.status, tt.found, tt.fix)
			if strings.Count(c.Found, `CA "`) != tt.cas {
				t.Errorf("%q names %d CAs, want %d", c.Found, strings.Count(c.Found, `CA "`), tt.cas)
			}
		})
	}
}
