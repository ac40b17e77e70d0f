package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/session"
	"golang.org/x/sync/errgroup"

	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

// connectTargets picks the daemons for this build: the only one; a pool
// member chosen by rendezvous hashing; or, when platforms must go to
// particular nodes, one node per group of platforms.
func connectTargets(ctx context.Context, cfg *config.Config, workDir string, errOut io.Writer) ([]fleet.Assignment, error) {
	warn := func(s string) { fmt.Fprintf(errOut, "remote-buildkit: WARNING: %s\n", s) }
	if len(cfg.Nodes) <= 1 {
		node := cfg.Default()
		cl, info, t, err := builder.Connect(ctx, node, cfg.ConnectTimeout)
		if err != nil {
			return nil, err
		}
		return []fleet.Assignment{{Connected: &fleet.Connected{Node: node, Client: cl, Info: info, TLS: t, Rank: 1}, Platforms: cfg.Platforms}}, nil
	}
	key := fleet.Key(cfg.PipelineSlug, relTo(workDir, cfg.Dockerfile))
	declared := false
	for _, n := range cfg.Nodes {
		declared = declared || len(n.Platforms) > 0
	}
	if len(cfg.Platforms) > 1 || (len(cfg.Platforms) == 1 && declared) {
		as, err := fleet.Assign(ctx, key, cfg.Nodes, cfg.Platforms, cfg.ConnectTimeout, warn)
		if errors.Is(err, fleet.ErrNoNativeNode) && !declared {
			// A pool of like daemons: one of them builds every platform, as a
			// single daemon would (cross-compiling stages or QEMU).
			fmt.Fprintf(errOut, "remote-buildkit: not every platform has a native node (%s): building all of them on one pool member\n", strings.Join(cfg.Platforms, ", "))
			c, cerr := fleet.Choose(ctx, key, cfg.Nodes, cfg.ConnectTimeout, warn)
			if cerr != nil {
				return nil, exitcode.With(exitcode.Connect, cerr)
			}
			return []fleet.Assignment{{Connected: c, Platforms: cfg.Platforms}}, nil
		}
		if err != nil {
			return nil, exitcode.With(exitcode.Connect, err)
		}
		if len(as) > 1 && (!cfg.Push || len(cfg.Tags) == 0 || len(cfg.Outputs) > 0) {
			for _, a := range as {
				a.Close()
			}
			return nil, exitcode.With(exitcode.BadConfig, errors.New("nodes: this build is split across nodes and its image index is assembled in the registry: set push: true with tags, and no outputs"))
		}
		return as, nil
	}
	c, err := fleet.Choose(ctx, key, cfg.Nodes, cfg.ConnectTimeout, warn)
	if err != nil {
		return nil, exitcode.With(exitcode.Connect, err)
	}
	return []fleet.Assignment{{Connected: c, Platforms: cfg.Platforms}}, nil
}

// planFor is the plan of cfg restricted to some platforms.
func planFor(cfg *config.Config, platforms []string, auth session.Attachable) (*builder.Plan, error) {
	c := *cfg
	c.Platforms = platforms
	p, err := builder.NewPlan(&c, auth)
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	return p, nil
}

// buildSplit builds each node's platforms on that node, all at once, each
// pushing its image by digest (untagged); then it assembles one index and
// pushes it under every tag. A failing node cancels the others.
func buildSplit(ctx context.Context, cfg *config.Config, targets []fleet.Assignment, auth *registryauth.Sources, seedDir string, out, errOut io.Writer) (*builder.Result, error) {
	named, err := reference.ParseNormalizedNamed(cfg.Tags[0])
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	repo := reference.TrimNamed(named).String()
	var names []string
	for _, t := range targets {
		names = append(names, fmt.Sprintf("%s → %s", strings.Join(t.Platforms, ","), t.Node.Name))
	}
	fmt.Fprintf(out, "Splitting across %d nodes: %s\n", len(targets), strings.Join(names, "; "))

	results := make([]*builder.Result, len(targets))
	var logMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for i, t := range targets {
		g.Go(func() error {
			c := *cfg
			c.Platforms = t.Platforms
			c.Tags = nil
			c.Outputs = []config.Attrs{{Type: "image", Attrs: map[string]string{"name": repo, "push": "true", "push-by-digest": "true"}}}
			c.CacheFrom = perPlatformCache(cfg.CacheFrom, t.Platforms)
			c.CacheTo = perPlatformCache(cfg.CacheTo, t.Platforms)
			plan, err := builder.NewPlan(&c, auth.Attachable(seedDir))
			if err != nil {
				return exitcode.With(exitcode.BadConfig, err)
			}
			w := &prefixWriter{prefix: "[" + t.Node.Name + "] ", w: errOut, mu: &logMu}
			res, err := builder.Solve(gctx, t.Client, plan, "plain", w)
			w.Flush()
			if err != nil {
				if ctx.Err() == nil && gctx.Err() != nil && exitcode.Of(err) == exitcode.Cancelled {
					return err // cancelled because another node failed: that node's error is reported
				}
				err = explainBuildError(ctx, cfg, auth, t, err)
				return exitcode.With(exitcode.Of(err), fmt.Errorf("node %s (%s, %s): %w", t.Node.Name, t.Node.Host, strings.Join(t.Platforms, ","), err))
			}
			results[i] = res
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	var parts []fleet.Part
	total := &builder.Result{Host: targets[0].Node.Host, DaemonVersion: targets[0].Info.BuildkitVersion.Version}
	for i, r := range results {
		parts = append(parts, fleet.Part{Node: targets[i].Node.Name, Host: targets[i].Node.Host, Digest: r.Digest})
		total.Steps += r.Steps
		total.CachedSteps += r.CachedSteps
		total.Seconds = max(total.Seconds, r.Seconds)
	}
	digest, manifests, err := fleet.PushIndex(ctx, fleet.Keychain(ctx, auth.Lookup), repo, parts, cfg.Tags)
	if err != nil {
		return nil, exitcode.With(exitcode.BuildFailed, err)
	}
	total.Digest = digest
	total.Manifests = manifests
	total.Exporter = map[string]any{"containerimage.digest": digest}
	for _, m := range manifests {
		fmt.Fprintf(out, "manifest: %s %s (node %s)\n", m.Platform, m.Digest, m.Node)
	}
	return total, nil
}

// perPlatformCache gives each node its own registry cache ref, so nodes
// don't overwrite each other's cache: ref:tag → ref:tag-linux-arm64.
func perPlatformCache(entries []config.Attrs, platforms []string) []config.Attrs {
	suffix := strings.NewReplacer("/", "-").Replace(strings.Join(platforms, "_"))
	var out []config.Attrs
	for _, e := range entries {
		attrs := map[string]string{}
		for k, v := range e.Attrs {
			attrs[k] = v
		}
		if ref := attrs["ref"]; ref != "" && e.Type == "registry" {
			if named, err := reference.ParseNormalizedNamed(ref); err == nil {
				tag := "latest"
				if t, ok := named.(reference.Tagged); ok {
					tag = t.Tag()
				}
				attrs["ref"] = reference.TrimNamed(named).String() + ":" + tag + "-" + suffix
			}
		}
		out = append(out, config.Attrs{Type: e.Type, Attrs: attrs})
	}
	return out
}

// prefixWriter writes whole lines, each with the node's name in front.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex
	buf    bytes.Buffer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	for {
		i := bytes.IndexByte(p.buf.Bytes(), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := p.buf.Next(i + 1)
		if len(bytes.TrimSpace(line)) == 0 {
			continue // plain progress separates steps with blank lines
		}
		p.mu.Lock()
		_, err := io.WriteString(p.w, p.prefix+string(line))
		p.mu.Unlock()
		if err != nil {
			return len(b), err
		}
	}
}

// Flush writes a final unterminated line.
func (p *prefixWriter) Flush() {
	if p.buf.Len() > 0 {
		p.mu.Lock()
		fmt.Fprintln(p.w, p.prefix+p.buf.String())
		p.mu.Unlock()
		p.buf.Reset()
	}
}
