package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/checkout"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	return m
}

func TestWriteReplacesAndKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f.json")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if got := read(t, p); got != "one" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %q mode %v", got, fi.Mode())
	}
	boom := errors.New("boom")
	err := Write(p, 0o644, func(w io.Writer) error { io.WriteString(w, "half"); return boom })
	if !errors.Is(err, boom) || read(t, p) != "one" {
		t.Fatalf("err %v, content %q: the old content must stay", err, read(t, p))
	}
	if l := leftovers(t, filepath.Dir(p)); len(l) > 0 {
		t.Fatalf("temp files left: %v", l)
	}
}

func TestSetChangesNothingUntilCommit(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("old a"), 0o600)
	var s Set
	if err := s.Add(a, []byte("new a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(b, []byte("new b"), 0o600); err != nil {
		t.Fatal(err)
	}
	if read(t, a) != "old a" {
		t.Fatal("a replaced before Commit")
	}
	s.Discard()
	if read(t, a) != "old a" || len(leftovers(t, dir)) > 0 {
		t.Fatalf("discard: a=%q leftovers %v", read(t, a), leftovers(t, dir))
	}
	if err := s.Add(a, []byte("new a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(b, []byte("new b"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if read(t, a) != "new a" || read(t, b) != "new b" || len(leftovers(t, dir)) > 0 {
		t.Fatalf("commit: a=%q b=%q leftovers %v", read(t, a), read(t, b), leftovers(t, dir))
	}
}

// Concurrent writers of one path never see each other's temp file: the
// result is one whole write.
func TestConcurrentWritersUseUniqueTemps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			content := fmt.Sprintf("writer %02d %s", i, string(make([]byte, 4096)))
			if err := WriteFile(p, []byte(content), 0o644); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := read(t, p); len(got) != len("writer 00 ")+4096 {
		t.Fatalf("torn write: %d bytes", len(got))
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Fatalf("temp files left: %v", l)
	}
}

func TestCommitNamesWhatWasReplaced(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	blocker := filepath.Join(dir, "dir")
	os.MkdirAll(filepath.Join(blocker, "x"), 0o755) // a non-empty directory: rename onto it fails
	var s Set
	s.Add(a, []byte("a"), 0o600)
	s.Add(blocker, []byte("b"), 0o600)
	err := s.Commit()
	if err == nil || read(t, a) != "a" {
		t.Fatalf("err %v", err)
	}
	if want := "already replaced: " + a; !contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Fatalf("temp files left: %v", l)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestWriteInRefusesLinkOut: a write inside a root whose directory is a link
// out of it fails naming the link, and writes nothing outside.
func TestWriteInRefusesLinkOut(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, ".remote-buildkit")); err != nil {
		t.Fatal(err)
	}
	err := WriteFileIn(root, ".remote-buildkit/timeline.svg", []byte("x"), 0o644)
	var le *checkout.LinkError
	if !errors.As(err, &le) || le.Link != ".remote-buildkit" {
		t.Fatalf("WriteFileIn = %v; want a LinkError naming .remote-buildkit", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("written outside the root: %v", ents)
	}
	if err := WriteFileIn(root, "out/sub/meta.json", []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "out/sub/meta.json")); err != nil || string(b) != "ok" {
		t.Fatalf("meta.json = %q, %v", b, err)
	}
}
