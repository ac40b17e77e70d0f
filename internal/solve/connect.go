// Package solve connects to a BuildKit daemon and runs a dockerfile.v0
// build on it: Config → SolveOpt → Solve beside the progress display → Result.
package solve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer" // docker-container://
	_ "github.com/moby/buildkit/client/connhelper/kubepod"         // kube-pod://
	_ "github.com/moby/buildkit/client/connhelper/nerdctlcontainer"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh" // ssh://
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// A connection silently cut during a build (a partition, a builder gone
// without a reset) is noticed by gRPC keepalive pings: KeepaliveTime without
// traffic, then KeepaliveTimeout for the answer. buildkitd does not relax
// gRPC's server default (pings at most every 5 minutes, else it drops the
// connection), so the client never pings more often than that.
const (
	KeepaliveTime    = 5*time.Minute + 10*time.Second
	KeepaliveTimeout = 30 * time.Second
)

// ClientOptions are the BuildKit client options that reach node: the one
// place a node's settings become a connection.
func ClientOptions(n config.Node) ([]client.ClientOpt, TLS, error) {
	t, err := ResolveTLS(n)
	if err != nil {
		return nil, t, err
	}
	opts := []client.ClientOpt{client.WithGRPCDialOption(grpc.WithKeepaliveParams(keepalive.ClientParameters{
		Time: KeepaliveTime, Timeout: KeepaliveTimeout,
	}))}
	if t.Enabled {
		opts = append(opts, client.WithServerConfig(n.TLSServerName, t.CA))
		if t.ClientCertUsed {
			opts = append(opts, client.WithCredentials(t.Cert, t.Key))
		}
	}
	return opts, t, nil
}

// Connect opens a client to node and proves the daemon answers (Info) within
// timeout (connect-timeout). Errors are explained in terms of the user's settings.
func Connect(ctx context.Context, c config.Node, timeout time.Duration) (*client.Client, *client.Info, TLS, error) {
	opts, t, err := ClientOptions(c)
	if err != nil {
		return nil, nil, t, err
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The environment hook may be installing a new set: read under its lock
	// (skipped when tls-dir is read-only, e.g. baked into an AMI).
	unlock := func() {}
	if t.Enabled {
		if u, err := certs.RLock(cctx, filepath.Dir(t.CA)); err == nil {
			unlock = u
		}
	}
	cl, err := client.New(cctx, c.Host, opts...)
	unlock()
	if err != nil {
		return nil, nil, t, connectError(certVerdict(ctx, err, c, t), c, timeout, t)
	}
	info, err := cl.Info(cctx)
	if err != nil {
		cl.Close()
		if ctx.Err() != nil { // the build's timeout or a cancellation, not the connect timeout
			return nil, nil, t, contextError(ctx, err)
		}
		if cctx.Err() != nil && !strings.Contains(err.Error(), "connection refused") {
			err = context.DeadlineExceeded
		}
		return nil, nil, t, connectError(certVerdict(ctx, err, c, t), c, timeout, t)
	}
	return cl, info, t, nil
}

// connectError explains err and says whether waiting may fix it (exit 3).
func connectError(err error, c config.Node, timeout time.Duration, t TLS) error {
	cause := ""
	if !errors.Is(err, context.DeadlineExceeded) {
		cause = transportCause(err.Error())
	}
	return exitcode.With(exitcode.Connect, &ConnectError{Host: c.Host, Cause: cause, Transient: cause != "", Err: explainConnect(err, c, timeout, t)})
}

// explainConnect turns transport errors into one line naming the setting to fix.
func explainConnect(err error, c config.Node, timeout time.Duration, t TLS) error {
	msg := err.Error()
	host := c.Host
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from the BuildKit daemon at %s within %s (connect-timeout): check that buildkitd is running there and that a security group or firewall lets this agent reach the port", host, timeout.Round(100*time.Millisecond))
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("nothing is listening at %s (connection refused): start buildkitd there or fix buildkit-host", host)
	case strings.Contains(msg, "no such host"):
		return fmt.Errorf("cannot resolve the host in %s (no such host): fix buildkit-host or the agent's DNS", host)
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return fmt.Errorf("the daemon at %s does not speak TLS but this client uses TLS (files in %s): start buildkitd with --tlscacert/--tlscert/--tlskey, or remove the files from tls-dir", host, filepath.Dir(t.CA))
	case !t.Enabled && (strings.Contains(msg, "server preface") || strings.Contains(msg, "connection reset by peer") || strings.Contains(msg, "EOF")):
		where := c.TLSDir
		if where == "" {
			where = "$HOME/.buildkit"
		}
		return fmt.Errorf("the daemon at %s expects TLS but this client connects without it (error reading server preface): put ca.pem, cert.pem and key.pem in %s (tls-dir)", host, where)
	case strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "doesn't contain any IP SANs"), strings.Contains(msg, "not valid for any names"):
		return fmt.Errorf("the daemon's certificate does not match the name this client checks (%s): set tls-server-name to a name the certificate was issued for [%s]", cutAfter(msg, "x509: "), host)
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return fmt.Errorf("the daemon's certificate is not signed by %s: put the CA that signed buildkitd's certificate there [%s]", t.CA, host)
	case strings.Contains(msg, "certificate required"):
		return fmt.Errorf("the daemon at %s requires a client certificate: put cert.pem and key.pem signed by its CA in %s (tls-dir)", host, c.TLSDir)
	case t.ClientCertUsed && strings.Contains(msg, "broken pipe"):
		return fmt.Errorf("the daemon at %s closed the connection during the TLS handshake: it rejected the client certificate %s (it must be signed by the CA buildkitd trusts, --tlscacert)", host, t.Cert)
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return fmt.Errorf("the daemon at %s rejected the client certificate %s: it must be signed by the CA buildkitd trusts (--tlscacert)", host, t.Cert)
	case strings.Contains(msg, "expired certificate"), strings.Contains(msg, "certificate has expired"):
		return fmt.Errorf("a certificate has expired (%s) talking to %s: renew the client certificate in %s or the daemon's", cutAfter(msg, "tls: "), host, c.TLSDir)
	case strings.Contains(msg, "no such file or directory") && strings.HasPrefix(host, "unix://"):
		return fmt.Errorf("socket %s does not exist: start buildkitd with --addr %s or fix buildkit-host", strings.TrimPrefix(host, "unix://"), host)
	case strings.Contains(msg, "permission denied") && strings.HasPrefix(host, "unix://"):
		return fmt.Errorf("no permission to use socket %s: run buildkitd with --group of this user, or fix buildkit-host", strings.TrimPrefix(host, "unix://"))
	}
	return fmt.Errorf("cannot connect to the BuildKit daemon at %s: %s", host, oneLine(msg))
}

func cutAfter(s, sep string) string {
	if i := strings.Index(s, sep); i >= 0 {
		s = s[i+len(sep):]
	}
	return strings.TrimRight(strings.TrimSuffix(oneLine(s), `"`), `"`)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return s
}

// LoopbackHost reports whether a host name or IP is this machine.
func LoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
