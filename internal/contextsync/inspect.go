package contextsync

import (
	"context"
	"fmt"
	"path/filepath"
)

// Inspection is what diagnose reports about a context: what a build's walk
// includes, how many ids are known without reading the files, and what the
// last build under the same session key sent.
type Inspection struct {
	Ignore string // the .dockerignore that applies; "" for none
	Files  int64
	Bytes  int64
	Cached int64 // ids in the agent's hash cache
	Git    int64 // files git's index has as clean: ids without reading them
	Last   *LastSync
}

// Inspect walks dir as a build does (the first existing ignore file of
// ignore applied) without hashing anything; opt is the build's (its Mode
// is not used).
func Inspect(ctx context.Context, dir string, ignore []string, opt Options) (*Inspection, error) {
	cacheDir, key := opt.CacheDir, opt.Key
	excludes, used, err := readIgnore(ignore)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", used, err)
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	in := &Inspection{Ignore: used}
	disk := loadCache(cacheDir)
	var unknown []walked
	err = walkFiles(ctx, root, excludes, func(w walked) {
		in.Files++
		in.Bytes += w.fi.Size()
		if _, _, ok := disk.lookup(w.st.key); ok && w.st.key != (fileKey{}) {
			in.Cached++
			return
		}
		unknown = append(unknown, w)
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", dir, err)
	}
	in.Git = gitClean(ctx, root, unknown, opt.UserAttributes)
	if in.Last, err = ReadLast(cacheDir, key); err != nil {
		return nil, err
	}
	return in, nil
}

// gitClean counts the files whose id git's index gives.
func gitClean(ctx context.Context, root string, files []walked, userAttrs string) int64 {
	if len(files) == 0 {
		return 0
	}
	h := newHasher("", userAttrs)
	for i := range files {
		files[i].e, _ = h.entry(files[i].st.key)
	}
	applyGit(ctx, h, root, files)
	var n int64
	for _, f := range files {
		if f.e.src == srcGit {
			n++
		}
	}
	return n
}
