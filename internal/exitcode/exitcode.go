// Package exitcode defines the binary's exit codes (documented in README.md)
// and an error type that carries one.
package exitcode

import "errors"

// Exit codes of remote-buildkit.
const (
	OK           = 0   // success
	BuildFailed  = 1   // the build itself failed (a Dockerfile step, an export)
	BadConfig    = 2   // the plugin configuration is invalid; nothing was built
	Connect      = 3   // the BuildKit daemon cannot be reached or TLS set-up failed
	RegistryAuth = 4   // a registry refused the credentials (push, pull or cache)
	Timeout      = 5   // the build exceeded the `timeout` option
	Certs        = 6   // the client certificates could not be fetched from the secrets bucket or are invalid
	VersionSkew  = 7   // version-check: strict and the daemon's BuildKit major.minor differs from the client's
	Internal     = 70  // a bug or unexpected local failure (EX_SOFTWARE)
	Cancelled    = 130 // the job was cancelled (SIGINT/SIGTERM)
)

// Error is an error that decides the process's exit code.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// With wraps err so that the process exits with code.
func With(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Of returns the exit code for err: 0 for nil, the code of an *Error, else Internal.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
