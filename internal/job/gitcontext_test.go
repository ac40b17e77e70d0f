package job

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext/gitcontexttest"
)

// The note names what the daemon fetches; the warning names the context's
// paths that differ from the commit, leaving out what .dockerignore
// excludes and what is outside the context.
func TestNoteGitContext(t *testing.T) {
	dir, commit := gitcontexttest.New(t, 1700000000, map[string]string{"app/a.txt": "a\n", "app/b.txt": "b\n", "other/c.txt": "c\n"})
	g := &config.GitContext{Remote: "https://ci:s3cret@git.example/app.git", Commit: commit, Subdir: "app", Excludes: []string{"node_modules", "*.log"}, Root: dir}
	var out, errOut bytes.Buffer
	noteGitContext(&out, &errOut, g)
	if want := "git-context: the daemon fetches https://xxxxx:xxxxx@git.example/app.git#" + commit + ":app; nothing of the context or Dockerfile is uploaded\n"; out.String() != want {
		t.Errorf("note %q, want %q", out.String(), want)
	}
	if errOut.Len() != 0 {
		t.Errorf("a clean checkout warned: %s", errOut.String())
	}
	gitcontexttest.WriteFiles(t, dir, map[string]string{"app/a.txt": "changed\n", "app/gen/out.js": "x", "app/node_modules/m/i.js": "x",
		"app/debug.log": "x", "other/d.txt": "x"})
	if err := os.Remove(filepath.Join(dir, "app", "b.txt")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	noteGitContext(&out, &errOut, g)
	warning := errOut.String()
	if !strings.Contains(warning, "the build does not see 3 path(s) of the checkout that differ from commit "+commit+" or are not in it (app/a.txt, app/b.txt, app/gen/)") {
		t.Errorf("warning %q: want app/a.txt, app/b.txt and app/gen/ only", warning)
	}
}
