// Package gitcontexttest makes real git repositories for tests: a job's
// checkout with files committed at a known time.
package gitcontexttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// New makes a repository on branch main in a new temporary directory with
// files (slash-separated path → content) committed at epoch (author and
// committer time, seconds); it returns the directory and the commit.
func New(t testing.TB, epoch int64, files map[string]string) (dir, commit string) {
	t.Helper()
	dir = t.TempDir()
	Git(t, dir, nil, "init", "-q", "-b", "main")
	return dir, Commit(t, dir, epoch, files)
}

// Commit writes files into the work tree dir and commits every change at
// epoch; it returns the new commit.
func Commit(t testing.TB, dir string, epoch int64, files map[string]string) string {
	t.Helper()
	WriteFiles(t, dir, files)
	Git(t, dir, nil, "add", "-A")
	date := fmt.Sprintf("@%d +0000", epoch)
	Git(t, dir, []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date},
		"-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "--allow-empty", "-m", "job")
	return Git(t, dir, nil, "rev-parse", "HEAD")
}

// WriteFiles writes each file (slash-separated path → content) under dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Git runs git in dir with env added to the test's environment and returns
// its trimmed output; a failure fails t.
func Git(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
