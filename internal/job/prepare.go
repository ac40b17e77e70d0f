package job

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"

	dockerclient "github.com/moby/moby/client"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextkey"
	"github.com/remote-buildkit/remote-buildkit/internal/dockerload"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// Job is the set-up every image of a step shares, made once by Prepare
// before any image is built and released once by Close: the daemons (dns://
// names resolved into members), one connection per daemon, the registry
// logins and the auth provider's seed directory (a process-wide setting),
// the agent's Docker engine for load, the routing key and the pool member.
// Per-image work reads it and changes nothing in it but through its
// methods, which are safe for concurrent images.
type Job struct {
	d       Deps
	cfg     *config.Config // the step's options, Nodes resolved
	key     string         // rendezvous key of the step (Step.RouteKey)
	auth    *registryauth.Sources
	seedDir string
	dial    *sharedDial
	ctxKey  *contextkey.Key      // keys the context state on the daemon; nil: none (context-sync falls back to mtime)
	engine  *dockerclient.Client // nil unless an image loads into the agent's Docker engine
	cancel  context.CancelFunc

	mu      sync.Mutex
	member  *fleet.Connected // the pool member chosen for this step; nil until chosen or after it was lost
	checked map[string]bool  // daemons whose version parity was checked
}

// Prepare does the step's job-wide set-up and returns the job and the
// context every build runs in (bounded by timeout). Nothing is dialled
// before the nodes are checked against every image.
func Prepare(ctx context.Context, d Deps, s *Step) (*Job, context.Context, error) {
	cfg, err := resolveFleet(ctx, d, s.Config)
	if err != nil {
		return nil, ctx, err
	}
	for _, im := range s.Images {
		if err := checkNodes(cfg, solve.NewRequest(im.opts)); err != nil {
			return nil, ctx, named(im, err)
		}
	}
	if err := checkTLS(d, cfg); err != nil {
		return nil, ctx, err
	}
	auth, err := registryauth.ForConfig(cfg, d.Env)
	if err != nil {
		return nil, ctx, err
	}
	j := newJob(d, cfg, s.RouteKey)
	j.auth = auth
	if j.ctxKey, err = contextKey(ctx, d, cfg, s.Images); err != nil {
		return nil, ctx, err
	}
	if j.seedDir, err = os.MkdirTemp("", "remote-buildkit-auth-"); err != nil {
		return nil, ctx, exitcode.With(exitcode.Internal, err)
	}
	registryauth.UseSeedDir(j.seedDir) // once per job, before any session
	if cfg.Timeout > 0 {
		ctx, j.cancel = context.WithTimeout(ctx, cfg.Timeout)
	} else {
		ctx, j.cancel = context.WithCancel(ctx)
	}
	if err := j.connectEngine(ctx, s.Images); err != nil {
		j.Close()
		return nil, ctx, err
	}
	return j, ctx, nil
}

// contextKey derives the job's context key once, before any image: from
// context-key, else the default daemon's client key. Without either (no
// TLS) content-derived stats are off: one notice when an image wanted them.
func contextKey(ctx context.Context, d Deps, cfg *config.Config, images []*image) (*contextkey.Key, error) {
	k, err := contextkey.ForConfig(ctx, cfg, d.Env, d.LookPath)
	if err != nil {
		code := exitcode.BadConfig
		if cfg.ContextKey == (config.ContextKey{}) {
			code = exitcode.Certs // the client key is there but unreadable
		}
		return nil, exitcode.With(code, err)
	}
	if k == nil && slices.ContainsFunc(images, func(im *image) bool {
		return im.opts.ContextSync.Mode == "content" && im.opts.GitContext == nil
	}) {
		fmt.Fprintf(d.Err, "remote-buildkit: context-sync: no client key (TLS) and no context-key: sending real mtimes as context-sync: mtime does, so a fresh clone sends every file (see docs/trust-model.md)\n")
	}
	return k, nil
}

// newJob is a job on cfg's daemons routed by key, before its logins and
// engine are set up.
func newJob(d Deps, cfg *config.Config, key string) *Job {
	return &Job{d: d, cfg: cfg, key: key, dial: &sharedDial{dial: d.Dial}, checked: map[string]bool{}}
}

// connectEngine connects the agent's Docker engine when an image loads into it.
func (j *Job) connectEngine(ctx context.Context, images []*image) error {
	for _, im := range images {
		if solve.NewRequest(im.opts).Load() {
			eng, err := dockerload.Connect(ctx, j.d.Env.Get("DOCKER_HOST"))
			if err != nil {
				return exitcode.With(exitcode.Connect, err)
			}
			j.engine = eng
			return nil
		}
	}
	return nil
}

// Close releases what Prepare set up: connections, the engine, the seed dir.
func (j *Job) Close() {
	j.cancel()
	j.dial.Close()
	if j.engine != nil {
		j.engine.Close()
	}
	os.RemoveAll(j.seedDir)
}

// poolMember is the pool member this step's images build on: chosen once,
// with bounded loads, and kept for every image (bake targets share it)
// until a build on it fails for an infrastructure reason (lost).
func (j *Job) poolMember(ctx context.Context) (*fleet.Connected, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.member == nil {
		c, err := chooseMember(ctx, j.d, j.cfg, j.dial.Dial, j.key)
		if err != nil {
			return nil, err
		}
		j.member = c
	}
	cp := *j.member
	return &cp, nil
}

// lost drops the connection to host after an infrastructure failure, so
// the next attempt dials again (and a pool chooses its member again).
func (j *Job) lost(host string) {
	j.dial.forget(host)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.member != nil && j.member.Node.Host == host {
		j.member = nil
	}
}

// checkOnce applies version-check to a daemon the first time an image
// connects to it.
func (j *Job) checkOnce(ctx context.Context, t fleet.Assignment) error {
	j.mu.Lock()
	seen := j.checked[t.Node.Host]
	j.checked[t.Node.Host] = true
	j.mu.Unlock()
	if seen {
		return nil
	}
	return checkParity(ctx, j.d, j.cfg, t)
}

// named puts a bake target's name in front of its error.
func named(im *image, err error) error {
	if im.name == "" {
		return err
	}
	return exitcode.With(exitcode.Of(err), fmt.Errorf("target %s: %w", im.name, err))
}
