package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/dockerload"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

// Build is the build command: load → plan → route → solve → finish. The
// outcome is also posted for later steps (annotation, meta-data, artifact).
func Build(ctx context.Context, d Deps) error {
	if wantsDiagnose(d.Env) {
		if _, err := Load(d, config.Environment); err != nil {
			return err
		}
		// diagnose: true in a pipeline step: report instead of building.
		return Diagnose(ctx, d, "text", d.Env.Get("BUILDKITE_AGENT_ACCESS_TOKEN") != "")
	}
	if b, err := readBakeStep(d); err != nil || b != nil {
		if err != nil {
			return err
		}
		return Bake(ctx, d, b)
	}
	cfg, err := Load(d, config.Build)
	if err != nil {
		return err
	}
	start := time.Now()
	if cfg, err = resolveFleet(ctx, d, cfg); err != nil {
		return err
	}
	ins := &tracker{on: cfg.Insights}
	res, err := build(ctx, d, cfg, ins)
	publish(context.WithoutCancel(ctx), d, cfg, outcome{res: res, err: err, took: time.Since(start), ins: ins})
	return err
}

// build runs one configured build, again after an infrastructure failure
// (retries), and reports it on the log and in the metadata file.
func build(ctx context.Context, d Deps, cfg *config.Config, ins *tracker) (*builder.Result, error) {
	req := builder.NewRequest(cfg)
	if err := checkNodes(cfg, req); err != nil {
		return nil, err
	}
	if err := checkKeyModes(d, cfg); err != nil {
		return nil, err
	}
	auth, err := registryauth.ForConfig(cfg, d.Env)
	if err != nil {
		return nil, err
	}
	seedDir, err := os.MkdirTemp("", "remote-buildkit-auth-")
	if err != nil {
		return nil, exitcode.With(exitcode.Internal, err)
	}
	defer os.RemoveAll(seedDir)
	registryauth.UseSeedDir(seedDir) // once, before any session: builds may run in parallel
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	what := relTo(d.WorkDir, cfg.Dockerfile)
	if len(cfg.Tags) > 0 {
		what += " → " + strings.Join(cfg.Tags, ", ")
	}
	fmt.Fprintf(d.Out, "--- :buildkite: remote-buildkit: building %s\n", what)
	if err := auth.Preflight(ctx, cfg.RegistryHosts()); err != nil {
		return nil, exitcode.With(exitcode.RegistryAuth, err)
	}
	s := &solver{d: d, cfg: cfg, auth: auth, req: req, ins: ins}
	if req.Load() {
		eng, err := dockerload.Connect(ctx, d.Env.Get("DOCKER_HOST"))
		if err != nil {
			return nil, exitcode.With(exitcode.Connect, err)
		}
		defer eng.Close()
		s.engine = eng
	}
	res, err := s.withRetries(ctx)
	if err != nil {
		return nil, err
	}
	res.Insights = insightsOf(ins.steps())
	if err := finish(d, cfg, res); err != nil {
		return nil, err
	}
	return res, nil
}

// withRetries runs attempts until one succeeds, one fails for a reason of
// the build's own, or retries run out; each attempt gets a log section.
func (s *solver) withRetries(ctx context.Context) (*builder.Result, error) {
	var failed []builder.Attempt
	for n := 1; ; n++ {
		if n > 1 {
			fmt.Fprintf(s.d.Out, "--- :repeat: remote-buildkit: attempt %d of %d (after: %s)\n", n, s.cfg.Retries+1, failed[len(failed)-1].Cause)
		}
		res, err := s.attempt(ctx)
		if err == nil {
			res.Attempts = append(failed, res.Attempts...)
			return res, nil
		}
		var ie *builder.InfraError
		if !errors.As(err, &ie) || ctx.Err() != nil {
			return nil, err
		}
		failed = append(failed, builder.Attempt{Attempt: n, Cause: ie.Cause, Host: ie.Host, Node: ie.Node})
		if n > s.cfg.Retries {
			return nil, exitcode.With(exitcode.Connect, fmt.Errorf("%s; %s", ie.Cause, retried(n-1)))
		}
		fmt.Fprintf(s.d.Err, "remote-buildkit: %s: running the build again (retries: %d)\n", ie.Cause, s.cfg.Retries)
		if s.d.Forget != nil {
			s.d.Forget(ie.Host)
		}
	}
}

func retried(n int) string {
	switch n {
	case 0:
		return "not retried (retries: 0)"
	case 1:
		return "retried 1 time"
	}
	return fmt.Sprintf("retried %d times", n)
}

// attempt is one try: route, greet, solve.
func (s *solver) attempt(ctx context.Context) (*builder.Result, error) {
	s.ins.retry()
	targets, err := route(ctx, s.d, s.cfg, s.req)
	if err != nil {
		return nil, unreachable(err)
	}
	defer closeAll(targets)
	defer s.ins.exportRecord(ctx, s.d) // while the clients are open
	if err := greet(ctx, s.d, s.cfg, targets); err != nil {
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
	var ce *builder.ConnectError
	if !errors.As(err, &ce) || !ce.Transient {
		return err
	}
	return exitcode.With(exitcode.Connect, &builder.InfraError{Cause: ce.Err.Error(), Host: ce.Host, Err: err})
}

// greet logs each daemon the build goes to and applies version-check.
func greet(ctx context.Context, d Deps, cfg *config.Config, targets []fleet.Assignment) error {
	for _, t := range targets {
		where := t.Node.Host
		if cfg.Several() {
			where = fmt.Sprintf("node %s (rendezvous rank %d of %d)", t.Node.Name, t.Rank, len(cfg.Nodes))
			if t.Node.Name != t.Node.Host {
				where = fmt.Sprintf("node %s (%s, rendezvous rank %d of %d)", t.Node.Name, t.Node.Host, t.Rank, len(cfg.Nodes))
			}
		}
		fmt.Fprintf(d.Out, "Connected to BuildKit %s at %s (%s)\n", t.Info.BuildkitVersion.Version, where, t.TLS)
		if err := checkParity(ctx, d, cfg, t); err != nil {
			return err
		}
	}
	if len(cfg.Tags) > 0 && !cfg.Push {
		fmt.Fprintln(d.Out, "push is false: the image is built and tagged on the daemon but not pushed (set push: true to push the tags)")
	}
	return nil
}

// finish prints the result and writes the metadata file.
func finish(d Deps, cfg *config.Config, res *builder.Result) error {
	fmt.Fprintf(d.Out, "--- :white_check_mark: remote-buildkit: built in %.1fs, %d/%d steps cached\n", res.Seconds, res.CachedSteps, res.Steps)
	if res.Context != nil {
		fmt.Fprintf(d.Out, "context: %s\n", res.Context)
		if res.Context.Warning != "" {
			warnf(d.Err, "context-sync: %s (the build is not affected; the next one hashes these files again)", res.Context.Warning)
		}
	}
	if res.Digest != "" {
		fmt.Fprintf(d.Out, "digest: %s\n", res.Digest)
	}
	for _, ref := range res.Pushed {
		fmt.Fprintf(d.Out, "pushed: %s\n", ref)
	}
	if cfg.MetadataFile != "" {
		if err := builder.WriteMetadata(cfg.MetadataFile, res); err != nil {
			return exitcode.With(exitcode.Internal, err)
		}
		fmt.Fprintf(d.Out, "metadata: %s\n", relTo(d.WorkDir, cfg.MetadataFile))
	}
	return nil
}

func closeAll(targets []fleet.Assignment) {
	for _, t := range targets {
		t.Close()
	}
}
