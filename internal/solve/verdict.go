package solve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// verdictTimeout bounds asking the daemon again for its verdict on our
// client certificate: a daemon that accepted it sends its HTTP/2 settings at
// once, one that rejected it its alert.
const verdictTimeout = 2 * time.Second

// certVerdict recovers a rejected client certificate that reads like a
// restart. With TLS 1.3 the daemon judges our certificate after our side of
// the handshake is done; gRPC has by then sent its HTTP/2 preface, and when
// that reaches a socket the daemon has already closed, the reset it causes
// can overtake the alert: the error is "connection reset by peer" (or an EOF)
// and would be waited on as a restart. On such an error over TLS the daemon is
// asked once more, saying nothing after the handshake, so that its alert
// arrives; that alert replaces err. Anything else (no alert, the daemon
// accepted, it is really down) leaves err as it was.
func certVerdict(ctx context.Context, err error, n config.Node, t TLS) error {
	if err == nil || !t.Enabled || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	switch transportCause(err.Error()) {
	case "connection reset by peer", "connection closed before the gRPC preface":
	default:
		return err
	}
	if alert := readAlert(ctx, n, t); alert != nil {
		return alert
	}
	return err
}

// readAlert dials n with t's files, completes the TLS handshake, writes
// nothing and reads: the daemon's TLS alert comes back as an error; nil when
// it sent data (it accepted us), timed out, or could not be reached.
func readAlert(ctx context.Context, n config.Node, t TLS) error {
	u, err := url.Parse(n.Host)
	if err != nil || u.Scheme != "tcp" {
		return nil // ssh://, unix:// and the container helpers carry no TLS of ours
	}
	cfg, err := verdictConfig(n, t, u.Hostname())
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, verdictTimeout)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return remoteAlert(err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetReadDeadline(deadline)
	_, err = conn.Read(make([]byte, 1))
	return remoteAlert(err)
}

// remoteAlert is err when it is the peer's TLS alert ("remote error: tls:
// bad certificate"), else nil.
func remoteAlert(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return err
	}
	return nil
}

// verdictConfig is the TLS configuration client.WithServerConfig and
// client.WithCredentials build from t's files (gRPC asks for h2).
func verdictConfig(n config.Node, t TLS, host string) (*tls.Config, error) {
	pem, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + t.CA)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: n.TLSServerName, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if t.ClientCertUsed {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
