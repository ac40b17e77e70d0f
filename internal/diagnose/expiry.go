package diagnose

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// How long before they expire the daemon's certificate and a CA are reported.
const (
	ServerCertWarning = 30 * 24 * time.Hour
	CAWarning         = 90 * 24 * time.Hour
)

// checkServerCert reports how long the certificate the daemon presented
// stays valid.
func (r *Runner) checkServerCert(_ context.Context, s *state) Check {
	if len(s.serverCert) == 0 {
		return skip("no server certificate seen (see tls-mode)")
	}
	leaf, now := s.serverCert[0], r.Now()
	fix := "issue a new server certificate: remote-buildkit certs rotate --dir " + s.node.TLSDir
	if s.cfg != nil && s.cfg.SecretsBucket != "" {
		fix += " --bucket " + s.cfg.SecretsBucket
	}
	name := certName(leaf)
	switch left := leaf.NotAfter.Sub(now); {
	case left <= 0:
		return fail(fmt.Sprintf("the daemon's certificate %s expired on %s: clients refuse it", name, day(leaf.NotAfter)), fix)
	case left < ServerCertWarning:
		return warn(fmt.Sprintf("the daemon's certificate %s expires on %s (in %d days)", name, day(leaf.NotAfter), days(left)), fix)
	}
	return pass("the daemon's certificate %s is valid until %s (%d days)", name, day(leaf.NotAfter), days(leaf.NotAfter.Sub(now)))
}

// authority is a CA certificate and where it was found.
type authority struct {
	cert  *x509.Certificate
	where string
}

// checkCAExpiry reports the CAs that are about to expire: the client's
// ca.pem and the root the daemon sent in its chain.
func (r *Runner) checkCAExpiry(_ context.Context, s *state) Check {
	cas := s.authorities()
	if len(cas) == 0 {
		return skip("no CA certificate in tls-dir or in the daemon's chain")
	}
	now := r.Now()
	fix := "issue a new CA and certificates from it: remote-buildkit certs rotate --dir " + s.node.TLSDir + " --new-ca"
	var expired, soon, ok []string
	for _, a := range cas {
		left := a.cert.NotAfter.Sub(now)
		desc := fmt.Sprintf("CA %s (%s)", certName(a.cert), a.where)
		switch {
		case left <= 0:
			expired = append(expired, fmt.Sprintf("%s expired on %s", desc, day(a.cert.NotAfter)))
		case left < CAWarning:
			soon = append(soon, fmt.Sprintf("%s expires on %s (in %d days)", desc, day(a.cert.NotAfter), days(left)))
		default:
			ok = append(ok, fmt.Sprintf("%s valid until %s", desc, day(a.cert.NotAfter)))
		}
	}
	found := strings.Join(append(append(expired, soon...), ok...), "; ")
	switch {
	case len(expired) > 0:
		return fail(found, fix)
	case len(soon) > 0:
		return warn(found, fix+" (before the old CA expires, so both are trusted during the change)")
	}
	return pass("%s", found)
}

// authorities are the CA certificates in the client's ca.pem and the
// self-signed root at the end of the daemon's chain, each once.
func (s *state) authorities() []authority {
	var out []authority
	seen := map[string]bool{}
	add := func(c *x509.Certificate, where string) {
		if !seen[string(c.Raw)] {
			seen[string(c.Raw)] = true
			out = append(out, authority{c, where})
		}
	}
	if s.clientTLS {
		p := filepath.Join(s.node.TLSDir, config.CAFile)
		if b, err := os.ReadFile(p); err == nil {
			for _, c := range pemCerts(b) {
				add(c, p)
			}
		}
	}
	if n := len(s.serverCert); n > 1 {
		if root := s.serverCert[n-1]; root.CheckSignatureFrom(root) == nil {
			add(root, "the daemon's chain")
		}
	}
	return out
}

// pemCerts parses the certificates in b, skipping what does not parse
// (the certificates check reports that).
func pemCerts(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil && blk.Type == "CERTIFICATE" {
			out = append(out, c)
		}
	}
	return out
}

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	return fmt.Sprintf("%q", c.Subject.String())
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func days(d time.Duration) int { return int(math.Round(d.Hours() / 24)) }
