package contextsync

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// gitIndex is the part of a git work tree's index under one directory: for
// each regular file, the stat git recorded when it last wrote the file and
// the file's blob id.
type gitIndex struct {
	top        string              // the work tree's top level
	entries    map[string]gitEntry // by path relative to the directory, slash-separated
	indexMTime int64               // the index file's mtime (Unix ns): entries not older are "racily clean"
	attributes bool                // some attribute may apply: check filter and working-tree-encoding per file
}

// gitEntry is one index entry's stat data (git keeps 32 bits of each) and id.
type gitEntry struct {
	ctimeS, ctimeN, mtimeS, mtimeN uint32
	dev, ino, uid, gid, size       uint32
	id                             ID
}

// errNotGit: the directory is not in a usable git work tree (none, a
// SHA-256 repository, a split index).
var errNotGit = errors.New("no usable git index")

const gitTimeout = 30 * time.Second

// loadGit reads the index of the git work tree dir is in, keeping the
// entries under dir. Only SHA-1 repositories: their blob ids are the ids
// this package computes.
func loadGit(ctx context.Context, dir, userAttrs string) (*gitIndex, error) {
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	out, err := gitCmd(ctx, dir, nil, "rev-parse", "--show-object-format", "--show-toplevel", "--git-path", "index")
	if err != nil {
		return nil, errNotGit
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || lines[0] != "sha1" {
		return nil, errNotGit
	}
	top, indexPath := lines[1], lines[2]
	if !filepath.IsAbs(indexPath) {
		indexPath = filepath.Join(dir, indexPath)
	}
	if top, err = filepath.EvalSymlinks(top); err != nil {
		return nil, errNotGit
	}
	rel, err := filepath.Rel(top, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, errNotGit
	}
	fi, err := os.Stat(indexPath)
	if err != nil {
		return nil, errNotGit
	}
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, errNotGit
	}
	entries, attrFiles, err := parseIndex(data, filepath.ToSlash(rel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", indexPath, err)
	}
	g := &gitIndex{top: top, entries: entries, indexMTime: fi.ModTime().UnixNano()}
	g.attributes = attrFiles || attributesElsewhere(ctx, dir, filepath.Dir(indexPath), userAttrs)
	return g, nil
}

// attributesElsewhere reports whether attributes may come from outside the
// work tree: the repository's info/attributes, core.attributesFile, the
// user's (userAttrs, see Options.UserAttributes) and the system's
// attributes files.
func attributesElsewhere(ctx context.Context, dir, gitDir, userAttrs string) bool {
	if cfg, _ := gitCmd(ctx, dir, nil, "config", "--get", "core.attributesFile"); len(bytes.TrimSpace(cfg)) > 0 {
		return true
	}
	for _, p := range []string{filepath.Join(gitDir, "info", "attributes"), userAttrs, "/etc/gitattributes"} {
		if _, err := os.Stat(p); p != "" && err == nil {
			return true
		}
	}
	return false
}

func gitCmd(ctx context.Context, dir string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	// Never fetch a missing object of a partial clone.
	cmd.Env = append(os.Environ(), "GIT_NO_LAZY_FETCH=1", "GIT_TERMINAL_PROMPT=0")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return cmd.Output()
}

// clean returns the blob id of the file at rel (slash-separated, relative to
// the directory) when the file is as git last wrote it: every stat field git
// recorded matches, and the entry is not racily clean (the file is older
// than the index). Its blob's size is checked later (sizes).
func (g *gitIndex) clean(rel string, st fileStat) (ID, bool) {
	e, ok := g.entries[rel]
	if !ok {
		return ID{}, false
	}
	k := st.key
	ctS, ctN := uint32(k.CTime/1e9), uint32(k.CTime%1e9)
	mtS, mtN := uint32(k.MTime/1e9), uint32(k.MTime%1e9)
	if e.ctimeS != ctS || e.mtimeS != mtS || e.dev != uint32(k.Dev) || e.ino != uint32(k.Ino) ||
		e.uid != st.uid || e.gid != st.gid || e.size != uint32(k.Size) {
		return ID{}, false
	}
	// A git built without nanosecond stat data records 0: compare seconds.
	nsec := e.ctimeN != 0 || e.mtimeN != 0
	if nsec && (e.ctimeN != ctN || e.mtimeN != mtN) {
		return ID{}, false
	}
	entryM := int64(e.mtimeS) * 1e9
	index := g.indexMTime
	if nsec {
		entryM += int64(e.mtimeN)
	} else {
		index -= index % 1e9
	}
	if entryM >= index {
		return ID{}, false // racily clean: it may have changed within the same clock tick
	}
	return e.id, true
}

// sizes asks git for the size of each blob: a blob whose size differs from
// the work tree file's went through a filter (LFS, line endings, ident), so
// its id is not the file's.
func (g *gitIndex) sizes(ctx context.Context, ids []ID) (map[ID]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	var in bytes.Buffer
	for _, id := range ids {
		in.WriteString(id.String())
		in.WriteByte('\n')
	}
	out, err := gitCmd(ctx, g.top, in.Bytes(), "cat-file", "--batch-check=%(objectname) %(objectsize)")
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	sizes := map[ID]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		b, herr := hex.DecodeString(f[0])
		if err != nil || herr != nil || len(b) != len(ID{}) {
			continue // "<id> missing"
		}
		sizes[ID(b)] = n
	}
	return sizes, sc.Err()
}

// Index entry flags.
const (
	flagExtended     = 0x4000
	flagStageMask    = 0x3000
	flagValid        = 0x8000 // assume-unchanged
	extSkipWorktree  = 0x4000
	extIntentToAdd   = 0x2000
	modeTypeMask     = 0o170000
	modeRegular      = 0o100000
	indexEntryFixed  = 62 // stat data, mode, ids, size, oid, flags
	indexHeaderBytes = 12
)

// parseIndex reads a git index (versions 2, 3 and 4) and returns its
// stage-0 regular-file entries under prefix ("." for all), keyed by path
// relative to prefix, and whether the index holds any .gitattributes. Entries git does not keep in step with the work tree
// (assume-unchanged, skip-worktree, intent-to-add) are left out, and a split
// index (whose entries live in another file) is refused.
func parseIndex(data []byte, prefix string) (map[string]gitEntry, bool, error) {
	if len(data) < indexHeaderBytes || string(data[:4]) != "DIRC" {
		return nil, false, errors.New("not a git index")
	}
	version := binary.BigEndian.Uint32(data[4:])
	if version < 2 || version > 4 {
		return nil, false, fmt.Errorf("git index version %d", version)
	}
	count := binary.BigEndian.Uint32(data[8:])
	r := &indexReader{data: data, pos: indexHeaderBytes, v4: version == 4}
	out := map[string]gitEntry{}
	dirPrefix := ""
	if prefix != "." && prefix != "" {
		dirPrefix = prefix + "/"
	}
	attrs := false
	for range count {
		e, path, keep, err := r.entry()
		if err != nil {
			return nil, false, err
		}
		if rel, ok := strings.CutPrefix(path, dirPrefix); keep && ok {
			out[rel] = e
		}
		attrs = attrs || path == ".gitattributes" || strings.HasSuffix(path, "/.gitattributes")
	}
	if r.hasExtension("link") {
		return nil, false, errors.New("split index")
	}
	return out, attrs, nil
}

type indexReader struct {
	data []byte
	pos  int
	v4   bool
	prev string // v4: the previous path, which the next one shares a prefix with
}

var errShortIndex = errors.New("git index: truncated")

// entry reads one entry: its stat data and id, its path, and whether it is a
// stage-0 regular file git keeps in step with the work tree.
func (r *indexReader) entry() (gitEntry, string, bool, error) {
	start := r.pos
	if r.pos+indexEntryFixed > len(r.data) {
		return gitEntry{}, "", false, errShortIndex
	}
	b := r.data[r.pos:]
	u := func(i int) uint32 { return binary.BigEndian.Uint32(b[i*4:]) }
	e := gitEntry{ctimeS: u(0), ctimeN: u(1), mtimeS: u(2), mtimeN: u(3), dev: u(4), ino: u(5), uid: u(7), gid: u(8), size: u(9)}
	mode := u(6)
	copy(e.id[:], b[40:60])
	flags := binary.BigEndian.Uint16(b[60:])
	r.pos += indexEntryFixed
	var ext uint16
	if flags&flagExtended != 0 {
		if r.pos+2 > len(r.data) {
			return gitEntry{}, "", false, errShortIndex
		}
		ext = binary.BigEndian.Uint16(r.data[r.pos:])
		r.pos += 2
	}
	path, err := r.path(start)
	if err != nil {
		return gitEntry{}, "", false, err
	}
	keep := mode&modeTypeMask == modeRegular && flags&(flagStageMask|flagValid) == 0 && ext&(extSkipWorktree|extIntentToAdd) == 0
	return e, path, keep, nil
}

// path reads an entry's path: NUL-terminated and padded to 8 bytes (v2, v3)
// or prefix-compressed against the previous path (v4).
func (r *indexReader) path(start int) (string, error) {
	if r.v4 {
		strip, err := r.varint()
		if err != nil || strip > len(r.prev) {
			return "", errShortIndex
		}
		end := bytes.IndexByte(r.data[r.pos:], 0)
		if end < 0 {
			return "", errShortIndex
		}
		p := r.prev[:len(r.prev)-strip] + string(r.data[r.pos:r.pos+end])
		r.pos += end + 1
		r.prev = p
		return p, nil
	}
	end := bytes.IndexByte(r.data[r.pos:], 0)
	if end < 0 {
		return "", errShortIndex
	}
	p := string(r.data[r.pos : r.pos+end])
	// 1-8 NULs pad the entry to a multiple of eight bytes.
	r.pos = start + (r.pos-start+end+8)&^7
	if r.pos > len(r.data) {
		return "", errShortIndex
	}
	return p, nil
}

// varint is git's offset encoding (index v4 path prefixes).
func (r *indexReader) varint() (int, error) {
	if r.pos >= len(r.data) {
		return 0, errShortIndex
	}
	c := r.data[r.pos]
	r.pos++
	v := int(c & 127)
	for c&128 != 0 {
		if r.pos >= len(r.data) || v > 1<<24 {
			return 0, errShortIndex
		}
		c = r.data[r.pos]
		r.pos++
		v = ((v + 1) << 7) | int(c&127)
	}
	return v, nil
}

// hasExtension reports whether an extension with signature sig follows the
// entries (before the trailing checksum).
func (r *indexReader) hasExtension(sig string) bool {
	pos := r.pos
	for pos+8 <= len(r.data)-len(ID{}) {
		name := string(r.data[pos : pos+4])
		size := int(binary.BigEndian.Uint32(r.data[pos+4:]))
		if name == sig {
			return true
		}
		pos += 8 + size
	}
	return false
}

// filtered returns the paths (slash-separated, relative to dir) that a
// filter driver or a working-tree encoding applies to: their blobs may differ
// from the work tree files even where the sizes agree. Where no attributes
// file exists (in the index or outside the work tree) it asks nothing.
func (g *gitIndex) filtered(ctx context.Context, dir string, paths []string) (map[string]bool, error) {
	if !g.attributes {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	var in bytes.Buffer
	for _, p := range paths {
		in.WriteString(p)
		in.WriteByte(0)
	}
	out, err := gitCmd(ctx, dir, in.Bytes(), "check-attr", "-z", "--stdin", "filter", "working-tree-encoding")
	if err != nil {
		return nil, fmt.Errorf("git check-attr: %w", err)
	}
	fields := strings.Split(string(out), "\x00")
	res := map[string]bool{}
	for i := 0; i+2 < len(fields); i += 3 {
		if v := fields[i+2]; v != "unspecified" && v != "unset" {
			res[fields[i]] = true
		}
	}
	return res, nil
}
