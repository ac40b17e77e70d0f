// Package certs installs the BuildKit client certificates from the Elastic
// CI Stack secrets bucket into tls-dir: conditional downloads, checks before
// install, and an atomic, locked swap so the previous good set survives any
// failure.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"time"
)

// ExpiryWarning is how long before a certificate expires we start warning.
const ExpiryWarning = 14 * 24 * time.Hour

// Set is one CA, client certificate and key, as PEM.
type Set struct {
	CA, Cert, Key []byte
}

// Checked is what Verify learned about a set.
type Checked struct {
	NotAfter time.Time // the earliest expiry of the client cert and the CA
	Subject  string
	Warnings []string
}

// Verify checks a set before it is installed: every PEM parses, the key
// belongs to the certificate, the certificate chains to the CA for client
// authentication, and nothing has expired. names label the files in errors.
func Verify(s Set, names [3]string, now time.Time) (*Checked, error) {
	caCerts, err := parseCerts(s.CA)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", names[0], err)
	}
	leafs, err := parseCerts(s.Cert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", names[1], err)
	}
	if block, _ := pem.Decode(s.Key); block == nil {
		return nil, fmt.Errorf("%s: no PEM private key found (is it the right file, and not encrypted?)", names[2])
	}
	if _, err := tls.X509KeyPair(s.Cert, s.Key); err != nil {
		return nil, fmt.Errorf("%s does not belong to %s: %v (upload the key generated with this certificate)", names[2], names[1], err)
	}
	leaf := leafs[0]
	roots := x509.NewCertPool()
	for _, c := range caCerts {
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range leafs[1:] {
		inter.AddCert(c)
	}
	out := &Checked{NotAfter: leaf.NotAfter, Subject: leaf.Subject.String()}
	for _, c := range append([]*x509.Certificate{leaf}, caCerts...) {
		name := names[1]
		if c != leaf {
			name = names[0]
		}
		if now.After(c.NotAfter) {
			return nil, fmt.Errorf("%s expired on %s: issue a new certificate and upload it to the secrets bucket", name, c.NotAfter.UTC().Format(time.DateOnly))
		}
		if now.Before(c.NotBefore) {
			return nil, fmt.Errorf("%s is not valid before %s: check the agent's clock or reissue it", name, c.NotBefore.UTC().Format(time.RFC3339))
		}
		if c.NotAfter.Before(out.NotAfter) {
			out.NotAfter = c.NotAfter
		}
		if c.NotAfter.Sub(now) < ExpiryWarning {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s expires on %s (in %d days): issue a new one and upload it to the secrets bucket",
				name, c.NotAfter.UTC().Format(time.DateOnly), int(math.Round(c.NotAfter.Sub(now).Hours()/24))))
		}
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		var uae x509.UnknownAuthorityError
		if errors.As(err, &uae) {
			return nil, fmt.Errorf("%s is not signed by the CA in %s: upload the CA that issued it, or a certificate issued by this CA", names[1], names[0])
		}
		return nil, fmt.Errorf("%s does not chain to %s for client authentication: %v", names[1], names[0], err)
	}
	return out, nil
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate does not parse: %v", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found (corrupt or wrong file)")
	}
	return certs, nil
}
