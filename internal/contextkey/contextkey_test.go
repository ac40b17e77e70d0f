package contextkey

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
	"github.com/remote-buildkit/remote-buildkit/internal/pki"
)

func envOf(m map[string]string) config.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// clientKey issues a client certificate and writes its key.pem into a new
// directory, as the certs kit lays out a set.
func clientKey(t *testing.T, ca *pki.Authority) string {
	t.Helper()
	leaf, err := ca.Issue(pki.ClientAuth, "client", nil, nil, ca.Cert.NotBefore.Add(7200e9), 24*3600e9)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), config.KeyFile)
	if err := os.WriteFile(p, leaf.Key, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var scope = config.ContextScope{Org: "acme", Pipeline: "web", Domain: config.TrustBranch, Dir: "."}

// Two certificates of one CA are two trust domains; the same key file (the
// same certificate on another agent) gives the same keys; the session key
// is opaque (not the old remote-buildkit:<slug>:<dir>) and separates
// organization, pipeline, trust domain and directory.
func TestKeysPerCertificate(t *testing.T) {
	ca, _, err := pki.NewCA(time.Now(), 30*24*3600e9)
	if err != nil {
		t.Fatal(err)
	}
	f1, f2 := clientKey(t, ca), clientKey(t, ca)
	k1, err := FromKeyFile(f1)
	if err != nil || k1 == nil {
		t.Fatalf("FromKeyFile: %v, %v", k1, err)
	}
	again, _ := FromKeyFile(f1)
	k2, _ := FromKeyFile(f2)
	id := contextsync.BlobID([]byte("hello\n"))
	if k1.SessionKey(scope) != again.SessionKey(scope) || k1.StatKey().ModTime(id) != again.StatKey().ModTime(id) {
		t.Error("the same key file gives different keys")
	}
	if k1.SessionKey(scope) == k2.SessionKey(scope) || k1.StatKey().ModTime(id) == k2.StatKey().ModTime(id) {
		t.Error("two certificates share a trust domain")
	}
	if sk := k1.SessionKey(scope); !strings.HasPrefix(sk, "remote-buildkit:") || strings.Contains(sk, "web") || len(sk) != len("remote-buildkit:")+64 {
		t.Errorf("session key %q is not an opaque tag", sk)
	}
	seen := map[string]bool{k1.SessionKey(scope): true}
	for _, s := range []config.ContextScope{
		{Org: "other", Pipeline: "web", Domain: config.TrustBranch, Dir: "."},
		{Org: "acme", Pipeline: "api", Domain: config.TrustBranch, Dir: "."},
		{Org: "acme", Pipeline: "web", Domain: config.TrustPullRequest, Dir: "."},
		{Org: "acme", Pipeline: "web", Domain: config.TrustBranch, Dir: "app"},
		{Org: "acme", Pipeline: "web\x00branch", Domain: "", Dir: "."},
	} {
		sk := k1.SessionKey(s)
		if seen[sk] {
			t.Errorf("scope %+v shares a session key", s)
		}
		seen[sk] = true
	}
	if string(k1.stat[:]) == string(k1.session[:]) {
		t.Error("the stat and session keys are the same")
	}
}

func TestDerive(t *testing.T) {
	ca, _, _ := pki.NewCA(time.Now(), 30*24*3600e9)
	keyFile := clientKey(t, ca)
	ctx := context.Background()
	env := envOf(map[string]string{"CTX_KEY": "s3cr3t"})
	agent := func(_ context.Context, name string) (string, error) {
		if name == "ctx" {
			return "s3cr3t\n", nil
		}
		return "", errors.New("buildkite-agent secret get: exit status 1: secret not found")
	}
	fromCert, _ := FromKeyFile(keyFile)
	fromEnv, _ := FromSecret([]byte("s3cr3t"), "x")
	for _, tt := range []struct {
		name    string
		opt     config.ContextKey
		keyFile string
		want    *Key
		err     string
	}{
		{"the client key by default", config.ContextKey{}, keyFile, fromCert, ""},
		{"no TLS: no key", config.ContextKey{}, filepath.Join(t.TempDir(), "key.pem"), nil, ""},
		{"no tls-dir: no key", config.ContextKey{}, "", nil, ""},
		{"an environment variable", config.ContextKey{Env: "CTX_KEY"}, keyFile, fromEnv, ""},
		{"a Buildkite secret (its newline dropped)", config.ContextKey{Secret: "ctx"}, "", fromEnv, ""},
		{"an unset variable", config.ContextKey{Env: "NOPE"}, keyFile, nil, "context-key.env: NOPE is not set"},
		{"a secret the job may not read", config.ContextKey{Secret: "other"}, keyFile, nil, "context-key.secret: buildkite-agent secret get"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Derive(ctx, tt.opt, tt.keyFile, env, agent)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("error %v, want %q (and no secret)", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || got != nil && got.SessionKey(scope) != tt.want.SessionKey(scope) {
				t.Errorf("got key %v, want %v", got, tt.want)
			}
		})
	}
	garbage := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	if _, err := FromKeyFile(garbage); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("a key file without a key: %v", err)
	}
}

// Without a key the session key is an unkeyed digest and no stat key is
// given (content mode off).
func TestNilKey(t *testing.T) {
	var k *Key
	if k.StatKey() != nil {
		t.Error("a nil key gives a stat key")
	}
	if sk := k.SessionKey(scope); !strings.HasPrefix(sk, "remote-buildkit:") || strings.Contains(sk, "web") {
		t.Errorf("session key %q", sk)
	}
}
