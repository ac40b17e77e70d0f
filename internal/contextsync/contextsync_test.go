package contextsync

import (
	"context"
	gofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/fsutil/types"
)

// alwaysGit asks git for any number of files (the tests' trees are small).
func alwaysGit(t *testing.T) {
	files, size := gitMinFiles, gitMinBytes
	gitMinFiles, gitMinBytes = 0, 0
	t.Cleanup(func() { gitMinFiles, gitMinBytes = files, size })
}

// fresh forgets the process's hashers, as a new process starts without them.
func fresh(t *testing.T) {
	t.Helper()
	hashersMu.Lock()
	hashers = map[string]*hasher{}
	hashersMu.Unlock()
}

// later makes every file look older than stableAfter to dir's hasher, so
// files just written are cached.
func later(dir string) {
	hasherFor(dir, "").now = func() time.Time { return time.Now().Add(time.Minute) }
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// walkAsDaemon runs one sync request's walk the way a build does: BuildKit's
// client wraps the mount (resetting owners), the session's filter applies the
// daemon's patterns and our Map runs last. It returns each entry's stat.
func walkAsDaemon(t *testing.T, s *Session, name string, fs fsutil.FS, opt fsutil.FilterOpt) map[string]*types.Stat {
	t.Helper()
	if err := s.FilterOpt(name, &opt); err != nil {
		t.Fatal(err)
	}
	inner, err := fsutil.NewFilterFS(fs, &fsutil.FilterOpt{Map: func(_ string, st *types.Stat) fsutil.MapResult {
		st.Uid, st.Gid = 0, 0
		return fsutil.MapResultKeep
	}})
	if err != nil {
		t.Fatal(err)
	}
	outer, err := fsutil.NewFilterFS(inner, &opt)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*types.Stat{}
	err = outer.Walk(context.Background(), "/", func(p string, d gofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fi.Sys().(*types.Stat).Clone()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// syncDir serves dir as the build context in a new session and walks it once.
func syncDir(t *testing.T, cacheDir, dir string, mode Mode, excludes ...string) (map[string]*types.Stat, Stats) {
	t.Helper()
	s := NewSession(Options{Mode: mode, CacheDir: cacheDir, StatKey: testKey})
	fs, err := s.Mount(Dir{Name: "context", Path: dir, Prehash: true, Ignore: []string{filepath.Join(dir, ".dockerignore")}})
	if err != nil {
		t.Fatal(err)
	}
	stats := walkAsDaemon(t, s, "context", fs, fsutil.FilterOpt{ExcludePatterns: excludes})
	return stats, s.Finish(context.Background())
}

func TestBlobIDIsGits(t *testing.T) {
	for content, want := range map[string]string{
		"":        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
		"hello\n": "ce013625030ba8dba906f756967f9e9ca394464a",
	} {
		if got := BlobID([]byte(content)).String(); got != want {
			t.Errorf("BlobID(%q) = %s, want git's %s", content, got, want)
		}
	}
}

var testKey = &StatKey{1, 2, 3}

// The derived mtime is keyed: another key gives another stat for the same
// content (so it cannot be computed from the content alone), the same key
// the same stat; without a key a session never uses content mode.
func TestModTimeKeyed(t *testing.T) {
	id := BlobID([]byte("package a\n"))
	other := &StatKey{9}
	if testKey.ModTime(id) == other.ModTime(id) {
		t.Errorf("two keys give the same mtime %d", testKey.ModTime(id))
	}
	if again := (&StatKey{1, 2, 3}).ModTime(id); again != testKey.ModTime(id) {
		t.Errorf("the same key gives %d and %d", again, testKey.ModTime(id))
	}
	s := NewSession(Options{Mode: Content})
	if st := s.Finish(context.Background()); st.Mode != MTime {
		t.Errorf("a session without a stat key is in %s mode, want mtime", st.Mode)
	}
}

func TestModTimeRange(t *testing.T) {
	lo, hi := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[int64]bool{}
	for i := range 2000 {
		id := BlobID([]byte(strings.Repeat("x", i)))
		m := testKey.ModTime(id)
		if tm := time.Unix(0, m); tm.Before(lo) || !tm.Before(hi) {
			t.Fatalf("ModTime %v outside 1980..2014", tm)
		}
		if m%1e9 >= 1e9 || m%1e9 < 0 {
			t.Fatalf("nanoseconds %d", m%1e9)
		}
		if seen[m] {
			t.Fatalf("two contents share the mtime %d", m)
		}
		seen[m] = true
	}
	if got := time.Unix(0, spread(^uint64(0))); got.After(time.Date(2014, 1, 11, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("the largest id gives %v", got)
	}
}

// Two checkouts of the same content with different mtimes (a fresh clone)
// present identical stats; a changed file whose size and mtime are kept
// presents a different mtime, and only that file does.
func TestEqualContentEqualStat(t *testing.T) {
	fresh(t)
	files := map[string]string{"Dockerfile": "FROM scratch\n", "src/a.go": "package a\n", "src/b.go": "package b\n", "empty": ""}
	a, b := t.TempDir(), t.TempDir()
	writeTree(t, a, files)
	writeTree(t, b, files)
	if err := os.Symlink("src/a.go", filepath.Join(a, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("src/a.go", filepath.Join(b, "link")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour)
	filepath.WalkDir(a, func(p string, _ gofs.DirEntry, _ error) error { return os.Chtimes(p, old, old) })
	sa, _ := syncDir(t, "", a, Content)
	sb, stats := syncDir(t, "", b, Content)
	if len(sa) != len(files)+2 { // + src/ + link
		t.Fatalf("walk saw %d entries: %v", len(sa), sa)
	}
	for p, st := range sa {
		if !st.EqualVT(sb[p]) {
			t.Errorf("%s: stat %v in one checkout, %v in the other", p, st, sb[p])
		}
	}
	if stats.Files != int64(len(files)) || stats.Bytes != int64(len("FROM scratch\npackage a\npackage b\n")) {
		t.Errorf("stats %+v", stats)
	}
	if got, want := sa["src/a.go"].ModTime, testKey.ModTime(BlobID([]byte("package a\n"))); got != want {
		t.Errorf("src/a.go mtime %d, want %d", got, want)
	}
	if sa["src"].ModTime != FixedModTime || sa["link"].ModTime != FixedModTime {
		t.Errorf("directory and symlink mtimes %d, %d", sa["src"].ModTime, sa["link"].ModTime)
	}

	// Same size, same mtime, new content.
	p := filepath.Join(b, "src", "a.go")
	fi, _ := os.Stat(p)
	writeTree(t, b, map[string]string{"src/a.go": "package c\n"})
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	sc, _ := syncDir(t, "", b, Content)
	for path, st := range sc {
		same := st.EqualVT(sb[path])
		if path == "src/a.go" && same {
			t.Errorf("%s changed but presents the same stat %v", path, st)
		}
		if path != "src/a.go" && !same {
			t.Errorf("%s did not change but its stat did", path)
		}
	}
}

// mtime mode leaves every stat as it is, and still counts.
func TestMTimeModeKeepsStats(t *testing.T) {
	fresh(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "aaa", "d/b": "bb"})
	old := time.Date(2020, 5, 6, 7, 8, 9, 123456789, time.UTC)
	os.Chtimes(filepath.Join(dir, "a"), old, old)
	got, stats := syncDir(t, "", dir, MTime)
	if got["a"].ModTime != old.UnixNano() {
		t.Errorf("mtime mode changed a's mtime to %d", got["a"].ModTime)
	}
	if stats.Files != 2 || stats.Bytes != 5 || stats.Hashed+stats.Cached+stats.Git != 0 || stats.Mode != MTime {
		t.Errorf("stats %+v", stats)
	}
}

// Files the daemon's patterns exclude are neither counted nor hashed, and
// pre-hashing follows <Dockerfile>.dockerignore before .dockerignore.
func TestDockerignore(t *testing.T) {
	fresh(t)
	cache := t.TempDir()
	later(cache)
	dir, dfDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{".dockerignore": "big\n", "big/x": "x", "small/y": "y", "z": "z"})
	writeTree(t, dfDir, map[string]string{"Dockerfile": "FROM scratch\n", "Dockerfile.dockerignore": "small\n.dockerignore\n"})
	s := NewSession(Options{Mode: Content, CacheDir: cache, StatKey: testKey})
	fs, err := s.Mount(Dir{Name: "context", Path: dir, Prehash: true, Ignore: []string{filepath.Join(dfDir, "Dockerfile.dockerignore"), filepath.Join(dir, ".dockerignore")}})
	if err != nil {
		t.Fatal(err)
	}
	seen := walkAsDaemon(t, s, "context", fs, fsutil.FilterOpt{ExcludePatterns: []string{"small", ".dockerignore"}})
	stats := s.Finish(context.Background())
	if _, ok := seen["small/y"]; ok {
		t.Errorf("the walk included an excluded file")
	}
	if stats.Files != 2 || stats.Hashed != 2 {
		t.Errorf("want 2 files (big/x, z) counted and hashed: %+v", stats)
	}
	disk := loadCache(cache)
	for name, want := range map[string]bool{"big/x": true, "z": true, "small/y": false} {
		fi, _ := os.Lstat(filepath.Join(dir, name))
		st, _ := statOf(fi)
		if _, _, ok := disk.lookup(st.key); ok != want {
			t.Errorf("%s in the hash cache: %v, want %v", name, ok, want)
		}
	}
	in, err := Inspect(context.Background(), dir, []string{filepath.Join(dfDir, "Dockerfile.dockerignore"), filepath.Join(dir, ".dockerignore")}, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if in.Files != 2 || in.Cached != 2 || !strings.HasSuffix(in.Ignore, "Dockerfile.dockerignore") {
		t.Errorf("inspection %+v", in)
	}
}

// A second build (a new process) finds the ids in the hash cache and reads
// no file; a changed file is hashed again.
func TestCacheHits(t *testing.T) {
	fresh(t)
	cache := filepath.Join(t.TempDir(), "hashes")
	later(cache)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "1", "b": "2", "c/d": "3"})
	first, s1 := syncDir(t, cache, dir, Content)
	if s1.Hashed != 3 || s1.Cached != 0 || s1.Warning != "" {
		t.Fatalf("first build: %+v", s1)
	}
	for path, want := range map[string]os.FileMode{cache: 0o700, filepath.Join(cache, cacheFile): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", path, fi.Mode().Perm(), err, want)
		}
	}
	fresh(t)
	later(cache)
	second, s2 := syncDir(t, cache, dir, Content)
	if s2.Hashed != 0 || s2.Cached != 3 {
		t.Errorf("second build: %+v", s2)
	}
	for p := range first {
		if !first[p].EqualVT(second[p]) {
			t.Errorf("%s: a cached id gives another stat", p)
		}
	}
	writeTree(t, dir, map[string]string{"b": "9"})
	fresh(t)
	later(cache)
	third, s3 := syncDir(t, cache, dir, Content)
	if s3.Hashed != 1 || s3.Cached != 2 || third["b"].ModTime != testKey.ModTime(BlobID([]byte("9"))) {
		t.Errorf("after a change: %+v, b's mtime %d", s3, third["b"].ModTime)
	}
}

// Files changed within stableAfter are not cached: a coarse clock could
// hide a second change.
func TestRecentFilesNotCached(t *testing.T) {
	fresh(t)
	cache := t.TempDir()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"new": "n"})
	if _, s := syncDir(t, cache, dir, Content); s.Hashed != 1 {
		t.Fatalf("%+v", s)
	}
	if d := loadCache(cache); d.len() != 0 {
		t.Errorf("a file changed just now was cached (%d records)", d.len())
	}
}

// Eviction keeps the most recently used records; concurrent savers (jobs on
// one agent) merge rather than overwrite each other.
func TestCacheEvictionAndConcurrency(t *testing.T) {
	dir := t.TempDir()
	defer func(n int) { MaxEntries = n }(MaxEntries)
	MaxEntries = 40
	now := time.Unix(1_900_000_000, 0)
	rec := func(i int, used uint32) record {
		return encodeRecord(fileKey{Dev: 1, Ino: uint64(i), Size: 1, MTime: 1, CTime: 1}, used, BlobID([]byte{byte(i)}))
	}
	done := make(chan error)
	for w := range 8 {
		go func() {
			var add []record
			for i := range 5 {
				add = append(add, rec(w*5+i, uint32(1000+w*5+i)))
			}
			done <- saveCache(context.Background(), dir, add, nil, now)
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	d := loadCache(dir)
	if d.len() != 40 {
		t.Fatalf("%d records after 8 concurrent saves of 5, want 40", d.len())
	}
	// 10 more, newer: the 10 oldest go.
	var add []record
	for i := 40; i < 50; i++ {
		add = append(add, rec(i, uint32(5000+i)))
	}
	if err := saveCache(context.Background(), dir, add, nil, now); err != nil {
		t.Fatal(err)
	}
	d = loadCache(dir)
	for i := range 50 {
		_, _, ok := d.lookup(fileKey{Dev: 1, Ino: uint64(i), Size: 1, MTime: 1, CTime: 1})
		if ok != (i >= 10) {
			t.Errorf("record %d present: %v", i, ok)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestDamagedCacheIsEmpty(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, cacheFile), []byte("RBKHASH1garbage"), 0o600)
	if d := loadCache(dir); d.len() != 0 {
		t.Errorf("damaged cache gave %d records", d.len())
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// In a git work tree the clean files' ids come from git's index and equal
// the hashed ones; a file changed with its size and mtime kept is hashed.
func TestGitIDs(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	alwaysGit(t)
	fresh(t)
	repo := t.TempDir()
	files := map[string]string{"ctx/Dockerfile": "FROM scratch\n", "ctx/a": "alpha\n", "ctx/sub/b": "beta\n", "outside": "o\n"}
	writeTree(t, repo, files)
	git(t, repo, "init", "-q")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "c")
	// The index must be newer than the files (not racily clean).
	time.Sleep(10 * time.Millisecond)
	git(t, repo, "update-index", "--really-refresh")
	plain := t.TempDir()
	writeTree(t, plain, map[string]string{"Dockerfile": "FROM scratch\n", "a": "alpha\n", "sub/b": "beta\n"})

	for _, version := range []string{"2", "4"} {
		git(t, repo, "update-index", "--index-version", version)
		fresh(t)
		viaGit, s := syncDir(t, "", filepath.Join(repo, "ctx"), Content)
		if s.Git != 3 || s.Hashed != 0 {
			t.Errorf("index v%s: want 3 ids from git: %+v", version, s)
		}
		fresh(t)
		hashed, _ := syncDir(t, "", plain, Content)
		for _, p := range []string{"Dockerfile", "a", "sub/b"} {
			if viaGit[p].ModTime != hashed[p].ModTime {
				t.Errorf("index v%s: %s: git's id gives %d, hashing %d", version, p, viaGit[p].ModTime, hashed[p].ModTime)
			}
		}
	}
	// Same size and mtime, new content: git's stat no longer matches.
	p := filepath.Join(repo, "ctx", "a")
	fi, _ := os.Stat(p)
	os.WriteFile(p, []byte("ALPHA\n"), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	fresh(t)
	got, s := syncDir(t, "", filepath.Join(repo, "ctx"), Content)
	if s.Git != 2 || s.Hashed != 1 || got["a"].ModTime != testKey.ModTime(BlobID([]byte("ALPHA\n"))) {
		t.Errorf("after a same-size change: %+v, mtime %d", s, got["a"].ModTime)
	}
}

// A file a filter driver applies to is hashed even though git has it clean
// with a blob of the same size.
func TestGitFilteredFilesHashed(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	alwaysGit(t)
	fresh(t)
	repo := t.TempDir()
	writeTree(t, repo, map[string]string{".gitattributes": "*.txt filter=up\n", "a.txt": "lower\n", "b.bin": "bin\n"})
	git(t, repo, "init", "-q")
	git(t, repo, "config", "filter.up.clean", "tr a-z A-Z")
	git(t, repo, "config", "filter.up.smudge", "cat")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "c")
	time.Sleep(10 * time.Millisecond)
	git(t, repo, "update-index", "--really-refresh")
	got, s := syncDir(t, "", repo, Content, ".git")
	if got["a.txt"].ModTime != testKey.ModTime(BlobID([]byte("lower\n"))) {
		t.Errorf("a.txt got the id of git's (filtered) blob")
	}
	if s.Git != 2 || s.Hashed != 1 { // .gitattributes and b.bin from git
		t.Errorf("stats %+v", s)
	}
}

// The last sync's stats are kept per session key.
func TestLastSync(t *testing.T) {
	fresh(t)
	cache := t.TempDir()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "1"})
	s := NewSession(Options{Mode: Content, CacheDir: cache, Key: "remote-buildkit:p:.", StatKey: testKey})
	fs, _ := s.Mount(Dir{Name: "context", Path: dir})
	walkAsDaemon(t, s, "context", fs, fsutil.FilterOpt{})
	want := s.Finish(context.Background())
	last, err := ReadLast(cache, "remote-buildkit:p:.")
	if err != nil || last == nil || last.Stats != want || last.Key != "remote-buildkit:p:." {
		t.Fatalf("ReadLast = %+v, %v; want %+v", last, err, want)
	}
	if other, err := ReadLast(cache, "another"); other != nil || err != nil {
		t.Errorf("another key: %+v %v", other, err)
	}
	// A session the daemon never asked anything of (a plan that failed)
	// leaves the last sync as it was.
	NewSession(Options{Mode: Content, CacheDir: cache, Key: "remote-buildkit:p:.", StatKey: testKey}).Finish(context.Background())
	if again, _ := ReadLast(cache, "remote-buildkit:p:."); again == nil || again.Stats != want {
		t.Errorf("an empty session replaced the last sync: %+v", again)
	}
}

func TestStatsString(t *testing.T) {
	for _, tc := range []struct {
		s    Stats
		want string
	}{
		{Stats{Mode: Content, Files: 5000, Bytes: 50 << 20, SentFiles: 3, SentBytes: 41 << 10, Hashed: 3, Cached: 4997, Uploads: 1},
			"sent 3 files, 41.0 KiB of 5,000 files, 50.0 MiB (ids: 3 hashed, 4,997 cached)"},
		{Stats{Mode: MTime, Files: 1, Bytes: 10, SentFiles: 1, SentBytes: 10, Uploads: 2},
			"sent 1 file, 10 B of 1 file, 10 B in 2 uploads (context-sync: mtime)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

// The pre-hashing walk includes exactly the files the daemon's sync walk
// (fsutil's filter) does, for .dockerignore patterns with exceptions,
// wildcards and excluded directories.
func TestWalkMatchesDaemonFilter(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.go": "", "b.txt": "", "docs/x.md": "", "docs/keep/y.md": "", "node_modules/m/i.js": "",
		"src/deep/z.tmp": "", "src/deep/z.go": "", "build/out.bin": "", "build/keep.txt": "", ".git/HEAD": "",
	})
	for _, excludes := range [][]string{
		nil,
		{".git", "node_modules"},
		{"docs", "!docs/keep"},
		{"**/*.tmp", "build", "!build/keep.txt"},
		{"*", "!src"},
	} {
		ours := map[string]bool{}
		if err := walkFiles(context.Background(), dir, excludes, func(w walked) { ours[filepath.ToSlash(w.rel)] = true }); err != nil {
			t.Fatal(err)
		}
		theirs := map[string]bool{}
		base, _ := fsutil.NewFS(dir)
		fs, _ := fsutil.NewFilterFS(base, &fsutil.FilterOpt{ExcludePatterns: excludes})
		fs.Walk(context.Background(), "/", func(p string, d gofs.DirEntry, err error) error {
			if fi, _ := d.Info(); fi != nil && fi.Mode().IsRegular() {
				theirs[filepath.ToSlash(p)] = true
			}
			return err
		})
		if len(ours) != len(theirs) {
			t.Errorf("excludes %q: ours %v, fsutil %v", excludes, ours, theirs)
			continue
		}
		for p := range theirs {
			if !ours[p] {
				t.Errorf("excludes %q: fsutil includes %s, ours does not", excludes, p)
			}
		}
	}
}

// A warm checkout's few changed files are hashed without asking git.
func TestFewMissesSkipGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	fresh(t)
	repo := t.TempDir()
	writeTree(t, repo, map[string]string{"a": "1", "b": "2"})
	git(t, repo, "init", "-q")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "c")
	time.Sleep(10 * time.Millisecond)
	git(t, repo, "update-index", "--really-refresh")
	if _, s := syncDir(t, "", repo, Content, ".git"); s.Git != 0 || s.Hashed != 2 {
		t.Errorf("2 files to resolve: %+v, want both hashed", s)
	}
	alwaysGit(t)
	fresh(t)
	if _, s := syncDir(t, "", repo, Content, ".git"); s.Git != 2 {
		t.Errorf("with the threshold at 0: %+v, want both from git", s)
	}
}
