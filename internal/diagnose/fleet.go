package diagnose

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/insights"
)

// resolveFleet replaces every dns://NAME:PORT daemon by its members (one per
// A/AAAA record, as a build resolves them) and reports what it found; ok is
// false when there is no dns:// daemon.
func (r *Runner) resolveFleet(ctx context.Context) (Check, bool) {
	if r.Config == nil {
		return Check{}, false
	}
	nodes, expanded, err := fleet.Expand(ctx, r.Config.Nodes, r.Config.DNSServer, r.resolve)
	if err != nil {
		var dnsErr *fleet.DNSError
		errors.As(err, &dnsErr)
		return fail(oneLine(err), "add A/AAAA records for "+dnsErr.Name+" (one per builder), or point dns-server at the resolver that has them"), true
	}
	if len(expanded) == 0 {
		return Check{}, false
	}
	var found []string
	for _, e := range expanded {
		found = append(found, fmt.Sprintf("%s: %d member(s) %s", e.Host, len(e.Addrs), strings.Join(e.Addrs, ", ")))
	}
	c := *r.Config
	c.Nodes = nodes
	r.Config = &c
	return pass("%s", strings.Join(found, "; ")), true
}

// checkFleet lists a pool's members in this pipeline's rendezvous order,
// each with whether it answers, its version, its active builds and cache.
func (r *Runner) checkFleet(ctx context.Context, s *state) Check {
	if s.cfg == nil || len(s.cfg.Nodes) < 2 || r.Daemon == nil {
		return skip("a single daemon")
	}
	ordered := r.rankOrder(s.cfg)
	lines := make([]string, len(ordered))
	up := 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, n := range ordered {
		wg.Go(func() {
			line, ok := r.member(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			lines[i] = fmt.Sprintf("%d. %s", i+1, line)
			if ok {
				up++
			}
		})
	}
	wg.Wait()
	found := fmt.Sprintf("rank order for pipeline %q: %s", s.cfg.PipelineSlug, strings.Join(lines, "; "))
	if up == 0 {
		return fail(found, "no member answers: start buildkitd on the builders, or fix the addresses")
	}
	if up < len(ordered) {
		return warn(found, "builds skip the members that do not answer: start buildkitd there or remove them from the pool")
	}
	return pass("%s", found)
}

// RankOrder is the pool's members in the order this step's builds try
// them (the build's own route key, fleet.RouteKey).
func (r *Runner) RankOrder() []config.Node { return r.rankOrder(r.Config) }

func (r *Runner) rankOrder(cfg *config.Config) []config.Node {
	return fleet.Ordered(fleet.RouteKey(cfg, r.WorkDir), cfg.Nodes)
}

// member describes one pool member; ok when it answers.
func (r *Runner) member(ctx context.Context, n config.Node) (string, bool) {
	ver, err := r.Daemon.Info(ctx, n, r.Probe)
	if err != nil {
		return fmt.Sprintf("%s down (%s)", n.Name, oneLine(err)), false
	}
	line := n.Name + " " + ver
	if active, err := r.Daemon.Active(ctx, n, r.Probe); err == nil {
		line += fmt.Sprintf(", %d active", active)
	}
	if size, _, err := r.Daemon.Cache(ctx, n, r.Probe); err == nil {
		line += ", cache " + insights.FormatBytes(size)
	}
	return line, true
}
