// Package fleet drives several BuildKit daemons: a pool where each pipeline
// sticks to one daemon by rendezvous hashing (so it reuses that daemon's
// cache), and platform nodes where a multi-platform build is split so every
// platform builds natively, in parallel.
package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// Key is the routing key of a build: the same pipeline and Dockerfile land
// on the same daemon.
func Key(pipelineSlug, dockerfile string) string {
	return pipelineSlug + "\x00" + dockerfile
}

// RouteKey is what a step routes by, the one definition the build, the
// buildx builder and diagnose's rank order use: the pipeline and the
// Dockerfile's path in the checkout (workDir), or its bake files.
func RouteKey(cfg *config.Config, workDir string) string {
	if cfg.Bake != nil && len(cfg.Bake.Files) > 0 {
		rel := make([]string, len(cfg.Bake.Files))
		for i, f := range cfg.Bake.Files {
			rel[i] = inCheckout(workDir, filepath.Clean(f))
		}
		return Key(cfg.PipelineSlug, "bake:"+strings.Join(rel, ","))
	}
	return Key(cfg.PipelineSlug, inCheckout(workDir, cfg.Dockerfile))
}

// inCheckout is p relative to workDir when it is inside it, else p.
func inCheckout(workDir, p string) string {
	if rest, ok := strings.CutPrefix(p, workDir+string(filepath.Separator)); ok {
		return rest
	}
	return p
}

// score is the rendezvous (highest random weight) score of node for key.
func score(key, node string) uint64 {
	sum := sha256.Sum256([]byte(key + "\x00" + node))
	return binary.BigEndian.Uint64(sum[:8])
}

// Ordered returns nodes by rendezvous score for key, best first. Adding or
// removing a node only moves the keys that node wins or loses.
func Ordered(key string, nodes []config.Node) []config.Node {
	out := append([]config.Node(nil), nodes...)
	sort.SliceStable(out, func(i, j int) bool { return score(key, out[i].Name) > score(key, out[j].Name) })
	return out
}

// Connected is a node that answered.
type Connected struct {
	Node      config.Node
	Client    *client.Client
	Info      *client.Info
	TLS       solve.TLS
	Platforms []string // the platforms it builds natively
	Rank      int      // position in rendezvous order, 1-based
	Shared    bool     // the client belongs to a shared dialer: Close leaves it open
}

// Close closes the node's client, unless it is shared with other builds
// (bake targets on one connection): its owner closes that.
func (c *Connected) Close() {
	if !c.Shared {
		c.Client.Close()
	}
}

// Dial connects to one node within timeout; Connect is the real one, tests
// pass their own.
type Dial func(ctx context.Context, n config.Node, timeout time.Duration) (*Connected, error)

// Connect dials a node with the BuildKit client (solve.Connect).
func Connect(ctx context.Context, n config.Node, timeout time.Duration) (*Connected, error) {
	cl, info, t, err := solve.Connect(ctx, n, timeout)
	if err != nil {
		return nil, err
	}
	return &Connected{Node: n, Client: cl, Info: info, TLS: t}, nil
}

// Choose connects to the first node in rendezvous order that answers within
// timeout; each node skipped is reported through warn. When none answers
// the error is a *solve.ConnectError, transient when every node's was.
func Choose(ctx context.Context, dial Dial, key string, nodes []config.Node, timeout time.Duration, warn func(string)) (*Connected, error) {
	var errs []string
	transient := true
	for i, n := range Ordered(key, nodes) {
		c, err := dial(ctx, n, timeout)
		if err == nil {
			c.Rank = i + 1
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		var ce *solve.ConnectError
		transient = transient && errors.As(err, &ce) && ce.Transient
		warn(fmt.Sprintf("skipping BuildKit node %s: %v", n.Name, err))
		errs = append(errs, n.Name)
	}
	return nil, &solve.ConnectError{Host: "the pool", Cause: "no member answered", Transient: transient,
		Err: fmt.Errorf("no BuildKit node answered (tried %s): see the warnings above", strings.Join(errs, ", "))}
}

// ErrNoNativeNode: a wanted platform has no node that builds it natively.
var ErrNoNativeNode = errors.New("no native node")

// Assignment is the platforms one node builds.
type Assignment struct {
	*Connected
	Platforms []string
}

// Assign connects to every node at once, learns what each builds natively
// (declared platforms, else its workers), and gives each wanted platform to
// the first node in rendezvous order that builds it natively. Nodes that
// don't answer are skipped with a warning; nodes that get nothing are closed.
func Assign(ctx context.Context, dial Dial, key string, nodes []config.Node, want []string, timeout time.Duration, warn func(string)) ([]Assignment, error) {
	type result struct {
		c   *Connected
		err error
	}
	results := make([]result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(ctx, n, timeout)
			if err == nil {
				if len(n.Platforms) > 0 {
					c.Platforms = n.Platforms
				} else if c.Platforms, err = NativePlatforms(ctx, c.Client); err != nil {
					c.Close()
					c = nil
				}
			}
			results[i] = result{c, err}
		}()
	}
	wg.Wait()
	byName := map[string]*Connected{}
	for i, r := range results {
		if r.err != nil {
			if ctx.Err() != nil {
				return nil, r.err
			}
			warn(fmt.Sprintf("skipping BuildKit node %s: %v", nodes[i].Name, r.err))
			continue
		}
		byName[nodes[i].Name] = r.c
	}
	var out []Assignment
	index := map[string]int{}
	for _, p := range want {
		var chosen *Connected
		for rank, n := range Ordered(key+"\x00"+p, nodes) {
			if c := byName[n.Name]; c != nil && serves(c.Platforms, p) {
				chosen = c
				chosen.Rank = rank + 1
				break
			}
		}
		if chosen == nil {
			for _, c := range byName {
				c.Close()
			}
			return nil, fmt.Errorf("%w: no reachable BuildKit node builds %s natively (nodes: %s): add one to nodes, declare its platforms, or drop the platform", ErrNoNativeNode, p, describe(nodes, byName))
		}
		if i, ok := index[chosen.Node.Name]; ok {
			out[i].Platforms = append(out[i].Platforms, p)
			continue
		}
		index[chosen.Node.Name] = len(out)
		out = append(out, Assignment{Connected: chosen, Platforms: []string{p}})
	}
	for name, c := range byName {
		if _, used := index[name]; !used {
			c.Close()
		}
	}
	return out, nil
}

func describe(nodes []config.Node, up map[string]*Connected) string {
	var parts []string
	for _, n := range nodes {
		if c := up[n.Name]; c != nil {
			parts = append(parts, fmt.Sprintf("%s: %s", n.Name, strings.Join(c.Platforms, ", ")))
		} else {
			parts = append(parts, n.Name+": unreachable")
		}
	}
	return strings.Join(parts, "; ")
}

func serves(have []string, want string) bool {
	w, err := platforms.Parse(want)
	if err != nil {
		return false
	}
	m := platforms.Only(w)
	for _, h := range have {
		if p, err := platforms.Parse(h); err == nil && m.Match(p) {
			return true
		}
	}
	return false
}

// compatible lists what a CPU architecture runs without emulation.
var compatible = map[string][]string{"amd64": {"386"}, "arm64": {"arm"}}

// NativePlatforms reads the workers' platforms and keeps those the daemon's
// CPU runs without emulation (the first platform's architecture family).
func NativePlatforms(ctx context.Context, c *client.Client) ([]string, error) {
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	var all []string
	for _, w := range ws {
		for _, p := range w.Platforms {
			all = append(all, platforms.Format(p))
		}
	}
	return Native(all), nil
}

// Native keeps the platforms of the first one's architecture family.
func Native(all []string) []string {
	if len(all) == 0 {
		return nil
	}
	first, err := platforms.Parse(all[0])
	if err != nil {
		return nil
	}
	ok := map[string]bool{first.Architecture: true}
	for _, a := range compatible[first.Architecture] {
		ok[a] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range all {
		if p, err := platforms.Parse(s); err == nil && ok[p.Architecture] && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// CheckDeclared finds, before anything is dialled, the platforms no node can
// build: when every node declares its platforms, each wanted platform needs
// one of them.
func CheckDeclared(nodes []config.Node, want []string) error {
	for _, n := range nodes {
		if len(n.Platforms) == 0 {
			return nil // discovered from its workers when connected
		}
	}
	for _, p := range want {
		found := false
		for _, n := range nodes {
			found = found || serves(n.Platforms, p)
		}
		if !found {
			return fmt.Errorf("%w: no node in nodes declares %s (%s): add a node that builds it, add it to a node's platforms, or drop the platform", ErrNoNativeNode, p, declared(nodes))
		}
	}
	return nil
}

// MustSplit reports whether the wanted platforms certainly go to more than
// one node: no declared node builds all of them, and they span more than
// one CPU family, so no discovered node (one family each) can either.
func MustSplit(nodes []config.Node, want []string) bool {
	if len(want) < 2 {
		return false
	}
	for _, n := range nodes {
		all := true
		for _, p := range want {
			all = all && (len(n.Platforms) > 0 && serves(n.Platforms, p))
		}
		if all {
			return false
		}
	}
	return len(Native(want)) < len(want)
}

func declared(nodes []config.Node) string {
	var parts []string
	for _, n := range nodes {
		parts = append(parts, n.Name+": "+strings.Join(n.Platforms, ", "))
	}
	return strings.Join(parts, "; ")
}
