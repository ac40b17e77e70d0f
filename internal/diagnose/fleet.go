package diagnose

import (
	"context"
	"fmt"
	"path/filepath"
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
	resolve := r.resolve
	if resolve == nil {
		resolve = fleet.Resolve
	}
	var nodes []config.Node
	var found []string
	for _, n := range r.Config.Nodes {
		name, port, ok := fleet.ParseDNS(n.Host)
		if !ok {
			nodes = append(nodes, n)
			continue
		}
		addrs, err := resolve(ctx, name, port, r.Config.DNSServer)
		if err != nil {
			return fail(oneLine(err), "add A/AAAA records for "+name+" (one per builder), or point dns-server at the resolver that has them"), true
		}
		nodes = append(nodes, fleet.Members(name, addrs, n)...)
		found = append(found, fmt.Sprintf("%s: %d member(s) %s", n.Host, len(addrs), strings.Join(addrs, ", ")))
	}
	if len(found) == 0 {
		return Check{}, false
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
	key := fleet.Key(s.cfg.PipelineSlug, filepath.Base(s.cfg.Dockerfile))
	ordered := fleet.Ordered(key, s.cfg.Nodes)
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
