package contextsync

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// source says where a file's id came from.
type source uint8

const (
	srcHashed source = iota + 1 // the file was read
	srcCached                   // the agent's hash cache
	srcGit                      // git's index (a clean file)
)

// entry is one file identity's id, computed at most once per process.
type entry struct {
	claimed atomic.Bool   // someone computes it (or it is done)
	ready   chan struct{} // closed once id/err are set
	id      ID
	err     error
	src     source
	persist bool // keep it in the disk cache (the file was stable)
	saved   bool // written to the disk cache (guarded by hasher.mu)
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (e *entry) finish(id ID, src source, persist bool, err error) {
	e.id, e.src, e.persist, e.err = id, src, persist, err
	close(e.ready)
}

// hasher resolves file identities to ids for every session of the process
// (bake targets and split nodes share it), in front of the disk cache.
type hasher struct {
	dir       string // the disk cache's directory; "" for none
	userAttrs string // the user's git attributes file; "" for none
	now       func() time.Time

	load sync.Once
	disk *diskCache

	mu      sync.Mutex
	live    map[fileKey]*entry
	touched map[string]bool // disk records hit whose last-used time is old
	gits    map[string]*gitOnce
}

type gitOnce struct {
	once sync.Once
	idx  *gitIndex
}

var (
	hashersMu sync.Mutex
	hashers   = map[string]*hasher{}
)

// hasherFor is the process's hasher for the cache directory dir.
// userAttrs is the user's git attributes file (Options.UserAttributes).
func hasherFor(dir, userAttrs string) *hasher {
	hashersMu.Lock()
	defer hashersMu.Unlock()
	h := hashers[dir]
	if h == nil {
		h = newHasher(dir, userAttrs)
		hashers[dir] = h
	}
	return h
}

func newHasher(dir, userAttrs string) *hasher {
	return &hasher{dir: dir, userAttrs: userAttrs, now: time.Now, live: map[fileKey]*entry{}, touched: map[string]bool{}, gits: map[string]*gitOnce{}}
}

func (h *hasher) cache() *diskCache {
	h.load.Do(func() { h.disk = loadCache(h.dir) })
	return h.disk
}

// entry returns k's entry and whether the caller created it unclaimed
// (pre-hashing: claim it before computing). A disk cache hit is done at once.
func (h *hasher) entry(k fileKey) (*entry, bool) {
	h.mu.Lock()
	e := h.live[k]
	h.mu.Unlock()
	if e != nil {
		return e, false
	}
	e = &entry{ready: make(chan struct{})}
	id, used, hit := h.cache().lookup(k) // outside the lock: the walks run in parallel
	if hit {
		e.claimed.Store(true)
		e.id, e.src, e.ready = id, srcCached, closed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old := h.live[k]; old != nil {
		return old, false
	}
	if hit && time.Unix(int64(used), 0).Add(touchAfter).Before(h.now()) {
		h.touched[string(k.bytes())] = true
	}
	h.live[k] = e
	return e, !hit
}

// done reports whether e's id (or error) is set.
func (e *entry) done() bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// await returns e's id, computing it from the file at path (identity st)
// unless someone else does.
func (h *hasher) await(e *entry, path string, st fileStat) (ID, source, error) {
	h.compute(e, path, st)
	<-e.ready
	return e.id, e.src, e.err
}

// compute hashes the file of e unless someone else has claimed it.
func (h *hasher) compute(e *entry, path string, st fileStat) {
	if !e.claimed.CompareAndSwap(false, true) {
		return
	}
	id, err := hashFile(path, st.key.Size)
	// A write while the file was read moves its ctime: the id cached under
	// the old identity is never looked up again.
	e.finish(id, srcHashed, err == nil && st.key.stable(h.now()), err)
}

// git is the git index of the work tree root is in (nil: none), read once.
func (h *hasher) git(ctx context.Context, root string) *gitIndex {
	h.mu.Lock()
	g := h.gits[root]
	if g == nil {
		g = &gitOnce{}
		h.gits[root] = g
	}
	h.mu.Unlock()
	g.once.Do(func() {
		idx, err := loadGit(ctx, root, h.userAttrs)
		if err == nil {
			g.idx = idx
		}
	})
	return g.idx
}

// save writes every new stable id to the disk cache, with the hits whose
// last-used time was old.
func (h *hasher) save(ctx context.Context) error {
	if h.dir == "" {
		return nil
	}
	h.mu.Lock()
	var add []record
	var saving []*entry
	now := h.now()
	for k, e := range h.live {
		select {
		case <-e.ready:
		default:
			continue // still being computed (a cancelled pre-hash)
		}
		if e.persist && !e.saved && e.err == nil && e.src != srcCached {
			add = append(add, encodeRecord(k, uint32(now.Unix()), e.id))
			saving = append(saving, e)
		}
	}
	touched := h.touched
	h.touched = map[string]bool{}
	h.mu.Unlock()
	if len(add) == 0 && len(touched) == 0 {
		return nil
	}
	if err := saveCache(ctx, h.dir, add, touched, now); err != nil {
		return err
	}
	h.mu.Lock()
	for _, e := range saving {
		e.saved = true
	}
	h.mu.Unlock()
	return nil
}
