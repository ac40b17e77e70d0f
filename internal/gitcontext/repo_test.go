package gitcontext_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext/gitcontexttest"
)

func TestRepoReadsTheCommit(t *testing.T) {
	dir, commit := gitcontexttest.New(t, 1700000000, map[string]string{
		"Dockerfile": "FROM scratch\n", "app/a.txt": "a\n", "app/.dockerignore": "secret\n",
	})
	repo, err := gitcontext.Open(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	if real, _ := filepath.EvalSymlinks(dir); repo.Root != real && repo.Root != dir {
		t.Errorf("Root = %s, want the top level %s", repo.Root, dir)
	}
	for _, rev := range []string{"HEAD", "main", commit, commit[:10]} {
		if got, err := repo.Commit(rev); err != nil || got != commit {
			t.Errorf("Commit(%q) = %q, %v; want %s", rev, got, err, commit)
		}
	}
	if _, err := repo.Commit("0123456789012345678901234567890123456789"); err == nil {
		t.Error("Commit of an unknown id: no error")
	}
	if got, err := repo.CommitTime(commit); err != nil || got != 1700000000 {
		t.Errorf("CommitTime = %d, %v; want 1700000000", got, err)
	}
	for path, want := range map[string]string{"": "tree", "app": "tree", "Dockerfile": "blob", "app/missing": ""} {
		if got, err := repo.Kind(commit, path); err != nil || got != want {
			t.Errorf("Kind(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	if b, ok, err := repo.Read(commit, "app/.dockerignore"); err != nil || !ok || string(b) != "secret\n" {
		t.Errorf("Read(app/.dockerignore) = %q, %v, %v", b, ok, err)
	}
	if _, ok, err := repo.Read(commit, "app"); err != nil || ok {
		t.Errorf("Read of a directory = ok %v, %v; want not a file", ok, err)
	}
}

func TestDifferencesAreWhatTheCommitLacks(t *testing.T) {
	dir, commit := gitcontexttest.New(t, 1700000000, map[string]string{
		"app/a.txt": "a\n", "app/b.txt": "b\n", "other/c.txt": "c\n", ".gitignore": "gen/\n",
	})
	if err := os.WriteFile(filepath.Join(dir, "app", "a.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "app", "b.txt")); err != nil {
		t.Fatal(err)
	}
	gitcontexttest.WriteFiles(t, dir, map[string]string{"app/new.txt": "x", "app/gen/out.bin": "x", "other/d.txt": "x"})
	got, err := gitcontext.Repo{Root: dir}.Differences(commit, "app")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	// Changed and deleted tracked files, untracked and ignored ones (a
	// directory once); nothing outside app.
	want := []string{"app/a.txt", "app/b.txt", "app/gen/", "app/new.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("Differences(app) = %q, want %q", got, want)
	}
	all, err := gitcontext.Repo{Root: dir}.Differences(commit, "")
	if err != nil || !slices.Contains(all, "other/d.txt") {
		t.Errorf("Differences(root) = %q, %v; want other/d.txt among them", all, err)
	}
}

// What a git-context build does not see leaves out what the .dockerignore
// patterns exclude (a directory by its parent too) and what is outside the
// context directory.
func TestUnseenLeavesOutTheIgnored(t *testing.T) {
	dir, commit := gitcontexttest.New(t, 1700000000, map[string]string{"app/a.txt": "a\n", "app/b.txt": "b\n", "other/c.txt": "c\n"})
	if got, err := gitcontext.Unseen(dir, commit, "app", []string{"node_modules", "*.log"}); err != nil || len(got) != 0 {
		t.Fatalf("a clean checkout: Unseen = %q, %v; want none", got, err)
	}
	gitcontexttest.WriteFiles(t, dir, map[string]string{"app/a.txt": "changed\n", "app/gen/out.js": "x", "app/node_modules/m/i.js": "x",
		"app/debug.log": "x", "other/d.txt": "x"})
	got, err := gitcontext.Unseen(dir, commit, "app", []string{"node_modules", "*.log"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"app/a.txt", "app/gen/"}; !slices.Equal(got, want) {
		t.Errorf("Unseen(app) = %q, want %q", got, want)
	}
	if _, err := gitcontext.Unseen(t.TempDir(), commit, "", nil); err == nil {
		t.Error("Unseen outside a repository: no error")
	}
}
