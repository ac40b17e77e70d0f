package solve

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

func TestClassifyInfra(t *testing.T) {
	const daemon = "tcp://127.0.0.1:1234"
	tests := []struct {
		name string
		err  error
		want string // "" = not an infrastructure failure
	}{
		{"daemon killed mid-build", exitcode.With(exitcode.BuildFailed, errors.New("failed to receive status: rpc error: code = Unavailable desc = error reading from server: EOF")),
			"lost the connection to buildkitd at tcp://127.0.0.1:1234 during the build"},
		{"transport closing", errors.New("rpc error: code = Unavailable desc = transport is closing"), "lost the connection to buildkitd"},
		{"manifest PUT 503", exitcode.With(exitcode.BuildFailed, errors.New(`failed to solve: failed to push 127.0.0.1:5041/it/x:1: unexpected status from PUT request to http://127.0.0.1:5041/v2/it/x/manifests/1: 503 Service Unavailable`)),
			"registry 127.0.0.1:5041 answered 503 Service Unavailable"},
		{"cache export 429", errors.New(`error writing layer blob: failed to copy: unexpected status from PUT request to https://r.example/v2/app/blobs/uploads/x: 429 Too Many Requests`),
			"registry r.example answered 429 Too Many Requests"},
		{"registry down", errors.New(`failed to push 127.0.0.1:5099/x:1: failed to do request: Head "http://127.0.0.1:5099/v2/x/blobs/sha256:1": dial tcp 127.0.0.1:5099: connect: connection refused`),
			"registry 127.0.0.1:5099 could not be reached (connection refused)"},
		{"RUN false", exitcode.With(exitcode.BuildFailed, errors.New(`process "/bin/sh -c false" did not complete successfully: exit code: 1`)), ""},
		{"RUN printing EOF", errors.New(`process "/bin/sh -c echo EOF; exit 2" did not complete successfully: exit code: 2`), ""},
		{"Dockerfile error", errors.New("dockerfile parse error on line 1: unknown instruction: FORM"), ""},
		{"401", exitcode.With(exitcode.RegistryAuth, errors.New("registry refused the credentials: 401 Unauthorized")), ""},
		{"404 base image", errors.New(`127.0.0.1:5000/nope:latest: not found`), ""},
		{"cancelled", exitcode.With(exitcode.Cancelled, errors.New("build cancelled")), ""},
		{"timeout", exitcode.With(exitcode.Timeout, errors.New("build exceeded its time limit (timeout option): rpc error: code = Unavailable")), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ie := ClassifyInfra(daemon, tt.err)
			switch {
			case tt.want == "" && ie != nil:
				t.Errorf("ClassifyInfra() = %q, want not an infrastructure failure", ie.Cause)
			case tt.want != "" && (ie == nil || !strings.Contains(ie.Cause, tt.want)):
				t.Errorf("ClassifyInfra() = %v, want a cause containing %q", ie, tt.want)
			case ie != nil && (ie.Host != daemon || !errors.Is(ie, tt.err)):
				t.Errorf("InfraError %+v does not keep the host and the error", ie)
			}
		})
	}
}

func TestTransportCause(t *testing.T) {
	for msg, want := range map[string]string{
		`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`: "connection refused",
		`error reading server preface: read tcp 1->2: read: connection reset by peer`:                                  "connection reset by peer",
		`connection error: desc = "error reading server preface: EOF"`:                                                 "connection closed before the gRPC preface",
		`transport: authentication handshake failed: tls: failed to verify certificate: x509: unknown authority`:       "",
		`remote error: tls: certificate required`:                                                                      "",
		`dial unix /run/x.sock: connect: no such file or directory`:                                                    "",
	} {
		if got := transportCause(msg); got != want {
			t.Errorf("transportCause(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestBackoffGrowsToACapWithJitter(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond, 4: 1600 * time.Millisecond, 5: 3 * time.Second, 9: 3 * time.Second} {
		for range 20 {
			if got := Backoff(n); got < want*8/10 || got > want*12/10 {
				t.Fatalf("Backoff(%d) = %s, want %s ±20%%", n, got, want)
			}
		}
	}
}

func TestWaitFor(t *testing.T) {
	refused := exitcode.With(exitcode.Connect, &ConnectError{Host: "tcp://h:1", Cause: "connection refused", Transient: true, Err: errors.New("nothing is listening at tcp://h:1")})
	eof := &ConnectError{Host: "tcp://h:1", Cause: "connection closed before the gRPC preface", Transient: true, Err: errors.New("expects TLS")}
	tlsErr := &ConnectError{Host: "tcp://h:1", Err: errors.New("certificate signed by unknown authority")}
	t.Run("waits until the daemon answers", func(t *testing.T) {
		var log bytes.Buffer
		calls := 0
		err := WaitFor(context.Background(), "tcp://h:1", 10*time.Second, &log, func(time.Duration) error {
			if calls++; calls < 3 {
				return refused
			}
			return nil
		})
		if err != nil || calls != 3 || strings.Count(log.String(), "waiting for buildkitd at tcp://h:1: connection refused (attempt ") != 2 {
			t.Errorf("err %v after %d calls; log %q", err, calls, log.String())
		}
	})
	t.Run("TLS errors are not retried", func(t *testing.T) {
		calls := 0
		err := WaitFor(context.Background(), "tcp://h:1", 10*time.Second, &bytes.Buffer{}, func(time.Duration) error { calls++; return tlsErr })
		if !errors.Is(err, tlsErr) || calls != 1 {
			t.Errorf("err %v after %d calls, want the TLS error at once", err, calls)
		}
	})
	t.Run("bounded by the timeout", func(t *testing.T) {
		start := time.Now()
		err := WaitFor(context.Background(), "tcp://h:1", 700*time.Millisecond, &bytes.Buffer{}, func(time.Duration) error { return refused })
		if !errors.Is(err, refused) || time.Since(start) > time.Second {
			t.Errorf("err %v after %s, want the last error within the timeout", err, time.Since(start))
		}
	})
	t.Run("a connection closed before the preface is tried a few times only", func(t *testing.T) {
		calls := 0
		_ = WaitFor(context.Background(), "tcp://h:1", time.Minute, &bytes.Buffer{}, func(time.Duration) error { calls++; return eof })
		if calls != eofAttempts {
			t.Errorf("%d calls, want %d", calls, eofAttempts)
		}
	})
}
