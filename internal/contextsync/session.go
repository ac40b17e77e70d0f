// Package contextsync makes the upload of a build's local directories (the
// context, the Dockerfile's directory, local build contexts) content-addressed.
//
// BuildKit's diff protocol (fsutil) sends a file only when its size or mtime
// differs from the daemon's copy for the session's shared key. Real mtimes
// make a fresh clone re-send everything, and a changed file whose size and
// mtime match the daemon's copy is never sent at all. Here every regular
// file is served with an mtime derived from its content id (git's blob id)
// keyed with the trust domain's secret (StatKey), so equal content means an
// equal stat on every agent of the domain, changed content a different one,
// and nobody without the key can predict it; directories and symlinks get a fixed mtime. Ids come from
// a hash cache on the agent keyed by (device, inode, size, mtime, ctime),
// from git's index for files git left untouched, or from hashing, in
// parallel, before the daemon asks.
package contextsync

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/fsutil/types"
)

// Mode is how files are presented to the daemon.
type Mode string

// Modes of the context-sync option.
const (
	Content Mode = "content" // mtimes derived from content (the default)
	MTime   Mode = "mtime"   // the files' real mtimes, as BuildKit's clients send them
)

// Options configure a Session.
type Options struct {
	Mode     Mode
	CacheDir string   // the agent's hash cache directory; "" for none
	Key      string   // the build's shared session key: the last sync's stats are kept under it
	StatKey  *StatKey // content mode's key; nil: content mode is not used (real mtimes)
	// UserAttributes is the user's git attributes file
	// ($XDG_CONFIG_HOME/git/attributes, else ~/.config/git/attributes; ""
	// for none): when it exists git's index ids are not trusted.
	UserAttributes string
}

// Dir is one local directory a session serves.
type Dir struct {
	Name    string   // the session's name for it: context, dockerfile, ctx-NAME
	Path    string   // the directory
	Prehash bool     // resolve its files' ids ahead of the daemon's walk
	Ignore  []string // .dockerignore candidates in precedence order; the first that exists applies
}

// Session is the sync of one build (one Solve): its directories, the Map
// it adds to every sync request, and what the daemon walked and asked for.
type Session struct {
	opt    Options
	h      *hasher
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	mounts map[string]*mount

	finish sync.Once
	stats  Stats
}

// mount is one served directory.
type mount struct {
	name, root string
	prepared   chan struct{} // closed when pre-hashing has the cache's and git's ids; nil without pre-hashing
	seen       sync.Map      // pre-hashing's walk: relative path → walked

	mu        sync.Mutex
	requests  []*counts // one per sync request of this directory
	sentFiles atomic.Int64
	sentBytes atomic.Int64
}

// counts are one sync request's walk.
type counts struct {
	files, bytes        atomic.Int64
	hashed, cached, git atomic.Int64
}

// NewSession starts a session; Finish ends it.
func NewSession(opt Options) *Session {
	if opt.Mode == "" {
		opt.Mode = Content
	}
	if opt.StatKey == nil {
		opt.Mode = MTime // never a stat anyone can compute from the content alone
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Session{opt: opt, h: hasherFor(opt.CacheDir, opt.UserAttributes), ctx: ctx, cancel: cancel, mounts: map[string]*mount{}}
}

// Mount serves d: an FS for SolveOpt.LocalMounts that counts what the daemon
// reads. With Prehash (content mode) its files' ids are resolved from now on.
func (s *Session) Mount(d Dir) (fsutil.FS, error) {
	base, err := fsutil.NewFS(d.Path)
	if err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(d.Path)
	if err != nil {
		return nil, err
	}
	m := &mount{name: d.Name, root: root}
	if d.Prehash && s.opt.Mode == Content {
		if excludes, _, err := readIgnore(d.Ignore); err == nil {
			m.prepared = make(chan struct{})
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				prehash(s.ctx, s.h, root, excludes, &m.seen, m.prepared)
			}()
		}
	}
	s.mu.Lock()
	s.mounts[d.Name] = m
	s.mu.Unlock()
	return &countingFS{FS: base, m: m}, nil
}

// FilterOpt is SolveOpt.LocalFilterOpt: for each sync request it adds a Map
// that runs after the daemon's include and exclude patterns, so only files
// the daemon will see are hashed and counted.
func (s *Session) FilterOpt(name string, opt *fsutil.FilterOpt) error {
	s.mu.Lock()
	m := s.mounts[name]
	s.mu.Unlock()
	if m == nil {
		return nil
	}
	c := &counts{}
	m.mu.Lock()
	m.requests = append(m.requests, c)
	m.mu.Unlock()
	prev := opt.Map
	opt.Map = func(p string, st *types.Stat) fsutil.MapResult {
		if prev != nil {
			if r := prev(p, st); r != fsutil.MapResultKeep {
				return r
			}
		}
		s.mapStat(m, c, p, st)
		return fsutil.MapResultKeep
	}
	return nil
}

// mapStat counts a file the daemon's walk includes and, in content mode,
// gives it its derived mtime.
func (s *Session) mapStat(m *mount, c *counts, p string, st *types.Stat) {
	mode := os.FileMode(st.Mode)
	content := s.opt.Mode == Content
	switch {
	case mode.IsRegular():
		c.files.Add(1)
		c.bytes.Add(st.Size)
		if !content {
			return
		}
		id, src, err := s.id(m, p, st)
		if err != nil {
			return // gone or unreadable: so is the daemon's read of it
		}
		st.ModTime = s.opt.StatKey.ModTime(id)
		c.count(src)
	case mode.IsDir(), mode&os.ModeSymlink != 0:
		if content {
			st.ModTime = FixedModTime
		}
	}
}

// id resolves the content id of the file at p, which the daemon's walk saw
// as st: the pre-hashing walk's identity of it when the file has not
// changed since (no second lstat), else its own. Unless the id is known at
// once (the hash cache), it waits for git's answer before hashing.
func (s *Session) id(m *mount, p string, st *types.Stat) (ID, source, error) {
	var e *entry
	var fs fileStat
	if v, ok := m.seen.Load(p); ok {
		if w := v.(walked); w.st.key.Size == st.Size && w.st.key.MTime == st.ModTime {
			e, fs = w.e, w.st
		}
	}
	if e != nil && e.done() {
		return e.id, e.src, e.err
	}
	path := filepath.Join(m.root, p)
	if e == nil {
		fi, err := os.Lstat(path)
		if err != nil {
			return ID{}, 0, err
		}
		var ok bool
		if fs, ok = statOf(fi); !ok {
			id, err := hashFile(path, fi.Size())
			return id, srcHashed, err
		}
		e, _ = s.h.entry(fs.key)
	}
	if !e.done() && m.prepared != nil {
		<-m.prepared
	}
	return s.h.await(e, path, fs)
}

func (c *counts) count(src source) {
	switch src {
	case srcHashed:
		c.hashed.Add(1)
	case srcCached:
		c.cached.Add(1)
	case srcGit:
		c.git.Add(1)
	}
}

// Finish ends the session once the build is over (done or failed): it stops
// pre-hashing, saves new ids to the hash cache and the stats under the
// session key, and returns the stats. Problems saving are a warning in them.
func (s *Session) Finish(ctx context.Context) Stats {
	s.finish.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.stats = s.collect()
		var warn []string
		if s.opt.Mode == Content {
			if err := s.h.save(ctx); err != nil {
				warn = append(warn, err.Error())
			}
		}
		if s.opt.CacheDir != "" && s.opt.Key != "" && s.synced() {
			if err := writeLast(s.opt.CacheDir, s.opt.Key, s.stats, s.h.now()); err != nil {
				warn = append(warn, err.Error())
			}
		}
		if len(warn) > 0 {
			s.stats.Warning = warn[0]
		}
	})
	return s.stats
}

// synced reports whether the daemon asked for any directory.
func (s *Session) synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mounts {
		m.mu.Lock()
		n := len(m.requests)
		m.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// collect adds up the mounts: per directory the largest request's walk (the
// daemon first asks for .dockerignore alone, then for the whole context),
// and every file the daemon read.
func (s *Session) collect() Stats {
	st := Stats{Mode: s.opt.Mode, Uploads: 1}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mounts {
		m.mu.Lock()
		var big *counts
		for _, c := range m.requests {
			if big == nil || c.files.Load() > big.files.Load() {
				big = c
			}
		}
		m.mu.Unlock()
		if big != nil {
			st.Files += big.files.Load()
			st.Bytes += big.bytes.Load()
			st.Hashed += big.hashed.Load()
			st.Cached += big.cached.Load()
			st.Git += big.git.Load()
		}
		st.SentFiles += m.sentFiles.Load()
		st.SentBytes += m.sentBytes.Load()
	}
	return st
}

// countingFS counts the files the daemon reads and their bytes.
type countingFS struct {
	fsutil.FS
	m *mount
}

func (c *countingFS) Open(p string) (io.ReadCloser, error) {
	rc, err := c.FS.Open(p)
	if err != nil {
		return nil, err
	}
	c.m.sentFiles.Add(1)
	return &countingReader{ReadCloser: rc, n: &c.m.sentBytes}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.n.Add(int64(n))
	return n, err
}
