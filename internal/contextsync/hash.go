package contextsync

import (
	"crypto/sha1" //nolint:gosec // git's blob id, not a security boundary (see docs/build-context.md)
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// ID is a file's content id: git's blob id, SHA-1 of "blob <size>\x00"
// followed by the content. A clean file of a git work tree has it in the
// index already; any other file is hashed, to the same value.
type ID [sha1.Size]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// BlobID is the id of content.
func BlobID(content []byte) ID {
	h := sha1.New() //nolint:gosec
	h.Write(blobHeader(int64(len(content))))
	h.Write(content)
	var id ID
	h.Sum(id[:0])
	return id
}

func blobHeader(size int64) []byte {
	return append(strconv.AppendInt([]byte("blob "), size, 10), 0)
}

// errChanged: the file's size changed while it was read.
var errChanged = errors.New("changed while it was hashed")

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// hashFile reads the size bytes its stat gave of the file at path (the
// header carries the size) and returns their id; a file that ends sooner
// changed meanwhile. It reads no further: the daemon is sent the same bytes.
func hashFile(path string, size int64) (ID, error) {
	f, err := openRaw(path)
	if err != nil {
		return ID{}, err
	}
	defer f.Close()
	h := sha1.New() //nolint:gosec
	h.Write(blobHeader(size))
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for left := size; left > 0; {
		n, err := f.Read(buf[:min(int64(len(buf)), left)])
		h.Write(buf[:n])
		left -= int64(n)
		if (errors.Is(err, io.EOF) || n == 0 && err == nil) && left > 0 {
			return ID{}, fmt.Errorf("%s: %w", path, errChanged)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return ID{}, fmt.Errorf("read %s: %w", path, err)
		}
	}
	var id ID
	h.Sum(id[:0])
	return id, nil
}

// epoch is 1980-01-01T00:00:00Z, the earliest time every archive format
// (zip, FAT, tar) stores: the base of derived mtimes.
const epoch = 315532800

// FixedModTime is the mtime (Unix nanoseconds) every directory and symlink
// is sent with: the daemon's diff does not compare directories' mtimes,
// symlinks are compared by target, and a constant keeps images the same.
const FixedModTime = int64(epoch) * 1e9

// ModTime is the mtime (Unix nanoseconds) a file with content id is sent
// with: 1980-01-01 plus the id's first 30 bits in seconds and its next 29
// bits in nanoseconds. That is 59 bits of the hash beside the size, always
// between 1980 and 2014 — never in the future, representable in every
// archive format — and the same on every agent for the same content.
func ModTime(id ID) int64 {
	v := binary.BigEndian.Uint64(id[:8])
	sec := int64(v >> 34)             // the first 30 bits
	nsec := int64(v>>5) & (1<<29 - 1) // the next 29 bits: < 1e9
	return (epoch+sec)*1e9 + nsec
}
