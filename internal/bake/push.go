package bake

import (
	"fmt"
	"path"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/buildx/build"
)

// Policy is what the step decides for its bake files beyond the
// entitlements: where they are, and where their images may go.
type Policy struct {
	WorkDir string
	Push    bool // the step's push: false always wins
	ForkPR  bool // a pull request from another repository: nothing is pushed that the step did not allow
}

// checkPush checks every reference a target pushes — its tags when the
// step pushes, registry outputs, registry cache-to refs — against the
// step: push: false refuses registry outputs, allow image.push=PATTERN
// entries (patterns) bound every destination, and without them a pull
// request from another repository pushes nothing.
func (p Policy) checkPush(o *build.Options, patterns []string) error {
	refs := exported(o)
	if !p.Push && len(refs) > 0 {
		return fmt.Errorf("%s pushes %s, but the step has push: false (which always wins): set push: true in the step", refs[0].key, refs[0].path)
	}
	for _, c := range o.CacheTo {
		if c.Type == "registry" && c.Attrs["ref"] != "" {
			refs = append(refs, source{"cache-to type=registry", c.Attrs["ref"]})
		}
	}
	if p.Push {
		for _, t := range o.Tags {
			refs = append(refs, source{"tags", t})
		}
	}
	for _, r := range refs {
		if len(patterns) > 0 && !pushAllowed(r.path, patterns) {
			return fmt.Errorf("%s pushes %s, which no image.push entry of the step's allow matches: add allow: [%q] to the step", r.key, r.path, "image.push="+repository(r.path))
		}
		if len(patterns) == 0 && p.ForkPR {
			return fmt.Errorf("%s pushes %s from a pull request of another repository: add allow: [%q] to the step to let it", r.key, r.path, "image.push="+repository(r.path))
		}
	}
	return nil
}

// pushAllowed says whether ref matches an image.push pattern: "*" matches
// everything; a pattern with * matches the repository or the full
// reference as path.Match does; otherwise a pattern without a tag names a
// repository (every tag of it), one with a tag or digest the reference.
func pushAllowed(ref string, patterns []string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	full := reference.TagNameOnly(named).String()
	for _, pat := range patterns {
		if pat == "*" {
			return true
		}
		if strings.Contains(pat, "*") {
			if ok, _ := path.Match(pat, named.Name()); ok {
				return true
			}
			if ok, _ := path.Match(pat, full); ok {
				return true
			}
			continue
		}
		pn, err := reference.ParseNormalizedNamed(pat)
		if err != nil {
			continue
		}
		if reference.IsNameOnly(pn) && pn.Name() == named.Name() || pn.String() == full {
			return true
		}
	}
	return false
}

// repository is ref without its tag or digest, as an image.push entry names it.
func repository(ref string) string {
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		return reference.FamiliarName(named)
	}
	return ref
}
