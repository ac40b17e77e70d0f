package job

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

func TestWithRetries(t *testing.T) {
	infra := func(host string) error {
		return exitcode.With(exitcode.Connect, &solve.InfraError{Cause: "lost " + host, Host: host, Err: errors.New("eof")})
	}
	own := exitcode.With(exitcode.BuildFailed, errors.New("RUN false"))
	tests := []struct {
		name     string
		retries  int
		results  []error // one per attempt; nil = success
		attempts int     // tries made
		failed   int     // attempts recorded
		wantErr  string
		wantCode int
	}{
		{"first try", 1, []error{nil}, 1, 0, "", 0},
		{"one infra failure, retried", 1, []error{infra("a"), nil}, 2, 1, "", 0},
		{"retries run out", 1, []error{infra("a"), infra("b")}, 2, 2, "lost b; retried 1 time", exitcode.Connect},
		{"retries 0", 0, []error{infra("a")}, 1, 1, "lost a; not retried (retries: 0)", exitcode.Connect},
		{"the build's own failure is not retried", 3, []error{own}, 1, 0, "RUN false", exitcode.BuildFailed},
		{"own failure after a retry", 3, []error{infra("a"), own}, 2, 1, "RUN false", exitcode.BuildFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			var agains []int
			res, failed, err := withRetries(context.Background(), tt.retries, func() (int, error) {
				e := tt.results[n]
				n++
				return n, e
			}, func(next int, last *solve.InfraError) error {
				agains = append(agains, next)
				return nil
			})
			if n != tt.attempts || len(failed) != tt.failed || len(agains) != min(tt.attempts-1, tt.retries) {
				t.Fatalf("tries %d, failed %v, again %v", n, failed, agains)
			}
			if tt.wantErr == "" {
				if err != nil || res != n {
					t.Fatalf("res %d err %v", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitcode.Of(err) != tt.wantCode {
				t.Fatalf("err %v (exit %d), want %q exit %d", err, exitcode.Of(err), tt.wantErr, tt.wantCode)
			}
		})
	}
	t.Run("a cancelled context stops retrying", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := withRetries(ctx, 5, func() (int, error) { return 0, infra("a") }, func(int, *solve.InfraError) error { t.Fatal("retried"); return nil })
		if err == nil {
			t.Fatal("no error")
		}
	})
}
