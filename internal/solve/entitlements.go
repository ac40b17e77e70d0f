package solve

import (
	"fmt"
	"regexp"
	"sync"
)

// The daemon's answers about entitlements (BuildKit util/entitlements and
// solver/llbsolver), each with its fix:
//
//   - "granting entitlement security.insecure is not allowed by build daemon
//     configuration": allow asked for it, the daemon was not started with it;
//   - "failed to load LLB: network.host is not allowed": a RUN step uses it
//     (RUN --security=insecure, --network=host) but allow does not name it;
//   - "device NAME is requested by the build but not allowed".
var (
	daemonRefused = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`granting entitlement (\S+) is not allowed by build daemon configuration`)
	})
	notAllowed = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`\b(network\.host|security\.insecure) is not allowed\b`)
	})
	deviceForbidden = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(devices? \S+(?:, \S+)*) (?:is|are) requested by the build but not allowed`)
	})
)

// ExplainEntitlement rewrites an entitlement refusal into what to change:
// the daemon's --allow-insecure-entitlement flag, or the allow option. Any
// other error (and nil) is returned as it is; the result wraps err, so its
// exit code is kept.
func ExplainEntitlement(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if m := daemonRefused().FindStringSubmatch(msg); m != nil {
		return &explained{err: err, msg: fmt.Sprintf(
			"the daemon does not grant the %[1]s entitlement: start buildkitd with --allow-insecure-entitlement %[1]s (or insecure-entitlements = [%[1]q] in buildkitd.toml), or remove %[1]s from allow [%[2]s]",
			m[1], oneLine(msg))}
	}
	if m := notAllowed().FindStringSubmatch(msg); m != nil {
		return &explained{err: err, msg: fmt.Sprintf(
			"the Dockerfile needs the %[1]s entitlement: add allow: [%[1]s] (the daemon must run with --allow-insecure-entitlement %[1]s too) [%[2]s]",
			m[1], oneLine(msg))}
	}
	if m := deviceForbidden().FindStringSubmatch(msg); m != nil {
		return &explained{err: err, msg: fmt.Sprintf(
			"the Dockerfile asks for %[1]s: add device=NAME to allow for each (or device for every device) [%[2]s]",
			m[1], oneLine(msg))}
	}
	return err
}

// explained is an error with a better message, unwrapping to the original.
type explained struct {
	err error
	msg string
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
