package contextsync

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"time"

	"github.com/gofrs/flock"

	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
)

// fileKey identifies a file's content without reading it: the same device,
// inode, size, mtime and ctime mean the same bytes, because every write
// moves the ctime and the ctime cannot be set from user space (tools that
// restore mtimes — cp -p, tar -x, rsync -t — still get a new ctime).
type fileKey struct {
	Dev, Ino     uint64
	Size         int64
	MTime, CTime int64 // Unix nanoseconds
}

// fileStat is what lstat says about a file beyond fsutil's stat.
type fileStat struct {
	key      fileKey
	uid, gid uint32
}

// The hash cache is one file of fixed-size records sorted by key, read into
// memory once and searched in place:
//
//	"RBKHASH1" then per record: dev, inode, size, mtime, ctime (8 bytes
//	each, big-endian, so bytes order is key order), last used (4 bytes,
//	Unix seconds), id (20 bytes).
const (
	cacheMagic = "RBKHASH1"
	keySize    = 40
	recordSize = keySize + 4 + len(ID{})
	cacheFile  = "index"
	lockFile   = "lock"
)

// MaxEntries bounds the hash cache: 250,000 records are 16 MB; the least
// recently used go first.
var MaxEntries = 250_000

// touchAfter: a hit rewrites its record's last-used time only when that is
// older than this, so a warm build does not rewrite the file.
const touchAfter = 24 * time.Hour

// stableAfter: a file whose mtime or ctime is this recent may still change
// without moving them (coarse filesystem clocks), so its id is not cached
// across builds — git's "racily clean" rule.
const stableAfter = 2 * time.Second

func (k fileKey) bytes() []byte {
	b := make([]byte, keySize)
	binary.BigEndian.PutUint64(b[0:], k.Dev)
	binary.BigEndian.PutUint64(b[8:], k.Ino)
	binary.BigEndian.PutUint64(b[16:], uint64(k.Size))
	binary.BigEndian.PutUint64(b[24:], uint64(k.MTime))
	binary.BigEndian.PutUint64(b[32:], uint64(k.CTime))
	return b
}

// stable reports whether the file's id may be kept for later builds.
func (k fileKey) stable(now time.Time) bool {
	last := max(k.MTime, k.CTime)
	return now.UnixNano()-last > int64(stableAfter)
}

// diskCache is the loaded records (without the header), sorted by key.
type diskCache struct {
	records []byte
}

// loadCache reads dir's hash cache; a missing or damaged file is an empty
// cache (it is rewritten whole on the next save).
func loadCache(dir string) *diskCache {
	if dir == "" {
		return &diskCache{}
	}
	b, err := os.ReadFile(filepath.Join(dir, cacheFile))
	if err != nil || !validCache(b) {
		return &diskCache{}
	}
	return &diskCache{records: b[len(cacheMagic):]}
}

func validCache(b []byte) bool {
	return len(b) >= len(cacheMagic) && string(b[:len(cacheMagic)]) == cacheMagic && (len(b)-len(cacheMagic))%recordSize == 0
}

func (d *diskCache) len() int { return len(d.records) / recordSize }

func (d *diskCache) record(i int) []byte { return d.records[i*recordSize : (i+1)*recordSize] }

// lookup returns the id cached for k and when it was last used.
func (d *diskCache) lookup(k fileKey) (ID, uint32, bool) {
	kb := k.bytes()
	lo := sort.Search(d.len(), func(i int) bool { return bytes.Compare(d.record(i)[:keySize], kb) >= 0 })
	if lo == d.len() || !bytes.Equal(d.record(lo)[:keySize], kb) {
		return ID{}, 0, false
	}
	r := d.record(lo)
	var id ID
	copy(id[:], r[keySize+4:])
	return id, binary.BigEndian.Uint32(r[keySize:]), true
}

// record is one decoded cache record.
type record struct {
	key  []byte
	used uint32
	id   ID
}

func encodeRecord(k fileKey, used uint32, id ID) record {
	return record{key: k.bytes(), used: used, id: id}
}

// saveCache merges add (new ids) and touch (hits whose last-used time moves
// to now) into dir's cache under its lock: it re-reads the file another job
// may have written meanwhile, keeps at most MaxEntries of the most recently
// used, and replaces the file atomically (a unique temporary name, 0600, in
// a 0700 directory).
func saveCache(ctx context.Context, dir string, add []record, touch map[string]bool, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("hash cache %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("hash cache %s: %w", dir, err)
	}
	lock := flock.New(filepath.Join(dir, lockFile))
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if ok, err := lock.TryLockContext(lctx, 20*time.Millisecond); err != nil || !ok {
		return fmt.Errorf("hash cache %s: lock: %w", dir, errors.Join(err, lctx.Err()))
	}
	defer lock.Unlock()
	merged := mergeRecords(loadCache(dir), add, touch, uint32(now.Unix()))
	return writeCache(dir, merged)
}

// mergeRecords is the cache's records plus add, touched ones stamped now,
// one per key (the most recently used), the oldest dropped beyond MaxEntries.
func mergeRecords(d *diskCache, add []record, touch map[string]bool, now uint32) []record {
	all := make([]record, 0, d.len()+len(add))
	for i := range d.len() {
		r := d.record(i)
		rec := record{key: r[:keySize], used: binary.BigEndian.Uint32(r[keySize:])}
		copy(rec.id[:], r[keySize+4:])
		if touch[string(rec.key)] {
			rec.used = now
		}
		all = append(all, rec)
	}
	all = append(all, add...)
	byKey := func(a, b record) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		return -cmp.Compare(a.used, b.used) // the most recent first
	}
	slices.SortStableFunc(all, byKey)
	all = slices.CompactFunc(all, func(a, b record) bool { return bytes.Equal(a.key, b.key) })
	if len(all) > MaxEntries {
		slices.SortStableFunc(all, func(a, b record) int { return -cmp.Compare(a.used, b.used) })
		all = all[:MaxEntries]
		slices.SortFunc(all, byKey)
	}
	return all
}

func writeCache(dir string, recs []record) error {
	buf := make([]byte, 0, len(cacheMagic)+len(recs)*recordSize)
	buf = append(buf, cacheMagic...)
	for _, r := range recs {
		buf = append(buf, r.key...)
		buf = binary.BigEndian.AppendUint32(buf, r.used)
		buf = append(buf, r.id[:]...)
	}
	return writeAtomically(filepath.Join(dir, cacheFile), buf)
}

// writeAtomically replaces path with b, mode 0600 (atomicfile: a uniquely
// named temporary file beside it, synced, renamed over it).
func writeAtomically(path string, b []byte) error {
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("hash cache: %w", err)
	}
	return nil
}

// isNotExist reports a missing file or directory.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// newFileStat is statOf's result (linux and darwin).
func newFileStat(dev, ino uint64, size int64, mtime, ctime syscall.Timespec, uid, gid uint32) fileStat {
	return fileStat{
		key: fileKey{Dev: dev, Ino: ino, Size: size, MTime: mtime.Nano(), CTime: ctime.Nano()},
		uid: uid, gid: gid,
	}
}
