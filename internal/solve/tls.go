package solve

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// TLS is how one dial uses the job's TLS decision: the files' paths.
type TLS struct {
	Enabled        bool
	CA, Cert, Key  string
	ClientCertUsed bool
}

// String describes the mode for the log.
func (t TLS) String() string {
	switch {
	case !t.Enabled:
		return "no TLS"
	case t.ClientCertUsed:
		return "mTLS, certs from " + filepath.Dir(t.CA)
	default:
		return "TLS (server only), CA from " + filepath.Dir(t.CA)
	}
}

// TLSEnv is the variable that carries the environment hook's TLS decision
// to the later hooks. It can only ask for TLS: a later phase never turns
// TLS off because it is unset, and any value it does not know means mTLS.
const TLSEnv = "REMOTE_BUILDKIT_TLS"

// Intent is what asks a job for TLS, besides a node's own options.
type Intent struct {
	Why  string         // the option that asks ("secrets-bucket", "require-tls", ...); "" for none
	Mode config.TLSMode // an earlier phase's decision (TLSEnv); TLSUndecided for none
}

// JobIntent is what the step's options and the earlier hooks ask for.
func JobIntent(cfg *config.Config, env config.Env) Intent {
	in := Intent{Mode: ParseTLSMode(env.Get(TLSEnv))}
	switch {
	case cfg.SecretsBucket != "":
		in.Why = "secrets-bucket is set"
	case cfg.RequireTLS:
		in.Why = "require-tls is set"
	case in.Mode != config.TLSUndecided:
		in.Why = "the environment hook found certificates (" + TLSEnv + ")"
	}
	return in
}

// ParseTLSMode reads a TLSEnv value: "" is no earlier decision, "off"
// none either (plaintext is decided again, never carried), "server"
// server-only TLS, anything else mTLS.
func ParseTLSMode(s string) config.TLSMode {
	switch s {
	case "", "off":
		return config.TLSUndecided
	case "server":
		return config.TLSServer
	}
	return config.TLSMutual
}

// FormatTLSMode is the TLSEnv value of a decision ("" for plaintext).
func FormatTLSMode(m config.TLSMode) string {
	switch m {
	case config.TLSServer:
		return "server"
	case config.TLSMutual:
		return "mutual"
	}
	return ""
}

// tlsApplies reports whether TLS is a question for n's address: tcp and
// dns:// daemons, or any daemon given an explicit tls-dir.
func tlsApplies(n config.Node) bool {
	u, _ := url.Parse(n.Host)
	return n.TLSDirSet || n.Host == "" || (u != nil && (u.Scheme == "tcp" || u.Scheme == "dns"))
}

// DecideTLS is the job's TLS decision for n, made once in job set-up:
// once anything asks for TLS (secrets-bucket, tls-dir, require-tls, a
// node's secrets-prefix, an earlier hook's decision, certificates
// installed in tls-dir) it is TLS, whatever the files say later. Only
// when nothing asks is it plaintext.
func DecideTLS(n config.Node, in Intent) (config.Node, error) {
	if n.TLS != config.TLSUndecided {
		return n, nil // decided once: a dns:// member inherits its name's decision
	}
	n.TLS, n.TLSWhy = config.TLSOff, ""
	if !tlsApplies(n) || n.TLSDir == "" {
		return n, nil
	}
	why := in.Why
	switch {
	case n.TLSDirSet:
		why = "tls-dir is set"
	case n.SecretsPrefix != "":
		why = "the node's secrets-prefix is set"
	}
	if why != "" {
		n.TLS, n.TLSWhy = config.TLSMutual, why
		return n, nil
	}
	if in.Mode != config.TLSUndecided {
		n.TLS, n.TLSWhy = in.Mode, in.Why
		return n, nil
	}
	d, err := certs.StatDir(n.TLSDir)
	if err != nil {
		return n, exitcode.With(exitcode.Certs, err)
	}
	switch {
	case d.Has[1] || d.Has[2]:
		n.TLS = config.TLSMutual
	case d.Has[0]:
		n.TLS = config.TLSServer
	default:
		return n, nil
	}
	n.TLSWhy = "certificates are installed in " + n.TLSDir
	return n, nil
}

// DecideAll applies DecideTLS to every node of cfg (a copy).
func DecideAll(cfg *config.Config, in Intent) (*config.Config, error) {
	c := *cfg
	c.Nodes = make([]config.Node, len(cfg.Nodes))
	for i, n := range cfg.Nodes {
		var err error
		if c.Nodes[i], err = DecideTLS(n, in); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// ResolveTLS is the files one dial of n uses under the job's decision
// (n.TLS; a node nobody decided for is decided from its own options and
// files). When the decision is TLS, a missing file is an error naming it,
// never a plaintext connection.
func ResolveTLS(n config.Node) (TLS, error) {
	if n.TLS == config.TLSUndecided {
		var err error
		if n, err = DecideTLS(n, Intent{}); err != nil {
			return TLS{}, err
		}
	}
	if n.TLS == config.TLSOff {
		return TLS{}, nil
	}
	d, err := certs.StatDir(n.TLSDir)
	if err != nil {
		return TLS{}, exitcode.With(exitcode.Certs, err)
	}
	want := []int{0, 1, 2}
	if n.TLS == config.TLSServer {
		want = []int{0}
		if d.Has[1] || d.Has[2] {
			want = []int{0, 1, 2} // a certificate without its key, or the other way round
		}
	}
	if missing := d.Missing(want...); len(missing) > 0 {
		return TLS{}, exitcode.With(exitcode.Connect, fmt.Errorf(
			"TLS files missing in %s (tls-dir): %s; TLS is required (%s), so nothing is sent without it: put the daemon's CA as ca.pem and the client certificate and key as cert.pem and key.pem there (or set secrets-bucket to fetch them)",
			n.TLSDir, strings.Join(missing, ", "), n.TLSWhy))
	}
	return TLS{Enabled: true, CA: d.CA(), Cert: d.Cert(), Key: d.Key(), ClientCertUsed: d.Has[1] && d.Has[2]}, nil
}
