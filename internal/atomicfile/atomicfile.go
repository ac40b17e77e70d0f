// Package atomicfile replaces files so that a reader sees the old content or
// the new, never a part: each file is written to a temp file with a unique
// name beside it (so concurrent writers never share one), synced, then
// renamed into place. It is the only place the project writes files so.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Write replaces path with what write produces, mode perm. On any error the
// old file (or its absence) is left as it was.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	var s Set
	defer s.Discard()
	f, err := s.Create(path, perm)
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

// Set replaces several files together: every file is written first, then
// all are renamed, so an error while writing changes none of them. Its
// methods may be called from several goroutines.
type Set struct {
	mu    sync.Mutex
	files []*os.File
	dests []string
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
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	s.mu.Lock()
	s.files = append(s.files, f)
	s.dests = append(s.dests, path)
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
	for i, f := range s.files {
		if err := os.Rename(f.Name(), s.dests[i]); err != nil {
			err = fmt.Errorf("replace %s: %w", s.dests[i], err)
			if i > 0 {
				err = fmt.Errorf("%w (already replaced: %s)", err, strings.Join(s.dests[:i], ", "))
			}
			s.files = s.files[i:]
			return err
		}
	}
	s.files, s.dests = nil, nil
	return nil
}

// Discard removes the temp files of a set that is not committed.
func (s *Set) Discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discardLocked()
}

func (s *Set) discardLocked() {
	for _, f := range s.files {
		f.Close() // may be closed already (Commit); removed either way
		os.Remove(f.Name())
	}
	s.files, s.dests = nil, nil
}
