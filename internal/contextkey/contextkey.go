// Package contextkey keys the context state a build leaves on the daemon.
//
// BuildKit keeps the last upload of each local directory under the
// session's shared key and later sends only the files whose stat (size,
// mtime) differs from that copy. Whoever can name a build's shared key and
// predict its files' stats can plant content the build then uses unsent.
// Here both are keyed with a trust domain's secret: the shared key is
// HMAC-SHA256 over the organization, pipeline, trust domain and directory,
// and content-derived mtimes are HMAC-SHA256 of the content id
// (contextsync.StatKey). The secret is derived (HKDF-SHA256 with a fixed
// label, never the key material itself) from the client certificate's
// private key by default — one trust domain per certificate — or from a
// secret the step names (context-key). It is derived once per job.
package contextkey

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/agent"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
)

// Labels of the derivations: a new scheme gets new labels.
const (
	label        = "remote-buildkit context-state v1"
	sessionLabel = "remote-buildkit context-state v1 session key"
	statLabel    = "remote-buildkit context-state v1 stat key"
)

// Key is a trust domain's derived keys; a nil *Key is "no secret": the
// session key is then an unkeyed digest and content-derived stats are off.
type Key struct {
	session [32]byte
	stat    contextsync.StatKey
	Origin  string // what it was derived from, for the log and diagnose
}

// FromSecret derives the keys from secret material.
func FromSecret(secret []byte, origin string) (*Key, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("%s is empty", origin)
	}
	master, err := hkdf.Key(sha256.New, secret, nil, label, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the context key from %s: %w", origin, err)
	}
	k := &Key{Origin: origin}
	for _, d := range []struct {
		info string
		out  []byte
	}{{sessionLabel, k.session[:]}, {statLabel, k.stat[:]}} {
		b, err := hkdf.Expand(sha256.New, master, d.info, 32)
		if err != nil {
			return nil, fmt.Errorf("derive the context key from %s: %w", origin, err)
		}
		copy(d.out, b)
	}
	return k, nil
}

// FromKeyFile derives the keys from the private key in the PEM file at
// path (a client certificate's key.pem); nil, nil when there is no file.
func FromKeyFile(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the client key %s: %w", path, err)
	}
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			return nil, fmt.Errorf("the client key %s holds no PEM private key: restore the certificate set", path)
		}
		if strings.HasSuffix(blk.Type, "PRIVATE KEY") {
			return FromSecret(blk.Bytes, "the client certificate's key "+path)
		}
	}
}

// Agent reads a Buildkite secret: buildkite-agent secret get NAME.
type Agent func(ctx context.Context, name string) (string, error)

// Derive is the job's key: from the step's context-key option when it names
// a secret, else from keyFile (the default daemon's client key); nil
// without either (no TLS: nothing to derive from). Errors name the option.
func Derive(ctx context.Context, opt config.ContextKey, keyFile string, env config.Env, agent Agent) (*Key, error) {
	switch {
	case opt.Env != "":
		v, ok := env(opt.Env)
		if !ok || v == "" {
			return nil, fmt.Errorf("context-key.env: %s is not set in the job's environment: export the context key in it (e.g. from the agent's secrets), or drop context-key to derive it from the client certificate", opt.Env)
		}
		return FromSecret([]byte(v), "$"+opt.Env)
	case opt.Secret != "":
		if agent == nil {
			return nil, fmt.Errorf("context-key.secret: cannot read the Buildkite secret %s: buildkite-agent is not available in this job", opt.Secret)
		}
		v, err := agent(ctx, opt.Secret)
		if err != nil {
			return nil, fmt.Errorf("context-key.secret: %w: check the secret's name and its access policy (this job's branch may not be allowed to read it), or drop context-key", err)
		}
		return FromSecret([]byte(strings.TrimRight(v, "\r\n")), "the Buildkite secret "+opt.Secret)
	}
	if keyFile == "" {
		return nil, nil
	}
	return FromKeyFile(keyFile)
}

// ForConfig is Derive for a step: its context-key option, else the default
// daemon's client key; a secret is read through the job's buildkite-agent.
func ForConfig(ctx context.Context, cfg *config.Config, env config.Env, lookPath func(string) (string, error)) (*Key, error) {
	var secret Agent
	if cfg.ContextKey.Secret != "" && lookPath != nil {
		if a, _ := agent.FromEnv(env.Get, lookPath); a != nil {
			secret = a.SecretGet
		}
	}
	return Derive(ctx, cfg.ContextKey, KeyFile(cfg), env, secret)
}

// KeyFile is the default daemon's client key, the default key material;
// "" without a tls-dir.
func KeyFile(cfg *config.Config) string {
	if dir := cfg.Default().TLSDir; dir != "" {
		return filepath.Join(dir, config.KeyFile)
	}
	return ""
}

// SessionKey is the session's shared key for a directory of scope:
// "remote-buildkit:" and HMAC-SHA256 over the scope's fields, opaque to
// anyone without the key. Without a key it is an unkeyed digest (content
// stats are off then, so the daemon's copy is compared with real mtimes).
func (k *Key) SessionKey(s config.ContextScope) string {
	msg := strings.Join([]string{s.Org, s.Pipeline, s.Domain, s.Dir}, "\x00")
	if k == nil {
		sum := sha256.Sum256([]byte(label + "\x00" + msg))
		return "remote-buildkit:" + hex.EncodeToString(sum[:])
	}
	m := hmac.New(sha256.New, k.session[:])
	m.Write([]byte(msg))
	return "remote-buildkit:" + hex.EncodeToString(m.Sum(nil))
}

// StatKey keys the content-derived mtimes; nil without a key.
func (k *Key) StatKey() *contextsync.StatKey {
	if k == nil {
		return nil
	}
	sk := k.stat
	return &sk
}
