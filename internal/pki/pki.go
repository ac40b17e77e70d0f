// Package pki creates and rotates the certificates of a remote BuildKit
// daemon and its clients (remote-buildkit certs init/rotate), uploads the
// client set to the secrets bucket (certs upload), and writes a buildkitd
// configuration that uses them (builder-config).
//
// A directory made by Init holds three sets:
//
//	DIR/daemon/ ca.pem server.pem server-key.pem   buildkitd --tlscacert --tlscert --tlskey
//	DIR/client/ ca.pem cert.pem key.pem            the agents' tls-dir (buildctl --tlsdir)
//	DIR/ca/     ca.pem ca-key.pem                  the CA; keep it offline
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// Default validity periods.
const (
	DefaultCAValidity = 5 * 365 * 24 * time.Hour
	DefaultValidity   = 365 * 24 * time.Hour
	// backdate covers clocks that are a little behind the one that issued.
	backdate = 5 * time.Minute
)

// Days is n days, for the --days and --ca-days flags.
func Days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// Authority is a CA that signs server and client certificates.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte // the certificate
}

// Leaf is an issued certificate and its private key, as PEM.
type Leaf struct {
	Cert, Key []byte
	NotAfter  time.Time
	Clamped   bool // the requested validity outlived the CA: NotAfter is the CA's
}

// Usage says what a leaf certificate is for.
type Usage int

const (
	ServerAuth Usage = iota
	ClientAuth
)

// NewCA creates a self-signed ECDSA P-256 CA valid from now for validity;
// it returns the CA and its private key as PEM.
func NewCA(now time.Time, validity time.Duration) (*Authority, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{Organization: []string{"remote-buildkit"}, CommonName: fmt.Sprintf("remote-buildkit CA %s %08x", now.UTC().Format(time.DateOnly), sn.Uint64()&0xffffffff)},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &Authority{Cert: cert, Key: key, PEM: encodeCert(der)}, keyPEM, nil
}

// Issue signs a new ECDSA P-256 key for usage. dns and ips are the subject
// alternative names (servers); the validity is cut to the CA's.
func (a *Authority) Issue(usage Usage, cn string, dns []string, ips []net.IP, now time.Time, validity time.Duration) (Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Leaf{}, err
	}
	sn, err := serial()
	if err != nil {
		return Leaf{}, err
	}
	ext := x509.ExtKeyUsageServerAuth
	if usage == ClientAuth {
		ext = x509.ExtKeyUsageClientAuth
	}
	leaf := Leaf{NotAfter: now.Add(validity)}
	if leaf.NotAfter.After(a.Cert.NotAfter) {
		leaf.NotAfter, leaf.Clamped = a.Cert.NotAfter, true
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{Organization: []string{"remote-buildkit"}, CommonName: cn},
		NotBefore:             now.Add(-backdate),
		NotAfter:              leaf.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{ext},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.Key)
	if err != nil {
		return Leaf{}, err
	}
	if leaf.Key, err = encodeKey(key); err != nil {
		return Leaf{}, err
	}
	leaf.Cert = encodeCert(der)
	return leaf, nil
}

// LoadAuthority reads a CA certificate and its key (exit code 6 when either
// cannot be read, does not parse, or they do not belong together).
func LoadAuthority(certPath, keyPath string, now time.Time) (*Authority, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, certsError("cannot read the CA certificate %s: %s: run remote-buildkit certs init first, or restore the CA directory from where you keep it offline", certPath, reason(err))
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, certsError("cannot read the CA key %s: %s: run as the user who ran certs init, or restore the CA directory from where you keep it offline", keyPath, reason(err))
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, certsError("the CA key %s is not the valid, unencrypted PEM key of %s (%v): restore both files from where you keep the CA offline", keyPath, certPath, err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || !pair.Leaf.IsCA {
		return nil, certsError("%s is not a CA certificate with a signing key: point --dir at a directory made by remote-buildkit certs init", certPath)
	}
	if now.After(pair.Leaf.NotAfter) {
		return nil, certsError("the CA %s expired on %s: start over with a new CA (remote-buildkit certs rotate --new-ca)", certPath, pair.Leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	return &Authority{Cert: pair.Leaf, Key: signer, PEM: certPEM}, nil
}

// ParseCerts returns every certificate in a PEM bundle.
func ParseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return out, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// reason is err without the path an *fs.PathError repeats.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func certsError(format string, a ...any) error {
	return exitcode.With(exitcode.Certs, fmt.Errorf(format, a...))
}

func usageError(format string, a ...any) error {
	return exitcode.With(exitcode.BadConfig, fmt.Errorf(format, a...))
}
