package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"golang.org/x/sync/errgroup"

	"github.com/remote-buildkit/remote-buildkit/internal/dockerload"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// solver runs one image's request on the daemons route chose.
type solver struct {
	j   *Job
	req solve.Request
	ins *tracker
	log io.Writer // progress and warnings (prefixed with the image's name in a bake)
}

// one builds on a single daemon.
func (s *solver) one(ctx context.Context, t fleet.Assignment) (*solve.Result, error) {
	req, j := s.req, s.j
	if j.cfg.Several() && len(t.Platforms) > 0 {
		req = req.ForPlatforms(t.Platforms)
	}
	var load *dockerload.Session
	if req.Load() {
		load = dockerload.New(ctx, j.engine)
		req = req.WithLoader(load.Output)
	}
	plan, err := req.Plan(j.auth.Attachable())
	if err != nil {
		return nil, planError(err)
	}
	if req.Call() != "build" {
		return s.call(ctx, t, plan)
	}
	solved, err := solve.Solve(ctx, t.Client, plan, j.cfg.Progress, s.log, s.ins.watch(plan, t.Client, ""))
	if err != nil {
		return nil, explainBuildError(ctx, j.cfg, j.auth, t, err)
	}
	if load != nil {
		if err := load.Wait(); err != nil {
			return nil, exitcode.With(exitcode.BuildFailed, err)
		}
		fmt.Fprintf(j.d.Out, "loaded: %s into the Docker engine\n", strings.Join(req.Tags(), ", "))
	}
	return assemble(s.req, j.cfg.Several(), []fleet.Assignment{t}, []*solve.Solved{solved}, nil), nil
}

// call asks the frontend for check, outline or targets instead of a build;
// check fails the step when it finds anything, naming each warning.
func (s *solver) call(ctx context.Context, t fleet.Assignment, plan *solve.Plan) (*solve.Result, error) {
	res, err := solve.Call(ctx, t.Client, plan, s.j.cfg.Progress, s.log)
	if err != nil {
		return nil, explainBuildError(ctx, s.j.cfg, s.j.auth, t, err)
	}
	if res.Text != "" {
		fmt.Fprintf(s.j.d.Out, "--- :mag: remote-buildkit: call %s\n%s\n", res.Call, strings.TrimRight(res.Text, "\n"))
	}
	if res.Failed() {
		return nil, exitcode.With(exitcode.BuildFailed, callFailure(res))
	}
	out := assemble(s.req, s.j.cfg.Several(), []fleet.Assignment{t}, []*solve.Solved{{}}, nil)
	out.Pushed, out.Call = nil, res.Call
	return out, nil
}

// planError is a request that could not be planned: a configuration
// problem (exit 2) unless Plan said otherwise (git-context's ssh host key
// read from an unreachable server is exit 3).
func planError(err error) error {
	if coded := (*exitcode.Error)(nil); errors.As(err, &coded) {
		return err
	}
	return exitcode.With(exitcode.BadConfig, err)
}

// callFailure names every warning check found, one per line.
func callFailure(res *solve.CallResult) error {
	var lines []string
	for _, w := range res.Warnings {
		line := w.Rule + ": " + w.Detail
		if w.Location != "" {
			line = w.Location + ": " + line
		}
		lines = append(lines, line)
	}
	if res.Error != "" {
		lines = append(lines, res.Error)
	}
	if len(lines) == 0 {
		lines = append(lines, fmt.Sprintf("the frontend answered status %d", res.StatusCode))
	}
	return fmt.Errorf("call: %s found %d problem(s) (the step fails, as docker buildx build --call=check does):\n%s", res.Call, len(lines), strings.Join(lines, "\n"))
}

// split builds each node's platforms on that node, all at once, each
// pushing its image by digest (untagged); then it assembles one index and
// pushes it under every tag. A failing node cancels the others.
func (s *solver) split(ctx context.Context, targets []fleet.Assignment) (*solve.Result, error) {
	tags := s.req.Tags()
	named, err := reference.ParseNormalizedNamed(tags[0])
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	repo := reference.TrimNamed(named).String()
	var names []string
	for _, t := range targets {
		names = append(names, fmt.Sprintf("%s → %s", strings.Join(t.Platforms, ","), t.Node.Name))
	}
	fmt.Fprintf(s.j.d.Out, "Splitting across %d nodes: %s\n", len(targets), strings.Join(names, "; "))
	parts, failed, err := s.parts(ctx, targets, repo)
	if err != nil {
		return nil, err
	}
	var ps []fleet.Part
	for i, r := range parts {
		ps = append(ps, fleet.Part{Node: targets[i].Node.Name, Host: targets[i].Node.Host, Digest: r.Digest})
	}
	digest, manifests, err := fleet.PushIndex(ctx, fleet.Keychain(ctx, s.j.auth.Lookup), repo, ps, tags, s.req.IndexAnnotations(), s.j.cfg.InsecureRegistries)
	if err != nil {
		return nil, exitcode.With(exitcode.BuildFailed, err)
	}
	for _, m := range manifests {
		fmt.Fprintf(s.j.d.Out, "manifest: %s %s (node %s)\n", m.Platform, m.Digest, m.Node)
	}
	res := assemble(s.req, false, targets, parts, &index{digest: digest, manifests: manifests})
	res.Attempts = failed
	return res, nil
}

// parts runs every node's share in parallel, log lines prefixed with the
// node's name; a node's share that fails for an infrastructure reason is
// run again on that node (retries), the others' results kept.
func (s *solver) parts(ctx context.Context, targets []fleet.Assignment, repo string) ([]*solve.Solved, []solve.Attempt, error) {
	results := make([]*solve.Solved, len(targets))
	failed := make([][]solve.Attempt, len(targets))
	var logMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for i := range targets {
		g.Go(func() error {
			w := &prefixWriter{prefix: "[" + targets[i].Node.Name + "] ", w: s.log, mu: &logMu}
			defer w.Flush()
			var err error
			results[i], failed[i], err = s.part(ctx, gctx, &targets[i], repo, w)
			return err
		})
	}
	err := g.Wait()
	var all []solve.Attempt
	for _, f := range failed {
		all = append(all, f...)
	}
	return results, all, err
}

// part builds one node's platforms, pushing by digest; after an
// infrastructure failure it builds them again on that node (retries).
func (s *solver) part(ctx, gctx context.Context, t *fleet.Assignment, repo string, w *prefixWriter) (*solve.Solved, []solve.Attempt, error) {
	j := s.j
	where := fmt.Sprintf("node %s (%s, %s)", t.Node.Name, t.Node.Host, strings.Join(t.Platforms, ","))
	res, failed, err := withRetries(gctx, j.cfg.Retries, func() (*solve.Solved, error) {
		plan, err := s.req.ForPlatforms(t.Platforms).PushByDigest(repo).Plan(j.auth.Attachable())
		if err != nil {
			return nil, planError(err)
		}
		res, err := solve.Solve(gctx, t.Client, plan, "plain", w, s.ins.watch(plan, t.Client, strings.Join(t.Platforms, ",")))
		if err != nil {
			err = explainBuildError(ctx, j.cfg, j.auth, *t, err)
			if ie := (*solve.InfraError)(nil); errors.As(err, &ie) {
				ie.Host, ie.Node = t.Node.Host, t.Node.Name
			}
		}
		return res, err
	}, func(n int, last *solve.InfraError) error {
		fmt.Fprintf(w, "--- :repeat: remote-buildkit: attempt %d of %d on this node (after: %s)\n", n, j.cfg.Retries+1, last.Cause)
		s.ins.drop(t.Client) // its record went with the lost connection
		if err := s.reconnect(gctx, t); err != nil {
			return exitcode.With(exitcode.Connect, fmt.Errorf("%s, and it did not come back: %w", last.Cause, err))
		}
		return nil
	})
	if err != nil && !(ctx.Err() == nil && gctx.Err() != nil && exitcode.Of(err) == exitcode.Cancelled) {
		// (a part cancelled because another node failed leaves the report to that node)
		err = exitcode.With(exitcode.Of(err), fmt.Errorf("%s: %w", where, err))
	}
	return res, failed, err
}

// reconnect replaces a node's client after its connection was lost.
func (s *solver) reconnect(ctx context.Context, t *fleet.Assignment) error {
	s.j.lost(t.Node.Host)
	c, err := dialWaiting(ctx, s.j.d.Err, s.j.dial.Dial, t.Node, s.j.cfg.ConnectTimeout)
	if err != nil {
		return err
	}
	c.Platforms, c.Rank = t.Connected.Platforms, t.Rank
	t.Connected = c
	return nil
}

// index is the image index a split build pushed.
type index struct {
	digest    string
	manifests []solve.Manifest
}

// assemble is the one place a Result is made: from the request, the
// daemons that built it and what each produced (plus the index of a split).
func assemble(req solve.Request, named bool, targets []fleet.Assignment, parts []*solve.Solved, idx *index) *solve.Result {
	first := targets[0]
	res := &solve.Result{
		Host:          first.Node.Host,
		DaemonVersion: first.Info.BuildkitVersion.Version,
		Platforms:     req.Platforms(),
		Tags:          req.Tags(),
	}
	if named {
		res.Node = first.Node.Name
	}
	for _, p := range parts {
		res.Steps += p.Steps
		res.CachedSteps += p.CachedSteps
		res.Seconds = max(res.Seconds, p.Seconds)
		res.Digest, res.Exporter = p.Digest, p.Exporter
	}
	res.Context = solve.SumContext(parts)
	if idx != nil {
		res.Digest, res.Manifests = idx.digest, idx.manifests
		res.Exporter = map[string]any{"containerimage.digest": idx.digest}
	}
	if res.Digest != "" {
		for _, ref := range req.Pushes() {
			res.Pushed = append(res.Pushed, ref+"@"+res.Digest)
		}
	}
	return res
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
