// Package checkout resolves the paths the plugin reads and writes inside the
// job's checkout, which is untrusted: a pull request commits its files and
// its symbolic links. Every path the step gives relative to the checkout is
// resolved here, one component at a time through an os.Root opened on the
// checkout, so a committed link can lead elsewhere inside the checkout but
// never out of it. A path the step spells out as absolute is the pipeline
// owner's choice and is not resolved here.
package checkout

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxLinks bounds the links followed while resolving one path (as Linux's
// MAXSYMLINKS): a loop of links is an error, not a hang.
const maxLinks = 40

// LinkFix is what to do about a path that leaves the checkout through a
// link, as the one-line errors end.
const LinkFix = "commit the file itself, or name an absolute path in the step"

// LinkError is a path that leaves the checkout through a link.
type LinkError struct {
	Path   string // the path as given, relative to the checkout
	Link   string // the link, relative to the checkout
	Target string // what the link points to
}

func (e *LinkError) Error() string {
	return fmt.Sprintf("%s is a link to %s, outside the checkout", e.Link, e.Target)
}

// Relative reports whether the step's path p names a place inside the
// checkout: a relative path that does not climb out of it with "..".
// Anything else (absolute, or "../x") is the step's own choice.
func Relative(p string) bool {
	if p == "" || filepath.IsAbs(p) {
		return false
	}
	c := filepath.Clean(p)
	return c != ".." && !strings.HasPrefix(c, ".."+string(filepath.Separator))
}

// Resolve returns the absolute path rel names inside the checkout root, with
// every link on the way resolved, and never a link out of the checkout: a
// link whose target is absolute or climbs above root is a *LinkError. The
// part of rel that does not exist (yet) is appended as it is; a dangling
// link is followed to where it would point. rel must be Relative.
func Resolve(root, rel string) (string, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", fmt.Errorf("open the checkout %s: %w", root, err)
	}
	defer r.Close()
	got, err := resolveIn(r, rel)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, got), nil
}

// ResolveIn is Resolve on an open root; the result is relative to it.
func ResolveIn(r *os.Root, rel string) (string, error) { return resolveIn(r, rel) }

func resolveIn(r *os.Root, rel string) (string, error) {
	if !Relative(rel) {
		return "", fmt.Errorf("%s is not a path inside the checkout", rel)
	}
	done := ""                                                             // resolved so far: relative to the root, no links
	todo := strings.Split(filepath.Clean(rel), string(filepath.Separator)) // still to walk
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case ".", "":
			continue
		case "..":
			// Only a link's target climbs (rel was Relative): the target
			// was checked to stay inside, so done has a parent here.
			done = parent(done)
			continue
		}
		next := filepath.Join(done, name)
		fi, err := r.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			done = filepath.Join(append([]string{next}, todo...)...)
			return filepath.Clean(done), nil
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many links (a loop at %s?)", rel, next)
		}
		target, err := r.Readlink(next)
		if err != nil {
			return "", fmt.Errorf("%s: %w", rel, err)
		}
		if filepath.IsAbs(target) || !Relative(filepath.Join(done, target)) {
			return "", &LinkError{Path: rel, Link: next, Target: target}
		}
		todo = append(strings.Split(target, string(filepath.Separator)), todo...)
	}
	return filepath.Clean(done), nil
}

func parent(p string) string {
	if d := filepath.Dir(p); d != "." {
		return d
	}
	return ""
}

// Tree checks every link in the directory tree at rel (relative to root,
// Resolved already): one that leads out of the checkout is a *LinkError.
// A missing directory holds none.
func Tree(root, rel string) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("open the checkout %s: %w", root, err)
	}
	defer r.Close()
	top := filepath.Join(root, rel)
	err = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == top {
			return filepath.SkipAll
		}
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		link, _ := filepath.Rel(root, p)
		_, err = resolveIn(r, link)
		return err
	})
	if err != nil && !errors.As(err, new(*LinkError)) {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return err
}
