package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/remote-buildkit/remote-buildkit/internal/bake"
	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
)

// imageOptions describe one image: with bake, each target's come from the
// bake files, so setting one beside bake is a configuration error.
var imageOptions = []string{"dockerfile", "context", "target", "tags", "build-args", "labels", "build-contexts",
	"platforms", "cache-from", "cache-to", "secrets", "ssh", "outputs", "no-cache", "provenance", "sbom",
	"add-hosts", "annotations", "no-cache-filters", "pull", "call", "network", "shm-size", "ulimit"}

// bakeStep is a step with the bake option: the files, targets and --set
// lines, and the step's other options, which every target gets.
type bakeStep struct {
	files, targets, set []string
	base                map[string]json.RawMessage
}

// readBakeStep returns the step's bake options, or nil for a step without
// bake. The schema has checked their shapes.
func readBakeStep(d Deps) (*bakeStep, error) {
	js, err := config.RawFromEnv(d.Env)
	if err != nil {
		return nil, nil // reported by Load
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(js, &m) != nil || m["bake"] == nil {
		return nil, nil
	}
	var problems []config.Problem
	for _, k := range imageOptions {
		if m[k] != nil {
			problems = append(problems, config.Problem{Key: k, Msg: "set beside bake: with bake every image's " + k + " comes from its target in the bake file; move it there (or use set: [\"*." + k + "=…\"])"})
		}
	}
	if len(problems) > 0 {
		return nil, exitcode.With(exitcode.BadConfig, &config.Error{Problems: problems})
	}
	b := &bakeStep{files: stringOrList(m["bake"]), targets: stringOrList(m["targets"]), set: stringOrList(m["set"]), base: m}
	for _, k := range []string{"bake", "targets", "set"} {
		delete(b.base, k)
	}
	return b, nil
}

// stringOrList decodes a string-or-list option.
func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var list []string
	_ = json.Unmarshal(raw, &list)
	return list
}

// bakeTarget is one target's validated configuration and its outcome.
type bakeTarget struct {
	bake.Target
	cfg  *config.Config
	res  *builder.Result
	ins  *tracker
	done chan struct{}
}

// targetConfigs merges each target's options over the step's and validates
// the result like a single-image step (paths, references, platforms…).
func targetConfigs(d Deps, b *bakeStep, ts []bake.Target) ([]*bakeTarget, error) {
	var out []*bakeTarget
	for _, t := range ts {
		m := map[string]any{}
		for k, v := range b.base {
			m[k] = v
		}
		for k, v := range t.Options {
			m[k] = v
		}
		js, err := json.Marshal(m)
		if err != nil {
			return nil, exitcode.With(exitcode.Internal, err)
		}
		cfg, err := config.Parse(js, d.Env, d.WorkDir)
		if err != nil {
			return nil, exitcode.With(exitcode.BadConfig, fmt.Errorf("bake target %s: %w", t.Name, err))
		}
		if len(cfg.Platforms) > 1 {
			cfg.Load = false // load: true loads every single-platform target, as bake --load
		}
		out = append(out, &bakeTarget{Target: t, cfg: cfg, ins: &tracker{on: cfg.Insights, lane: t.Name}, done: make(chan struct{})})
	}
	return out, nil
}

// Bake builds every target of the step's bake files in parallel over one
// connection per daemon; a failing target cancels the others.
func Bake(ctx context.Context, d Deps, b *bakeStep) error {
	start := time.Now()
	ts, err := bake.Load(ctx, d.WorkDir, b.files, b.targets, b.set)
	if err != nil {
		return exitcode.With(exitcode.BadConfig, err)
	}
	targets, err := targetConfigs(d, b, ts)
	if err != nil {
		return err
	}
	step := *targets[0].cfg // the step-level options are the same in every target
	shared := &sharedDial{dial: d.Dial, conns: map[string]*fleet.Connected{}}
	defer shared.Close()
	d.Dial, d.Forget = shared.Dial, shared.forget
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	fmt.Fprintf(d.Out, "--- :buildkite: remote-buildkit: bake %s (%d targets)\n", strings.Join(names, ", "), len(targets))
	err = runTargets(ctx, d, targets)
	if err == nil {
		err = writeBakeMetadata(d, step.MetadataFile, targets)
	}
	publishBake(context.WithoutCancel(ctx), d, &step, targets, err, time.Since(start))
	return err
}

// runTargets runs each target once the targets it takes a context from
// have pushed their image.
func runTargets(ctx context.Context, d Deps, targets []*bakeTarget) error {
	byName := map[string]*bakeTarget{}
	for _, t := range targets {
		byName[t.Name] = t
	}
	var logMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range targets {
		g.Go(func() error {
			if err := t.takeContexts(gctx, byName); err != nil {
				return err
			}
			td := d
			w := &prefixWriter{prefix: "[" + t.Name + "] ", w: d.Err, mu: &logMu}
			defer w.Flush()
			td.Err = w
			cfg := *t.cfg
			cfg.MetadataFile, cfg.Annotate, cfg.Artifact, cfg.MetaData.Enabled = "", false, false, false
			res, err := build(gctx, td, &cfg, t.ins)
			if err != nil {
				if ctx.Err() == nil && gctx.Err() != nil && exitcode.Of(err) == exitcode.Cancelled {
					return err // cancelled because another target failed
				}
				return exitcode.With(exitcode.Of(err), fmt.Errorf("target %s: %w", t.Name, err))
			}
			t.res = res
			close(t.done)
			return nil
		})
	}
	return g.Wait()
}

// takeContexts waits for the targets this one names as target: contexts and
// points those contexts at their pushed images.
func (t *bakeTarget) takeContexts(ctx context.Context, byName map[string]*bakeTarget) error {
	for name, dep := range t.Needs {
		select {
		case <-byName[dep].done:
		case <-ctx.Done():
			return exitcode.With(exitcode.Cancelled, errors.New("build cancelled"))
		}
		res := byName[dep].res
		if len(res.Pushed) == 0 {
			return exitcode.With(exitcode.BadConfig, fmt.Errorf("target %s: context %s = target:%s needs %s's image in a registry: give %s tags and set push: true", t.Name, name, dep, dep, dep))
		}
		if t.cfg.BuildContexts == nil {
			t.cfg.BuildContexts = map[string]string{}
		}
		t.cfg.BuildContexts[name] = "docker-image://" + res.Pushed[0]
	}
	return nil
}

// writeBakeMetadata writes the metadata file in bake's shape:
// {"<target>": {exporter response…, "remote-buildkit": {…}}}.
func writeBakeMetadata(d Deps, path string, targets []*bakeTarget) error {
	if path == "" {
		return nil
	}
	doc := map[string]any{}
	for _, t := range targets {
		inner := map[string]any{"remote-buildkit": t.res}
		for k, v := range t.res.Exporter {
			inner[k] = v
		}
		doc[t.Name] = inner
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return exitcode.With(exitcode.Internal, err)
	}
	if err := writeAtomically(path, func(f *os.File) error { _, err := f.Write(append(b, '\n')); return err }); err != nil {
		return exitcode.With(exitcode.Internal, fmt.Errorf("metadata-file %s: %w", path, err))
	}
	fmt.Fprintf(d.Out, "metadata: %s\n", relTo(d.WorkDir, path))
	return nil
}

// sharedDial hands every build the same connection to a daemon.
type sharedDial struct {
	mu    sync.Mutex
	dial  fleet.Dial
	conns map[string]*fleet.Connected
}

func (s *sharedDial) Dial(ctx context.Context, n config.Node, timeout time.Duration) (*fleet.Connected, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[n.Host]
	if c == nil {
		var err error
		if c, err = s.dial(ctx, n, timeout); err != nil {
			return nil, err
		}
		s.conns[n.Host] = c
	}
	cp := *c
	cp.Node, cp.Shared = n, true
	return &cp, nil
}

// forget drops a connection that was lost, so the retry dials again.
func (s *sharedDial) forget(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conns[host]; c != nil {
		c.Close()
		delete(s.conns, host)
	}
}

func (s *sharedDial) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// sortedTargets is the targets by name (the order of the annotation).
func sortedTargets(ts []*bakeTarget) []*bakeTarget {
	out := append([]*bakeTarget(nil), ts...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
