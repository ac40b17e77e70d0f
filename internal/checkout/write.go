package checkout

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Staging is a directory at the top of the checkout for an exporter to
// write into: its name is new and random, and no component of its path
// comes from the checkout, so a committed link cannot redirect the exporter
// (which follows links in the directory it is given). BuildKit's client
// creates it when the export starts, after the build has read the context:
// it is never part of an upload. Move then brings the result to its
// destination through the checkout's root.
type Staging struct {
	root string // the checkout
	Dir  string // absolute: hand this to the exporter
}

// NewStaging names a new staging directory in the checkout root.
func NewStaging(root string) *Staging {
	return &Staging{root: root, Dir: filepath.Join(root, ".remote-buildkit-export-"+rand.Text())}
}

// Discard removes the staging directory and what it holds (links in it are
// removed, never followed).
func (s *Staging) Discard() { os.RemoveAll(s.Dir) }

// Move merges the staging directory's content into destRel (relative to the
// checkout) through the checkout's root, then removes the staging directory.
// Every destination directory is resolved first: when one would leave the
// checkout through a link, nothing is moved and the error is a *LinkError.
func (s *Staging) Move(destRel string) error {
	defer s.Discard()
	r, err := os.OpenRoot(s.root)
	if err != nil {
		return fmt.Errorf("open the checkout %s: %w", s.root, err)
	}
	defer r.Close()
	if fi, err := os.Lstat(s.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil // nothing was exported
	} else if err != nil || !fi.IsDir() {
		return fmt.Errorf("the staging directory %s is not a directory the export made (%v)", s.Dir, err)
	}
	var dirs []string // relative to the staging directory, parents first
	modes := map[string]fs.FileInfo{}
	err = filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s.Dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		dirs, modes[rel] = append(dirs, rel), fi
		// The staging directory is ours: entries must move out of a
		// directory the export made read-only.
		return os.Chmod(p, fi.Mode().Perm()|0o700)
	})
	if err != nil {
		return fmt.Errorf("read the exported files: %w", err)
	}
	for _, d := range dirs {
		if _, err := resolveIn(r, filepath.Join(destRel, d)); err != nil {
			return err
		}
	}
	return s.moveAll(r, destRel, dirs, modes)
}

// moveAll creates the directories under destRel and renames every other
// entry into them; renaming replaces a link at the destination, never
// follows it. Directories get their exported mode and times last.
func (s *Staging) moveAll(r *os.Root, destRel string, dirs []string, modes map[string]fs.FileInfo) error {
	stage := filepath.Base(s.Dir)
	for _, d := range dirs {
		dst := filepath.Join(destRel, d)
		if err := r.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dst, err)
		}
		entries, err := os.ReadDir(filepath.Join(s.Dir, d))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			from, to := filepath.Join(stage, d, e.Name()), filepath.Join(dst, e.Name())
			if err := r.Rename(from, to); err != nil {
				return fmt.Errorf("move %s into place: %w", to, err)
			}
		}
	}
	for _, d := range slices.Backward(dirs) {
		if d == "." {
			continue // the destination itself keeps its mode
		}
		fi := modes[d]
		dst := filepath.Join(destRel, d)
		if err := r.Chmod(dst, fi.Mode().Perm()); err != nil {
			return fmt.Errorf("set the mode of %s: %w", dst, err)
		}
		if err := r.Chtimes(dst, fi.ModTime(), fi.ModTime()); err != nil {
			return fmt.Errorf("set the times of %s: %w", dst, err)
		}
	}
	return nil
}
