package config

import (
	"errors"
	"fmt"
	"path/filepath"

	inside "github.com/remote-buildkit/remote-buildkit/internal/checkout"
)

// path is the step's path p for option key (what names the attribute, or
// ""): a path relative to the checkout is resolved inside it
// (inside.Resolve: no link out of it); an absolute one, or one climbing
// out with "..", is the step's own choice and only made absolute. ok is
// false when p leaves the checkout through a link (reported at key).
func (v *validator) path(key, what, p string) (abs string, inCheckout, ok bool) {
	if !inside.Relative(p) {
		return v.abs(p), false, true
	}
	got, err := inside.Resolve(v.workDir, p)
	if err != nil {
		if !v.files {
			// The environment hook runs before the checkout exists.
			return v.abs(p), true, true
		}
		if v.bake && errors.As(err, new(*inside.LinkError)) {
			// A bake target's path: buildx's entitlement check has judged it
			// against the step's allow, its links evaluated (internal/bake):
			// a link out the step granted with fs.read=/fs.write= is the
			// step's choice.
			return v.abs(p), true, true
		}
		v.linkProblem(key, what, p, err)
		return v.abs(p), true, false
	}
	return got, true, true
}

// linkProblem reports err about the step's path p on one line.
func (v *validator) linkProblem(key, what, p string, err error) {
	if what != "" {
		what += " "
	}
	if errors.As(err, new(*inside.LinkError)) {
		v.addf(key, "%s%s: %v: %s", what, p, err, inside.LinkFix)
		return
	}
	v.addf(key, "%s%s: %v", what, p, err)
}

// tree checks that the directory abs, which the daemon's client writes into
// or reads from as a whole (a local output or cache), holds no link out of
// the checkout; nothing to check when the step named it absolute.
func (v *validator) tree(key, what, p, abs string, inCheckout bool) bool {
	if !inCheckout || !v.files {
		return true
	}
	rel, err := filepath.Rel(v.workDir, abs)
	if err == nil {
		err = inside.Tree(v.workDir, rel)
	}
	if err != nil {
		v.linkProblem(key, what, p, fmt.Errorf("in %s: %w", rel, err))
		return false
	}
	return true
}
