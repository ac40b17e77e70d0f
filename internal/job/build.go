package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// Build is the build command: read the step → prepare the job → build each
// image → finish (metadata file) → publish (annotation, meta-data,
// artifacts). A diagnose step reports instead; with buildx, a step's own
// command runs instead.
func Build(ctx context.Context, d Deps) error {
	step, err := ReadStep(ctx, d)
	if err != nil {
		return err
	}
	switch step.Kind {
	case DiagnoseOnly:
		return diagnoseStep(ctx, d, step.Config)
	case RunCommand, OtherPluginRuns:
		return runCommand(d, step)
	}
	useRedaction(ctx, d, step)
	start := time.Now()
	err = run(ctx, d, step)
	publish(context.WithoutCancel(ctx), d, step, err, time.Since(start))
	return err
}

// run prepares the job and builds every image of the step.
func run(ctx context.Context, d Deps, step *Step) error {
	j, ctx, err := Prepare(ctx, d, step)
	if err != nil {
		return err
	}
	defer j.Close()
	if step.Kind == BakeImages {
		names := make([]string, len(step.Images))
		for i, im := range step.Images {
			names[i] = im.name
		}
		fmt.Fprintf(d.Out, "--- :buildkite: remote-buildkit: bake %s (%d targets)\n", strings.Join(names, ", "), len(names))
	}
	if err := j.buildAll(ctx, step.Images); err != nil {
		return err
	}
	return writeMetadata(d, step)
}

// buildAll builds the images in parallel, each once the images it takes a
// context from have pushed theirs; a failing image cancels the others. With
// several images each one's progress lines carry its name.
func (j *Job) buildAll(ctx context.Context, images []*image) error {
	byName := map[string]*image{}
	for _, im := range images {
		byName[im.name] = im
	}
	var logMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, im := range images {
		g.Go(func() error {
			opts, err := im.withContexts(gctx, byName)
			if err != nil {
				return err
			}
			var log io.Writer = j.d.Err
			if len(images) > 1 {
				w := &prefixWriter{prefix: "[" + im.name + "] ", w: j.d.Err, mu: &logMu}
				defer w.Flush()
				log = w
			}
			res, err := j.buildImage(gctx, im, opts, log)
			if err != nil {
				if ctx.Err() == nil && gctx.Err() != nil && exitcode.Of(err) == exitcode.Cancelled {
					return err // cancelled because another image failed: that one's error is reported
				}
				return named(im, err)
			}
			im.res = res
			close(im.done)
			return nil
		})
	}
	return g.Wait()
}

// withContexts waits for the images this one names as target: contexts and
// returns its options with those contexts pointing at their pushed images.
func (im *image) withContexts(ctx context.Context, byName map[string]*image) (config.Image, error) {
	opts := im.opts.Clone()
	for name, dep := range im.needs {
		select {
		case <-byName[dep].done:
		case <-ctx.Done():
			return opts, exitcode.With(exitcode.Cancelled, fmt.Errorf("build cancelled"))
		}
		res := byName[dep].res
		if len(res.Pushed) == 0 {
			return opts, exitcode.With(exitcode.BadConfig, fmt.Errorf("target %s: context %s = target:%s needs %s's image in a registry: give %s tags and set push: true", im.name, name, dep, dep, dep))
		}
		if opts.BuildContexts == nil {
			opts.BuildContexts = map[string]string{}
		}
		opts.BuildContexts[name] = "docker-image://" + res.Pushed[0]
	}
	return opts, nil
}

// buildImage builds one image — again after an infrastructure failure
// (retries) — and logs its result; log gets its progress and warnings.
func (j *Job) buildImage(ctx context.Context, im *image, opts config.Image, log io.Writer) (*solve.Result, error) {
	req := solve.NewRequest(opts).WithContextKey(j.ctxKey)
	fmt.Fprintf(j.d.Out, "--- :buildkite: remote-buildkit: building %s\n", im.what(j.d.WorkDir))
	if opts.GitContext != nil {
		noteGitContext(j.d.Out, j.d.Err, opts.GitContext)
	}
	if err := j.auth.Preflight(ctx, opts.RegistryHosts()); err != nil {
		return nil, exitcode.With(exitcode.RegistryAuth, err)
	}
	s := &solver{j: j, req: req, ins: im.ins, log: log}
	res, failed, err := withRetries(ctx, j.cfg.Retries, func() (*solve.Result, error) { return s.attempt(ctx) },
		func(n int, last *solve.InfraError) error {
			fmt.Fprintf(j.d.Out, "--- :repeat: remote-buildkit: attempt %d of %d (after: %s)\n", n, j.cfg.Retries+1, last.Cause)
			fmt.Fprintf(log, "remote-buildkit: %s: running the build again (retries: %d)\n", last.Cause, j.cfg.Retries)
			j.lost(last.Host)
			return nil
		})
	if err != nil {
		return nil, err
	}
	res.Attempts = append(failed, res.Attempts...)
	res.Insights = insightsOf(im.ins.steps())
	j.logResult(res)
	return res, nil
}

// attempt is one try: route, greet, solve.
func (s *solver) attempt(ctx context.Context) (*solve.Result, error) {
	s.ins.retry()
	targets, err := s.j.route(ctx, s.req)
	if err != nil {
		return nil, unreachable(err)
	}
	defer s.ins.exportRecord(ctx, s.j.d) // while the clients are open
	if err := s.j.greet(ctx, s.req, targets); err != nil {
		return nil, err
	}
	if len(targets) > 1 {
		return s.split(ctx, targets)
	}
	return s.one(ctx, targets[0])
}

// unreachable marks a daemon that stayed unreachable through connect-timeout
// as an infrastructure failure (a retry may find it back, or another pool
// member); TLS and configuration errors stay as they are.
func unreachable(err error) error {
	var ce *solve.ConnectError
	if !errors.As(err, &ce) || !ce.Transient {
		return err
	}
	return exitcode.With(exitcode.Connect, &solve.InfraError{Cause: ce.Err.Error(), Host: ce.Host, Err: err})
}

// greet logs each daemon an image goes to and applies version-check (once
// per daemon and job).
func (j *Job) greet(ctx context.Context, req solve.Request, targets []fleet.Assignment) error {
	for _, t := range targets {
		where := t.Node.Host
		if j.cfg.Several() {
			where = fmt.Sprintf("node %s (rendezvous rank %d of %d)", t.Node.Name, t.Rank, len(j.cfg.Nodes))
			if t.Node.Name != t.Node.Host {
				where = fmt.Sprintf("node %s (%s, rendezvous rank %d of %d)", t.Node.Name, t.Node.Host, t.Rank, len(j.cfg.Nodes))
			}
		}
		fmt.Fprintf(j.d.Out, "Connected to BuildKit %s at %s (%s)\n", t.Info.BuildkitVersion.Version, where, t.TLS)
		if err := j.checkOnce(ctx, t); err != nil {
			return err
		}
	}
	if len(req.Tags()) > 0 && !req.Push() {
		fmt.Fprintln(j.d.Out, "push is false: the image is built and tagged on the daemon but not pushed (set push: true to push the tags)")
	}
	return nil
}

// logResult prints what an image's build produced.
func (j *Job) logResult(res *solve.Result) {
	fmt.Fprintf(j.d.Out, "--- :white_check_mark: remote-buildkit: built in %.1fs, %d/%d steps cached\n", res.Seconds, res.CachedSteps, res.Steps)
	if res.Context != nil {
		fmt.Fprintf(j.d.Out, "context: %s\n", res.Context)
		if res.Context.Warning != "" {
			warnf(j.d.Err, "context-sync: %s (the build is not affected; the next one hashes these files again)", res.Context.Warning)
		}
	}
	if res.Digest != "" {
		fmt.Fprintf(j.d.Out, "digest: %s\n", res.Digest)
	}
	for _, ref := range res.Pushed {
		fmt.Fprintf(j.d.Out, "pushed: %s\n", ref)
	}
}

// noteGitContext says what the daemon fetches for a git-context build, and
// warns about the context's files that differ from the commit or are not
// in it (changed or generated earlier in the job): the build does not see
// them. Paths the .dockerignore excludes are left out, as the upload would.
func noteGitContext(out, errOut io.Writer, g *config.GitContext) {
	fmt.Fprintf(out, "git-context: the daemon fetches %s; nothing of the context or Dockerfile is uploaded\n", g.Source())
	missing, err := gitcontext.Unseen(g.Root, g.Commit, g.Subdir, g.Excludes)
	if err != nil {
		warnf(errOut, "git-context: cannot compare the checkout with commit %s: %v", g.Commit, err)
		return
	}
	if len(missing) == 0 {
		return
	}
	shown := missing[:min(len(missing), 3)]
	more := ""
	if len(missing) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
	}
	warnf(errOut, "git-context: the build does not see %d path(s) of the checkout that differ from commit %s or are not in it (%s%s): files changed or generated earlier in this job stay on the agent, the daemon builds the commit (drop git-context to upload the checkout)",
		len(missing), g.Commit, strings.Join(shown, ", "), more)
}
