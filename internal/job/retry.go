package job

import (
	"context"
	"errors"
	"fmt"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// withRetries runs try until it succeeds, fails for a reason of the build's
// own (or ctx ends), or retries run out after infrastructure failures; the
// failed attempts are returned either way. Before each new attempt, again
// gets its number and the last failure (to log it and reconnect).
func withRetries[T any](ctx context.Context, retries int, try func() (T, error), again func(n int, last *solve.InfraError) error) (T, []solve.Attempt, error) {
	var zero T
	var failed []solve.Attempt
	for n := 1; ; n++ {
		res, err := try()
		if err == nil {
			return res, failed, nil
		}
		var ie *solve.InfraError
		if !errors.As(err, &ie) || ctx.Err() != nil {
			return zero, failed, err
		}
		failed = append(failed, solve.Attempt{Attempt: n, Cause: ie.Cause, Host: ie.Host, Node: ie.Node})
		if n > retries {
			return zero, failed, exitcode.With(exitcode.Connect, fmt.Errorf("%s; %s", ie.Cause, retried(n-1)))
		}
		if err := again(n+1, ie); err != nil {
			return zero, failed, err
		}
	}
}

func retried(n int) string {
	switch n {
	case 0:
		return "not retried (retries: 0)"
	case 1:
		return "retried 1 time"
	}
	return fmt.Sprintf("retried %d times", n)
}
