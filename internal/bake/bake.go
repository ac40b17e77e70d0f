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
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/bake"
)

// Target is one resolved bake target.
type Target struct {
	Name    string
	Options map[string]any    // plugin options: context, dockerfile, tags, …
	Needs   map[string]string // named context → the target whose image it is (target:NAME)
}

// ErrBake marks problems in the bake files or targets (a configuration error).
var ErrBake = errors.New("bake")

// Load reads files (relative to workDir) and resolves targets (default: the
// default group) with the --set overrides, in name order.
func Load(ctx context.Context, workDir string, files, targets, set []string) ([]Target, error) {
	var names []string
	for _, f := range files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(workDir, f)
		}
		names = append(names, f)
	}
	fs, err := bake.ReadLocalFiles(names, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (bake)", ErrBake, err)
	}
	if len(targets) == 0 {
		targets = []string{"default"}
	}
	defaults := map[string]string{"BAKE_CMD_CONTEXT": workDir, "BAKE_LOCAL_PLATFORM": platforms.Format(platforms.DefaultSpec())}
	// Paths are relative to the working directory, as docker buildx bake has
	// them; BUILDX_BAKE_FILE_RELATIVE_PATHS=true makes them relative to each file.
	rel, _ := strconv.ParseBool(os.Getenv("BUILDX_BAKE_FILE_RELATIVE_PATHS"))
	tm, _, err := bake.ReadTargets(ctx, fs, append([]string(nil), targets...), set, defaults, nil, &bake.EntitlementConf{}, bake.ParseOpt{FileRelativePaths: rel})
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
