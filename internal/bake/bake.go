// Package bake reads bake files — HCL, JSON or compose files — with buildx's
// own package (github.com/docker/buildx/bake v0.38.2, unmodified: the
// semantics of `docker buildx bake`: groups, inherits, variables, --set
// overrides, compose build: sections, and its entitlement checks) and turns
// each resolved target into this plugin's options, so every target is
// validated and built like a single-image step.
package bake

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/bake"
	"github.com/remote-buildkit/remote-buildkit/internal/checkout"
)

// Target is one resolved bake target.
type Target struct {
	Name    string
	Options map[string]any    // plugin options: context, dockerfile, tags, …
	Needs   map[string]string // named context → the target whose image it is (target:NAME)
}

// ErrBake marks problems in the bake files or targets (a configuration error).
var ErrBake = errors.New("bake")

// Request is what a bake step asks for and what its step grants.
type Request struct {
	Files   []string // relative to Policy.WorkDir
	Targets []string // default: the default group
	Set     []string // --set overrides
	// Vars are the variables the files may read (HCL variables, compose
	// interpolation): see Vars. The process environment is not read when
	// BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP=true (cmd/remote-buildkit sets it).
	Vars map[string]string
	// Hidden names the job's variables left out of Vars: a target's secret
	// may not read them either (secret env=NAME, or id=NAME without src).
	Hidden []string
	// Allow is the step's allow list in buildx's vocabulary; the checkout
	// (Policy.WorkDir) is granted read and write besides, as docker buildx
	// bake grants its working directory.
	Allow []string
	// FileRelativePaths: paths are relative to each file
	// (BUILDX_BAKE_FILE_RELATIVE_PATHS=true in the job's environment).
	FileRelativePaths bool
	Policy
}

// Load reads the files and resolves the targets with the overrides, checks
// what they reach against the step (bake's entitlement checks and where
// they push) and returns them in name order. Nothing is sent anywhere.
func Load(ctx context.Context, r Request) ([]Target, error) {
	workDir := r.WorkDir
	var names []string
	for _, f := range r.Files {
		if checkout.Relative(f) {
			// A bake file the step names in the checkout is read there:
			// never through a committed link out of it.
			p, err := checkout.Resolve(workDir, f)
			if errors.As(err, new(*checkout.LinkError)) {
				return nil, fmt.Errorf("%w: %s: %v: %s", ErrBake, f, err, checkout.LinkFix)
			} else if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrBake, f, err)
			}
			f = p
		} else if !filepath.IsAbs(f) {
			f = filepath.Join(workDir, f)
		}
		names = append(names, f)
	}
	fs, err := bake.ReadLocalFiles(names, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (bake)", ErrBake, err)
	}
	targets := append([]string(nil), r.Targets...)
	if len(targets) == 0 {
		targets = []string{"default"}
	}
	ent, err := bake.ParseEntitlements(r.Allow)
	if err != nil {
		return nil, fmt.Errorf("%w: allow: %v: fix the step's allow entries", ErrBake, err)
	}
	ent.FSRead = append(ent.FSRead, workDir)
	ent.FSWrite = append(ent.FSWrite, workDir)
	vars := r.Vars
	if vars == nil {
		vars = map[string]string{} // compose reads the process environment for nil
	}
	defaults := map[string]string{"BAKE_CMD_CONTEXT": workDir, "BAKE_LOCAL_PLATFORM": platforms.Format(platforms.DefaultSpec())}
	tm, _, err := bake.ReadTargets(ctx, fs, targets, append([]string(nil), r.Set...), defaults, vars, &ent, bake.ParseOpt{FileRelativePaths: r.FileRelativePaths})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBake, explain(err, fs))
	}
	out := make([]Target, 0, len(tm))
	for name, t := range tm {
		tg, err := convert(name, t, workDir)
		if err != nil {
			return nil, fmt.Errorf("%w: target %s: %v", ErrBake, name, err)
		}
		out = append(out, tg)
	}
	if err := checkTargets(tm, ent, r.Policy, r.Hidden); err != nil {
		return nil, fmt.Errorf("%w target %v", ErrBake, strings.TrimPrefix(err.Error(), "target "))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if err := checkNeeds(out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBake, err)
	}
	return out, nil
}

// explain adds the known targets to an unknown-target error.
func explain(err error, fs []bake.File) string {
	msg := err.Error()
	if !strings.Contains(msg, "failed to find target") && !strings.Contains(msg, "could not find any target") {
		return msg
	}
	known, lerr := bake.ListTargets(fs)
	if lerr != nil || len(known) == 0 {
		return msg
	}
	sort.Strings(known)
	return fmt.Sprintf("%s (targets and groups in the bake files: %s): fix targets", msg, strings.Join(known, ", "))
}

// checkNeeds rejects a target: context naming a target that is not built
// in this step, or a cycle.
func checkNeeds(ts []Target) error {
	byName := map[string]Target{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		for _, p := range path {
			if p == name {
				return fmt.Errorf("targets depend on each other in a cycle: %s", strings.Join(append(path, name), " → "))
			}
		}
		for ctxName, dep := range byName[name].Needs {
			if _, ok := byName[dep]; !ok {
				return fmt.Errorf("target %s: context %s = target:%s, but %s is not among the targets built (add it to targets)", name, ctxName, dep, dep)
			}
			if err := visit(dep, append(path, name)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range ts {
		if err := visit(t.Name, nil); err != nil {
			return err
		}
	}
	return nil
}
