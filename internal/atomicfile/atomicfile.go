// Package atomicfile replaces files so that a reader sees the old content or
// the new, never a part: each file is written to a temp file with a unique
// name beside it (so concurrent writers never share one), synced, then
// renamed into place. It is the only place the project writes files so.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/remote-buildkit/remote-buildkit/internal/checkout"
)

// Write replaces path with what write produces, mode perm. On any error the
// old file (or its absence) is left as it was.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	return writeOne(path, func(s *Set) (*os.File, error) { return s.Create(path, perm) }, write)
}

func writeOne(path string, create func(*Set) (*os.File, error), write func(io.Writer) error) error {
	var s Set
	defer s.Discard()
	f, err := create(&s)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return s.Commit()
}

// WriteFile replaces path with data, mode perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// WriteIn is Write for rel inside root, through an os.Root (see CreateIn).
func WriteIn(root, rel string, perm os.FileMode, write func(io.Writer) error) error {
	create := func(s *Set) (*os.File, error) { return s.CreateIn(root, rel, perm) }
	return writeOne(filepath.Join(root, rel), create, write)
}

// WriteFileIn is WriteFile for rel inside root, through an os.Root.
func WriteFileIn(root, rel string, data []byte, perm os.FileMode) error {
	return WriteIn(root, rel, perm, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// Set replaces several files together: every file is written first, then
// all are renamed, so an error while writing changes none of them. Its
// methods may be called from several goroutines.
type Set struct {
	mu    sync.Mutex
	files []*os.File
	dests []string
	temps []temp
}

// temp is where a file of the set waits: a path, or a name inside a root
// (CreateIn), which the rename into place goes through too.
type temp struct {
	root      *os.Root // nil: path and dest are the OS's paths
	path, rel string   // rel: dest relative to root
}

func (t temp) rename(dest string) error {
	if t.root == nil {
		return os.Rename(t.path, dest)
	}
	return t.root.Rename(t.path, t.rel)
}

func (t temp) remove() {
	if t.root == nil {
		os.Remove(t.path)
		return
	}
	t.root.Remove(t.path)
	t.root.Close()
}

// Create opens a new temp file beside path (mode perm; the directory is
// created 0755 when missing) for the caller to write; Commit moves it to path.
func (s *Set) Create(path string, perm os.FileMode) (*os.File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return s.keep(f, temp{path: f.Name()}, path, perm)
}

// CreateIn is Create for rel inside the directory root, every step through
// an os.Root on it: its directories are created and the file is renamed into
// place without following a link out of root (the job's checkout, where a
// committed link must not redirect a write). A link that would is a
// *checkout.LinkError.
func (s *Set) CreateIn(root, rel string, perm os.FileMode) (*os.File, error) {
	path := filepath.Join(root, rel)
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	f, t, err := createIn(r, rel, perm)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return s.keep(f, t, path, perm)
}

func createIn(r *os.Root, rel string, perm os.FileMode) (*os.File, temp, error) {
	dir, err := checkout.ResolveIn(r, filepath.Dir(rel))
	if err != nil {
		return nil, temp{}, err
	}
	if err := r.MkdirAll(dir, 0o755); err != nil {
		return nil, temp{}, err
	}
	for {
		name := filepath.Join(dir, "."+filepath.Base(rel)+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, temp{}, err
		}
		return f, temp{root: r, path: name, rel: filepath.Join(dir, filepath.Base(rel))}, nil
	}
}

// keep gives f mode perm and adds it to the set.
func (s *Set) keep(f *os.File, t temp, path string, perm os.FileMode) (*os.File, error) {
	if err := f.Chmod(perm); err != nil {
		f.Close()
		t.remove()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	s.mu.Lock()
	s.files = append(s.files, f)
	s.dests = append(s.dests, path)
	s.temps = append(s.temps, t)
	s.mu.Unlock()
	return f, nil
}

// Add writes data as the next content of path.
func (s *Set) Add(path string, data []byte, perm os.FileMode) error {
	f, err := s.Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Commit syncs every file and renames each into place, in the order they
// were created. When a rename fails, the error names the files already
// replaced; the rest are discarded.
func (s *Set) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.discardLocked()
	for i, f := range s.files {
		// A writer may have closed its file already (an exporter's output).
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("write %s: %w (nothing was changed)", s.dests[i], err)
		}
	}
	for i := range s.files {
		if err := s.temps[i].rename(s.dests[i]); err != nil {
			err = fmt.Errorf("replace %s: %w", s.dests[i], err)
			if i > 0 {
				err = fmt.Errorf("%w (already replaced: %s)", err, strings.Join(s.dests[:i], ", "))
			}
			closeRoots(s.temps[:i])
			s.files, s.temps = s.files[i:], s.temps[i:]
			return err
		}
	}
	closeRoots(s.temps)
	s.files, s.dests, s.temps = nil, nil, nil
	return nil
}

func closeRoots(temps []temp) {
	for _, t := range temps {
		if t.root != nil {
			t.root.Close()
		}
	}
}

// Discard removes the temp files of a set that is not committed.
func (s *Set) Discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discardLocked()
}

func (s *Set) discardLocked() {
	for i, f := range s.files {
		f.Close() // may be closed already (Commit); removed either way
		s.temps[i].remove()
	}
	s.files, s.dests, s.temps = nil, nil, nil
}
