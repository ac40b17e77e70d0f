package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/buildxcfg"
)

// checkBuildx is `docker buildx inspect --bootstrap` for the builder the
// environment hook would register (buildx set): every node reached as buildx's
// remote driver reaches it — its endpoint, TLS files and server name — and
// its BuildKit version and platforms listed.
func (r *Runner) checkBuildx(ctx context.Context, s *state) Check {
	if r.BuildxPlan == nil {
		return skip("buildx is not set")
	}
	nodes, err := r.BuildxPlan(ctx)
	if err != nil {
		return fail("the builder cannot be set up: "+oneLine(err), "fix what the daemon checks above report (address, tls-dir, tls-server-name)")
	}
	inspect := r.buildxInspect
	if inspect == nil {
		inspect = buildxcfg.Inspect
	}
	var lines []string
	for _, n := range nodes {
		v, ps, err := inspect(ctx, n, r.Probe)
		if err != nil {
			return fail(fmt.Sprintf("builder %s: node %s (%s) does not answer buildx's remote driver: %s", s.cfg.Buildx, n.Name, n.Endpoint, oneLine(err)),
				"check the driver options "+driverOpts(n)+": the files must be readable by the agent and the daemon's certificate must cover the server name")
		}
		line := fmt.Sprintf("node %s %s BuildKit %s, platforms %s (%s)", n.Name, n.Endpoint, v, strings.Join(ps, ", "), driverOpts(n))
		if len(n.Platforms) > 0 {
			line += "; builds " + strings.Join(n.Platforms, ", ")
		}
		lines = append(lines, line)
	}
	return pass("builder %s (remote driver): %s", s.cfg.Buildx, strings.Join(lines, "; "))
}

// driverOpts names a node's driver options (the paths, not the files).
func driverOpts(n buildxcfg.Node) string {
	var kv []string
	for k, v := range n.DriverOpts {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	if len(kv) == 0 {
		return "no TLS"
	}
	return strings.Join(kv, ",")
}
