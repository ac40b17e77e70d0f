package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// errSplitNeedsPush: a split build's index is assembled in the registry.
var errSplitNeedsPush = errors.New("nodes: this build is split across nodes and its image index is assembled in the registry: set push: true with tags, and no outputs")

// checkNodes rejects, before anything is dialled, a nodes set that cannot
// build this request: a platform no declared node builds, or a build that
// must be split but does not push tags.
func checkNodes(cfg *config.Config, req solve.Request) error {
	if !cfg.Several() || !declaresPlatforms(cfg.Nodes) {
		return nil
	}
	if err := fleet.CheckDeclared(cfg.Nodes, req.Platforms()); err != nil {
		return exitcode.With(exitcode.BadConfig, err)
	}
	if fleet.MustSplit(cfg.Nodes, req.Platforms()) && !splittable(req) {
		return exitcode.With(exitcode.BadConfig, errSplitNeedsPush)
	}
	return nil
}

func splittable(req solve.Request) bool {
	return req.Push() && len(req.Tags()) > 0 && len(req.Outputs()) == 0
}

func declaresPlatforms(nodes []config.Node) bool {
	for _, n := range nodes {
		if len(n.Platforms) > 0 {
			return true
		}
	}
	return false
}

// route picks the daemons for one image: the only one; the step's pool
// member; or, when platforms must go to particular nodes, one node per
// group of platforms. Connections are the job's, shared by its images.
func (j *Job) route(ctx context.Context, req solve.Request) ([]fleet.Assignment, error) {
	cfg, platforms := j.cfg, req.Platforms()
	if !cfg.Several() {
		c, err := dialWaiting(ctx, j.d.Err, j.dial.Dial, cfg.Default(), cfg.ConnectTimeout)
		if err != nil {
			return nil, err
		}
		c.Rank = 1
		return []fleet.Assignment{{Connected: c, Platforms: platforms}}, nil
	}
	declared := declaresPlatforms(cfg.Nodes)
	if len(platforms) > 1 || (len(platforms) == 1 && declared) {
		return j.routeByPlatform(ctx, req, declared)
	}
	c, err := j.poolMember(ctx)
	if err != nil {
		return nil, exitcode.With(exitcode.Connect, err)
	}
	return []fleet.Assignment{{Connected: c, Platforms: platforms}}, nil
}

// dialWaiting connects to one daemon, waiting within timeout while it
// refuses or drops connections (starting, restarting).
func dialWaiting(ctx context.Context, log io.Writer, dial fleet.Dial, n config.Node, timeout time.Duration) (*fleet.Connected, error) {
	var c *fleet.Connected
	err := solve.WaitFor(ctx, n.Host, timeout, log, func(left time.Duration) error {
		var err error
		c, err = dial(ctx, n, left)
		return err
	})
	return c, err
}

// routeByPlatform gives each platform to a node that builds it natively.
func (j *Job) routeByPlatform(ctx context.Context, req solve.Request, declared bool) ([]fleet.Assignment, error) {
	platforms := req.Platforms()
	warn := func(s string) { warnf(j.d.Err, "%s", s) }
	as, err := fleet.Assign(ctx, j.dial.Dial, j.key, j.cfg.Nodes, platforms, j.cfg.ConnectTimeout, warn)
	if errors.Is(err, fleet.ErrNoNativeNode) && !declared {
		// A pool of like daemons: one of them builds every platform, as a
		// single daemon would (cross-compiling stages or QEMU).
		fmt.Fprintf(j.d.Err, "remote-buildkit: not every platform has a native node (%s): building all of them on one pool member\n", strings.Join(platforms, ", "))
		c, cerr := j.poolMember(ctx)
		if cerr != nil {
			return nil, exitcode.With(exitcode.Connect, cerr)
		}
		return []fleet.Assignment{{Connected: c, Platforms: platforms}}, nil
	}
	if err != nil {
		return nil, exitcode.With(exitcode.Connect, err)
	}
	if len(as) > 1 && !splittable(req) {
		return nil, exitcode.With(exitcode.BadConfig, errSplitNeedsPush)
	}
	return as, nil
}

// checkTLS applies the job's TLS decision to every daemon before anything
// is dialled: a missing file fails the step naming it, and a client key
// other users can read is a warning (an error with require-tls): whoever
// reads it can run builds on the daemon.
func checkTLS(d Deps, cfg *config.Config) error {
	seen := map[string]bool{}
	for _, n := range cfg.Nodes {
		t, err := solve.ResolveTLS(n)
		if err != nil {
			if cfg.Several() {
				err = exitcode.With(exitcode.Of(err), fmt.Errorf("node %s: %w", n.Name, err))
			}
			return err
		}
		if !t.ClientCertUsed || seen[t.Key] {
			continue
		}
		seen[t.Key] = true
		fi, err := os.Stat(t.Key)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		msg := fmt.Sprintf("the client key %s is readable by other users (mode %04o): anyone who reads it can run builds on the daemon; run chmod 600 %s", t.Key, fi.Mode().Perm(), t.Key)
		if cfg.RequireTLS {
			return exitcode.With(exitcode.Certs, errors.New(msg+" (require-tls is set)"))
		}
		warnf(d.Err, "%s", msg)
	}
	return nil
}
