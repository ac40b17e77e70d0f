package contextsync

import (
	"bytes"
	"context"
	"errors"
	gofs "io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// walked is one regular file a walk found.
type walked struct {
	rel string // relative to the root, OS separators
	fi  os.FileInfo
	st  fileStat
	e   *entry // its id's entry (pre-hashing only)
}

// readIgnore returns the exclude patterns of the first ignore file of
// candidates that exists (BuildKit's order: <Dockerfile>.dockerignore, then
// the context's .dockerignore) and its path; none: nil, "".
func readIgnore(candidates []string) ([]string, string, error) {
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return nil, p, err
		}
		patterns, err := ignorefile.ReadAll(bytes.NewReader(b))
		return patterns, p, err
	}
	return nil, "", nil
}

// walkFiles calls fn for every regular file under root that excludes let
// through, in the order the daemon's sync walks (lexical), with the same
// pattern semantics (moby/patternmatcher, each path matched with its
// parent's result). A directory is skipped when it is excluded and no
// exception pattern could bring a file inside it back.
func walkFiles(ctx context.Context, root string, excludes []string, fn func(walked)) error {
	var pm *patternmatcher.PatternMatcher
	if len(excludes) > 0 {
		var err error
		if pm, err = patternmatcher.New(excludes); err != nil {
			return err
		}
	}
	parents := map[string]patternmatcher.MatchInfo{}
	return filepath.WalkDir(root, func(path string, d gofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if pm != nil {
			excluded, info, err := pm.MatchesUsingParentResults(rel, parents[filepath.Dir(rel)])
			if err != nil {
				return err
			}
			if d.IsDir() {
				if excluded && !pm.Exclusions() {
					return filepath.SkipDir
				}
				parents[rel] = info
			}
			if excluded {
				return nil
			}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // gone since: the sync sees what is there then
		}
		st, _ := statOf(fi)
		fn(walked{rel: rel, fi: fi, st: st})
		return nil
	})
}

// prehash resolves the id of every file the daemon is expected to ask for,
// ahead of its walk: the hash cache first, then git's index for clean files,
// then hashing in parallel. prepared is closed once the cache and git have
// answered (the Map waits for it, so git's ids are not hashed again); the
// hashing goes on after it.
func prehash(ctx context.Context, h *hasher, root string, excludes []string, seen *sync.Map, prepared chan struct{}) {
	work, done := startHashing(ctx, h, root)
	defer done()
	// Outside a git work tree nothing is gained by waiting for the whole
	// walk: files are hashed as they are found.
	inGit := inGitWorkTree(root)
	if !inGit {
		close(prepared)
	}
	var files []walked
	err := walkFiles(ctx, root, excludes, func(w walked) {
		if w.st.key == (fileKey{}) {
			return // no identity on this OS: hashed when asked for
		}
		w.e, _ = h.entry(w.st.key)
		seen.Store(w.rel, w)
		if inGit {
			files = append(files, w)
		} else {
			work(w)
		}
	})
	if !inGit {
		return
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		files = files[:0:0] // a walk error is the daemon's to report
	}
	applyGit(ctx, h, root, files)
	close(prepared)
	for _, f := range files {
		work(f)
	}
}

// inGitWorkTree reports whether dir or a parent has a .git (a directory, or
// the file of a worktree or submodule).
func inGitWorkTree(dir string) bool {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// applyGit gives every unclaimed file that is clean in git's index its blob
// id — only when no filter driver or working-tree encoding applies to it and
// the blob's size is the file's (no line-ending or ident conversion), so the
// id is the one hashing the file would give.
func applyGit(ctx context.Context, h *hasher, root string, files []walked) {
	type candidate struct {
		w  walked
		id ID
	}
	if !worthGit(files) {
		return
	}
	g := h.git(ctx, root)
	if g == nil {
		return
	}
	var cands []candidate
	var ids []ID
	seen := map[ID]bool{}
	for _, f := range files {
		if f.e.claimed.Load() {
			continue
		}
		if id, ok := g.clean(filepath.ToSlash(f.rel), f.st); ok {
			cands = append(cands, candidate{f, id})
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if len(cands) == 0 {
		return
	}
	sizes, err := g.sizes(ctx, ids)
	if err != nil {
		return
	}
	paths := make([]string, len(cands))
	for i, c := range cands {
		paths[i] = filepath.ToSlash(c.w.rel)
	}
	filtered, err := g.filtered(ctx, root, paths)
	if err != nil {
		return
	}
	now := h.now()
	for i, c := range cands {
		if filtered[paths[i]] {
			continue
		}
		if size, ok := sizes[c.id]; ok && size == c.w.st.key.Size && c.w.e.claimed.CompareAndSwap(false, true) {
			c.w.e.finish(c.id, srcGit, c.w.st.key.stable(now), nil)
		}
	}
}

// Asking git costs three processes and a read of the whole index: worth it
// when more than this is left to hash (a fresh clone), not for the few files
// a warm checkout changed.
var (
	gitMinFiles int64 = 64
	gitMinBytes int64 = 16 << 20
)

func worthGit(files []walked) bool {
	var n, size int64
	for _, f := range files {
		if !f.e.claimed.Load() {
			n++
			size += f.st.key.Size
		}
	}
	return n >= gitMinFiles || size >= gitMinBytes
}

// startHashing starts a hashing goroutine per CPU: work hands one a file unless
// someone has claimed it already (in walk order: the order the daemon asks
// in); done waits for them once no more work comes.
func startHashing(ctx context.Context, h *hasher, root string) (work func(walked), done func()) {
	ch := make(chan walked, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range ch {
				h.compute(f.e, filepath.Join(root, f.rel), f.st)
			}
		}()
	}
	work = func(f walked) {
		if f.e.claimed.Load() || ctx.Err() != nil {
			return
		}
		select {
		case ch <- f:
		case <-ctx.Done():
		}
	}
	done = func() {
		close(ch)
		wg.Wait()
	}
	return work, done
}
