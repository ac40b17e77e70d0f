package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
)

// probeDeadline bounds the load probe of a pool's members: one that does
// not answer within it is treated as down and skipped.
const probeDeadline = time.Second

// resolveFleet expands every dns://NAME:PORT daemon into its members, one
// per A/AAAA record, resolved once per job (dns-server, else the system
// resolver). Before that, the job's TLS decision is made for every daemon
// (builder.DecideTLS), so members inherit their name's. The configuration
// is not changed: the result is a copy.
func resolveFleet(ctx context.Context, d Deps, cfg *config.Config) (*config.Config, error) {
	cfg, err := builder.DecideAll(withPipelineCerts(cfg, d.Env), builder.JobIntent(cfg, d.Env))
	if err != nil {
		return nil, err
	}
	var nodes []config.Node
	expanded := false
	for _, n := range cfg.Nodes {
		name, port, ok := fleet.ParseDNS(n.Host)
		if !ok {
			nodes = append(nodes, n)
			continue
		}
		addrs, err := fleet.Resolve(ctx, name, port, cfg.DNSServer)
		if err != nil {
			return nil, exitcode.With(exitcode.Connect, fmt.Errorf("%w: check the name's records, or dns-server", err))
		}
		members := fleet.Members(name, addrs, n)
		fmt.Fprintf(d.Err, "remote-buildkit: %s: %d member(s) %v\n", n.Host, len(members), addrs)
		nodes = append(nodes, members...)
		expanded = true
	}
	if !expanded {
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
	err := builder.WaitFor(ctx, "every pool member", cfg.ConnectTimeout, d.Err, func(left time.Duration) error {
		var err error
		c, _, err = fleet.ChooseLoaded(ctx, dial, key, cfg.Nodes, cfg.MaxLoadFactor, 0, left, probeDeadline, warn)
		if err != nil && !errors.As(err, new(*builder.ConnectError)) {
			err = &builder.ConnectError{Host: "the pool", Cause: "no member answered", Transient: true, Err: err}
		}
		return err
	})
	return c, err
}
