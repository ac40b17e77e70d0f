package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

func rotate(t *testing.T, o RotateOptions) (string, error) {
	t.Helper()
	if o.Validity == 0 {
		o.CAValidity, o.Validity = DefaultCAValidity, DefaultValidity
	}
	var log bytes.Buffer
	err := Rotate(context.Background(), o, nil, clock, &log)
	return log.String(), err
}

// verifies reports whether cert chains to a CA in bundle for usage.
func verifies(t *testing.T, bundle []byte, cert string, usage x509.ExtKeyUsage) bool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatal("bundle does not parse")
	}
	_, err := mustCert(t, cert).Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err == nil
}

func TestRotateClientKeepsTheCA(t *testing.T) {
	l := initDir(t, []string{"b"}, nil)
	before := snapshot(t, string(l))
	log, err := rotate(t, RotateOptions{Dir: string(l)})
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, string(l))
	for p, v := range before {
		changed := after[p] != v
		wantChanged := p == l.Path(ClientDir, ClientCert) || p == l.Path(ClientDir, ClientKey)
		if changed != wantChanged {
			t.Errorf("%s changed: %v, want %v", p, changed, wantChanged)
		}
	}
	if len(after) != len(before) {
		t.Errorf("rotate left extra files: %d → %d", len(before), len(after))
	}
	set, names, err := readClientSet(l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Verify(set, names, t0); err != nil {
		t.Errorf("rotated set does not verify: %v", err)
	}
	for _, f := range []string{ClientCert, ClientKey} {
		if m := mode(t, l.Path(ClientDir, f)); m != 0o600 {
			t.Errorf("%s mode %o, want 600", f, m)
		}
	}
	if !strings.Contains(log, "certs upload --dir "+string(l)) {
		t.Errorf("rotate without --bucket does not say how to upload:\n%s", log)
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestRotateCA(t *testing.T) {
	l := initDir(t, []string{"b.example"}, []string{"10.0.0.9"})
	oldCA := mustRead(t, l.Path(CADir, CAFile))
	oldServer := mustRead(t, l.Path(DaemonDir, ServerFile))
	oldClient := filepath.Join(t.TempDir(), "old-cert.pem")
	os.WriteFile(oldClient, mustRead(t, l.Path(ClientDir, ClientCert)), 0o600)

	log, err := rotate(t, RotateOptions{Dir: string(l), NewCA: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []string{"1. daemon: install " + l.Path(DaemonDir, ""), "2. agents: remote-buildkit certs upload", "3. once every agent", "--finish"} {
		if !strings.Contains(log, step) {
			t.Errorf("step %d (%q) not printed:\n%s", i+1, step, log)
		}
	}
	newCA := mustRead(t, l.Path(CADir, CAFile))
	if bytes.Equal(newCA, oldCA) || !bytes.Equal(mustRead(t, l.Path(CADir, OldCAFile)), oldCA) {
		t.Fatal("ca/ca.pem is not a new CA, or ca/old-ca.pem is not the old one")
	}
	for _, set := range []string{DaemonDir, ClientDir} {
		bundle := mustRead(t, l.Path(set, CAFile))
		if n := len(mustCerts(t, l.Path(set, CAFile))); n != 2 || !bytes.Contains(bundle, oldCA) || !bytes.Contains(bundle, newCA) {
			t.Errorf("%s/ca.pem holds %d certificates, want the old and the new CA", set, n)
		}
	}
	daemonCAs := mustRead(t, l.Path(DaemonDir, CAFile))
	if !verifies(t, daemonCAs, oldClient, x509.ExtKeyUsageClientAuth) || !verifies(t, daemonCAs, l.Path(ClientDir, ClientCert), x509.ExtKeyUsageClientAuth) {
		t.Error("the daemon's bundle does not accept both the old and the new client certificate")
	}
	if !verifies(t, newCA, l.Path(ClientDir, ClientCert), x509.ExtKeyUsageClientAuth) {
		t.Error("the new client certificate is not from the new CA")
	}
	if !bytes.Equal(mustRead(t, l.Path(DaemonDir, ServerFile)), oldServer) || !verifies(t, oldCA, l.Path(DaemonDir, ServerFile), x509.ExtKeyUsageServerAuth) {
		t.Error("the server certificate changed before --finish: agents with the old ca.pem would reject it")
	}
	if _, err := rotate(t, RotateOptions{Dir: string(l), NewCA: true}); err == nil || !strings.Contains(err.Error(), "--finish") {
		t.Errorf("a second --new-ca during the rotation: %v, want an error pointing at --finish", err)
	}
	// A client rotation during the overlap issues from the new CA.
	if _, err := rotate(t, RotateOptions{Dir: string(l)}); err != nil || !verifies(t, newCA, l.Path(ClientDir, ClientCert), x509.ExtKeyUsageClientAuth) {
		t.Errorf("client rotation during the overlap: %v", err)
	}

	log, err = rotate(t, RotateOptions{Dir: string(l), Finish: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{DaemonDir, ClientDir} {
		if !bytes.Equal(mustRead(t, l.Path(set, CAFile)), newCA) {
			t.Errorf("after --finish %s/ca.pem is not the new CA alone", set)
		}
	}
	daemonCAs = mustRead(t, l.Path(DaemonDir, CAFile))
	if verifies(t, daemonCAs, oldClient, x509.ExtKeyUsageClientAuth) {
		t.Error("after --finish the daemon still accepts the old client certificate")
	}
	server := mustCert(t, l.Path(DaemonDir, ServerFile))
	if !verifies(t, newCA, l.Path(DaemonDir, ServerFile), x509.ExtKeyUsageServerAuth) || server.DNSNames[0] != "b.example" || server.IPAddresses[0].String() != "10.0.0.9" {
		t.Errorf("the new server certificate is not from the new CA for the same names: %v %v", server.DNSNames, server.IPAddresses)
	}
	if !strings.Contains(log, "restart buildkitd") {
		t.Errorf("--finish does not print the daemon step:\n%s", log)
	}
	if _, err := rotate(t, RotateOptions{Dir: string(l), Finish: true}); err == nil || !strings.Contains(err.Error(), "no CA rotation under way") {
		t.Errorf("a second --finish: %v", err)
	}
}

func TestRotateErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(l Layout)
		o      RotateOptions
		want   string
		code   int
	}{
		{name: "no --dir", o: RotateOptions{}, want: "--dir is required", code: exitcode.BadConfig},
		{name: "both steps", o: RotateOptions{NewCA: true, Finish: true}, want: "--new-ca and --finish", code: exitcode.BadConfig},
		{name: "bucket with --new-ca", o: RotateOptions{NewCA: true, Upload: &UploadOptions{Bucket: "b"}}, want: "--bucket cannot be used with --new-ca", code: exitcode.BadConfig},
		{name: "corrupt CA key", damage: func(l Layout) { os.WriteFile(l.Path(CADir, CAKeyFile), []byte("garbage\n"), 0o600) },
			want: "ca-key.pem is not the valid, unencrypted PEM key", code: exitcode.Certs},
		{name: "CA key is a directory", damage: func(l Layout) {
			os.Remove(l.Path(CADir, CAKeyFile))
			os.Mkdir(l.Path(CADir, CAKeyFile), 0o700)
		}, want: "cannot read the CA key", code: exitcode.Certs},
		{name: "missing CA key", damage: func(l Layout) { os.Remove(l.Path(CADir, CAKeyFile)) }, want: "cannot read the CA key", code: exitcode.Certs},
		{name: "key of another CA", damage: func(l Layout) {
			_, key, _ := NewCA(t0, DefaultCAValidity)
			os.WriteFile(l.Path(CADir, CAKeyFile), key, 0o600)
		}, want: "is not the valid, unencrypted PEM key", code: exitcode.Certs},
		{name: "new-ca with a corrupt CA key", o: RotateOptions{NewCA: true}, damage: func(l Layout) { os.WriteFile(l.Path(CADir, CAKeyFile), []byte("x"), 0o600) },
			want: "ca-key.pem", code: exitcode.Certs},
		{name: "finish without a rotation", o: RotateOptions{Finish: true}, want: "no CA rotation under way", code: exitcode.BadConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := initDir(t, []string{"b"}, nil)
			if tc.o.Dir == "" && tc.name != "no --dir" {
				tc.o.Dir = string(l)
			}
			if tc.damage != nil {
				tc.damage(l)
			}
			before := snapshot(t, string(l))
			_, err := rotate(t, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.Of(err) != tc.code {
				t.Fatalf("err = %v (exit %d), want %q, exit %d", err, exitcode.Of(err), tc.want, tc.code)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if after := snapshot(t, string(l)); !maps(before, after) {
				t.Error("files changed on error")
			}
		})
	}
}
