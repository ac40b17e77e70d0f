package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// pki mints certificates for tests.
type pki struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, notAfter time.Time) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &pki{t: t, cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// client returns a client cert and key signed by the CA.
func (ca *pki) client(notAfter time.Time, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	ca.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "agent"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func TestVerify(t *testing.T) {
	now := time.Now()
	year := now.Add(365 * 24 * time.Hour)
	ca := newCA(t, year)
	other := newCA(t, year)
	cert, key := ca.client(year, x509.ExtKeyUsageClientAuth)
	_, otherKey := ca.client(year, x509.ExtKeyUsageClientAuth)
	foreign, foreignKey := other.client(year, x509.ExtKeyUsageClientAuth)
	expired, expiredKey := ca.client(now.Add(-time.Hour), x509.ExtKeyUsageClientAuth)
	soon, soonKey := ca.client(now.Add(5*24*time.Hour), x509.ExtKeyUsageClientAuth)
	serverOnly, serverKey := ca.client(year, x509.ExtKeyUsageServerAuth)
	names := [3]string{"ca.pem", "cert.pem", "key.pem"}

	tests := []struct {
		name     string
		set      Set
		wantErr  string
		wantWarn string
	}{
		{"good", Set{ca.pem, cert, key}, "", ""},
		{"corrupt CA", Set{[]byte("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"), cert, key}, "ca.pem: no PEM certificate found", ""},
		{"empty cert", Set{ca.pem, nil, key}, "cert.pem: no PEM certificate found", ""},
		{"not a key", Set{ca.pem, cert, []byte("hello")}, "key.pem: no PEM private key found", ""},
		{"key of another cert", Set{ca.pem, cert, otherKey}, "key.pem does not belong to cert.pem", ""},
		{"cert from another CA", Set{ca.pem, foreign, foreignKey}, "cert.pem is not signed by the CA in ca.pem", ""},
		{"expired", Set{ca.pem, expired, expiredKey}, "cert.pem expired on", ""},
		{"server-only cert", Set{ca.pem, serverOnly, serverKey}, "for client authentication", ""},
		{"expiring soon", Set{ca.pem, soon, soonKey}, "", "cert.pem expires on " + now.Add(5*24*time.Hour).UTC().Format(time.DateOnly)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.set, names, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			warnings := strings.Join(got.Warnings, "\n")
			if tt.wantWarn == "" && warnings != "" || !strings.Contains(warnings, tt.wantWarn) {
				t.Errorf("warnings %q, want %q", warnings, tt.wantWarn)
			}
		})
	}
}
