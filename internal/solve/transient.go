package solve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
)

// ConnectError is a failed connection to a daemon, explained for the user;
// Cause is the short transport cause ("connection refused") and Transient
// says whether waiting may help (the daemon starting or restarting).
type ConnectError struct {
	Host      string
	Cause     string
	Transient bool
	Err       error
}

func (e *ConnectError) Error() string { return e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// transportCause names a transient transport failure in a connect error,
// or "" for one that waiting does not fix (TLS, certificates, names,
// permissions). A broken pipe is the daemon closing on our TLS handshake
// (a rejected client certificate), not a restart: not waited on.
func transportCause(msg string) string {
	for _, tls := range []string{"tls:", "x509", "certificate", "broken pipe"} {
		if strings.Contains(msg, tls) {
			return ""
		}
	}
	for _, c := range []string{"connection refused", "connection reset by peer"} {
		if strings.Contains(msg, c) {
			return c
		}
	}
	switch {
	case strings.Contains(msg, "handshake") && strings.Contains(msg, "EOF"):
		// Our TLS client got no answer: a proxy or load balancer whose
		// daemon is down (a TLS mismatch answers differently).
		return "connection closed during the TLS handshake"
	case strings.Contains(msg, "error reading server preface"), strings.Contains(msg, "EOF"):
		return "connection closed before the gRPC preface"
	case strings.Contains(msg, "code = Unavailable"):
		return "unavailable"
	}
	return ""
}

// Backoff is the wait before attempt n+1 (n ≥ 1): 200 ms doubling up to
// 3 s, with ±20 % jitter so agents restarted together spread out.
func Backoff(n int) time.Duration {
	d := 200 * time.Millisecond << min(n-1, 4)
	d = min(d, 3*time.Second)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// eofAttempts bounds waiting on a daemon that accepts TCP but closes the
// connection: a restarting daemon does that briefly, a TLS daemon asked
// without TLS does it for ever.
const eofAttempts = 4

// WaitFor calls try until it succeeds, fails for good, or timeout runs
// out; each transient ConnectError is logged as a wait and retried with
// Backoff. try gets the time that is left.
func WaitFor(ctx context.Context, host string, timeout time.Duration, log io.Writer, try func(left time.Duration) error) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		left := timeout - time.Since(start)
		err := try(left)
		var ce *ConnectError
		if err == nil || !errors.As(err, &ce) || !ce.Transient || ctx.Err() != nil {
			return err
		}
		if ce.Cause == "connection closed before the gRPC preface" && attempt >= eofAttempts {
			return err
		}
		wait := Backoff(attempt)
		if time.Since(start)+wait >= timeout {
			return err
		}
		fmt.Fprintf(log, "remote-buildkit: waiting for buildkitd at %s: %s (attempt %d, %.1fs of %s)\n",
			host, ce.Cause, attempt, time.Since(start).Seconds(), timeout)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

// InfraError is a build that failed for a reason outside it: the daemon
// went away, or a registry or cache endpoint failed. Running it again may
// succeed; Cause says what happened, in a sentence.
type InfraError struct {
	Cause string
	Host  string // the daemon the attempt ran on
	Node  string // its node name in a pool or split
	Err   error
}

func (e *InfraError) Error() string { return e.Err.Error() }
func (e *InfraError) Unwrap() error { return e.Err }

var (
	// lostDaemon: the gRPC stream to the daemon broke during the build.
	lostDaemon = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`code = Unavailable|error reading from server|transport is closing|connection reset by peer|failed to receive status|EOF$`)
	})
	// registryStatus: a registry or cache endpoint answered 5xx or 429.
	registryStatus = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?:unexpected status(?: from [A-Z]+ request to (?:https?://)?([^/\s:]+(?::\d+)?)[^:]*)?: |status code |: )((?:5\d\d|429)\b[^:\n]*)`)
	})
	// registryConn: a registry connection failed (refused, reset, dropped).
	registryConn = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?:dial tcp|read tcp|write tcp)\s+(?:[\d.:]+->)?([^\s:]+:\d+)(?::| ).*?(connection refused|connection reset by peer|broken pipe|i/o timeout|EOF)`)
	})
	// stepExit: a RUN step's process failed: the build's own fault.
	stepExit = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`did not complete successfully: exit code|executor failed running`)
	})
)

// ClassifyInfra returns an *InfraError (exit 3) for failures outside the
// build, and nil for the build's own failures (steps, Dockerfile, auth,
// missing images) which running again would not fix.
func ClassifyInfra(daemonHost string, err error) *InfraError {
	msg := err.Error()
	switch exitcode.Of(err) {
	case exitcode.RegistryAuth, exitcode.Cancelled, exitcode.Timeout, exitcode.BadConfig:
		return nil
	}
	if ge := (*gitcontext.GitError)(nil); stepExit().MatchString(msg) || errors.As(err, &ge) {
		return nil // the build's own failure; git-context's fetch is not the daemon's
	}
	if m := registryStatus().FindStringSubmatch(msg); m != nil {
		host := m[1]
		if host == "" {
			host = RegistryInError(msg)
		}
		where := "a registry"
		if host != "" {
			where = "registry " + host
		}
		return &InfraError{Cause: fmt.Sprintf("%s answered %s during the push, export or cache export", where, strings.TrimSpace(m[2])), Host: daemonHost, Err: err}
	}
	if m := registryConn().FindStringSubmatch(msg); m != nil && !strings.Contains(daemonHost, m[1]) {
		return &InfraError{Cause: fmt.Sprintf("registry %s could not be reached (%s) during the push, export or cache export", m[1], m[2]), Host: daemonHost, Err: err}
	}
	if lostDaemon().MatchString(strings.TrimSpace(msg)) {
		return &InfraError{Cause: fmt.Sprintf("lost the connection to buildkitd at %s during the build (the daemon restarted or crashed)", daemonHost), Host: daemonHost, Err: err}
	}
	return nil
}
