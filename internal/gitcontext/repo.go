// Package gitcontext is the git side of a build: it reads the job's checkout
// with the git CLI (which commit a revision names, when it was made, which
// files it holds, what in the work tree differs from it) for git-context and
// reproducible, and says what a git-context build leaves out. Nothing here
// writes to the repository.
package gitcontext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// timeout bounds each git command (they read local files only).
const timeout = 30 * time.Second

// Repo is a git work tree.
type Repo struct {
	Root string // the work tree's top level
}

// Open finds the work tree holding dir.
func Open(dir string) (Repo, error) {
	out, err := run(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return Repo{}, fmt.Errorf("%s is not in a git work tree: %w", dir, err)
	}
	return Repo{Root: strings.TrimSpace(string(out))}, nil
}

// Commit is the full id of the commit rev names (a commit id, HEAD, a
// branch or tag).
func (r Repo) Commit(rev string) (string, error) {
	out, err := run(r.Root, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%q is not a commit of the repository at %s", rev, r.Root)
	}
	return strings.TrimSpace(string(out)), nil
}

// CommitTime is the commit's committer time, in seconds since the epoch
// (what `git log --format=%ct` prints).
func (r Repo) CommitTime(commit string) (int64, error) {
	out, err := run(r.Root, "log", "-1", "--format=%ct", "--end-of-options", commit)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("git log %s: committer time %q: %w", commit, out, err)
	}
	return n, nil
}

// Kind is what commit holds at path (slash-separated, relative to the
// root; "" is the root): "blob", "tree", "commit" (a submodule), or "" when
// nothing is there.
func (r Repo) Kind(commit, path string) (string, error) {
	out, err := run(r.Root, "cat-file", "-t", commit+":"+path)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return "", nil // git cat-file -t exits 128 for a path the commit does not have
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Read returns the file at path in commit; ok is false when the commit has
// no file there.
func (r Repo) Read(commit, path string) (content []byte, ok bool, err error) {
	kind, err := r.Kind(commit, path)
	if err != nil || kind != "blob" {
		return nil, false, err
	}
	out, err := run(r.Root, "cat-file", "blob", commit+":"+path)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// Differences lists what under dir (slash-separated, relative to the root;
// "" for all) is in the work tree but not as in commit: tracked files
// changed or deleted since it, and untracked files (ignored ones too; an
// untracked directory is one entry ending in "/"). Paths are relative to
// the root.
func (r Repo) Differences(commit, dir string) ([]string, error) {
	spec := "."
	if dir != "" {
		spec = dir
	}
	changed, err := run(r.Root, "diff", "--name-only", "-z", "--no-renames", commit, "--", spec)
	if err != nil {
		return nil, err
	}
	untracked, err := run(r.Root, "ls-files", "-z", "--others", "--directory", "--", spec)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range [][]byte{changed, untracked} {
		for _, p := range bytes.Split(b, []byte{0}) {
			if len(p) > 0 {
				out = append(out, string(p))
			}
		}
	}
	return out, nil
}

// run runs git in dir and returns its standard output; an error carries
// git's first line of standard error.
func run(dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		if msg == "" {
			return nil, fmt.Errorf("git %s: %w", args[0], err)
		}
		return nil, fmt.Errorf("git %s: %s: %w", args[0], msg, err)
	}
	return out, nil
}

// Unseen is what a git-context build of commit does not see: the paths of
// the checkout at root that differ from the commit or are not in it
// (changed or generated earlier in the job), inside the context directory
// subdir, less what the .dockerignore patterns excludes exclude, as the
// upload would.
func Unseen(root, commit, subdir string, excludes []string) ([]string, error) {
	diffs, err := Repo{Root: root}.Differences(commit, subdir)
	if err != nil {
		return nil, err
	}
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		pm = nil // the frontend would have refused the patterns already: compare without them
	}
	var missing []string
	for _, p := range diffs {
		rel := strings.TrimSuffix(p, "/")
		if subdir != "" {
			rel = strings.TrimPrefix(rel, subdir+"/")
		}
		if pm != nil {
			if ignored, _ := pm.MatchesOrParentMatches(rel); ignored {
				continue
			}
		}
		missing = append(missing, p)
	}
	return missing, nil
}

// DockerIgnore reads the ignore file the dockerfile frontend would read
// for a local context — <dockerfile>.dockerignore beside the Dockerfile,
// else .dockerignore at the context directory subdir — from commit.
func (r Repo) DockerIgnore(commit, dockerfile, subdir string) ([]string, error) {
	for _, p := range []string{dockerfile + ".dockerignore", path.Join(subdir, ".dockerignore")} {
		b, ok, err := r.Read(commit, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		patterns, err := ignorefile.ReadAll(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s in commit %s: %w", p, commit, err)
		}
		return patterns, nil
	}
	return nil, nil
}
