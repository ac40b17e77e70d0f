package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// probeDeadline bounds the load probe of a pool's members: one that does
// not answer within it is treated as down and skipped.
const probeDeadline = time.Second

// resolveFleet expands every dns://NAME:PORT daemon into its members, one
// per A/AAAA record, resolved once per job (dns-server, else the system
// resolver). Before that, the job's TLS decision is made for every daemon
// (solve.DecideTLS), so members inherit their name's. The configuration
// is not changed: the result is a copy.
func resolveFleet(ctx context.Context, d Deps, cfg *config.Config) (*config.Config, error) {
	cfg, err := solve.DecideAll(withPipelineCerts(cfg, d.Env), solve.JobIntent(cfg, d.Env))
	if err != nil {
		return nil, err
	}
	nodes, found, err := fleet.Expand(ctx, cfg.Nodes, cfg.DNSServer, nil)
	if err != nil {
		return nil, exitcode.With(exitcode.Connect, fmt.Errorf("%w: check the name's records, or dns-server", err))
	}
	for _, e := range found {
		fmt.Fprintf(d.Err, "remote-buildkit: %s: %d member(s) %v\n", e.Host, len(e.Addrs), e.Addrs)
	}
	if len(found) == 0 {
		return cfg, nil
	}
	c := *cfg
	c.Nodes = nodes
	return &c, nil
}

// chooseMember picks a pool member with bounded loads: the highest-ranked
// member (rendezvous on key) whose active builds are under
// ceil(max-load-factor × (active total + 1) / members); while none answers
// it tries again, within connect-timeout.
func chooseMember(ctx context.Context, d Deps, cfg *config.Config, dial fleet.Dial, key string) (*fleet.Connected, error) {
	warn := func(s string) { warnf(d.Err, "%s", s) }
	var c *fleet.Connected
	err := solve.WaitFor(ctx, "every pool member", cfg.ConnectTimeout, d.Err, func(left time.Duration) error {
		var err error
		c, _, err = fleet.ChooseLoaded(ctx, dial, key, cfg.Nodes, cfg.MaxLoadFactor, 0, left, probeDeadline, warn)
		if err != nil && !errors.As(err, new(*solve.ConnectError)) {
			err = &solve.ConnectError{Host: "the pool", Cause: "no member answered", Transient: true, Err: err}
		}
		return err
	})
	return c, err
}
