package contextsync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/insights"
)

// Stats are what a build's sync walked and sent: the files the daemon's
// walk included (after .dockerignore) against the files it asked for
// because they were new or changed, and where the content ids came from.
type Stats struct {
	Mode      Mode   `json:"mode"`
	Files     int64  `json:"files"`      // regular files the daemon's walk included
	Bytes     int64  `json:"bytes"`      // their size
	SentFiles int64  `json:"sent_files"` // files the daemon read: new or changed
	SentBytes int64  `json:"sent_bytes"`
	Hashed    int64  `json:"hashed"`  // ids computed by reading the file
	Cached    int64  `json:"cached"`  // ids from the agent's hash cache
	Git       int64  `json:"git_ids"` // ids from git's index (clean files)
	Uploads   int    `json:"uploads"` // syncs added up: one per daemon a split build used
	Warning   string `json:"warning,omitempty"`
}

// Add adds o's counts to s (the parts of a split build).
func (s *Stats) Add(o Stats) {
	if s.Mode == "" {
		s.Mode = o.Mode
	}
	s.Files += o.Files
	s.Bytes += o.Bytes
	s.SentFiles += o.SentFiles
	s.SentBytes += o.SentBytes
	s.Hashed += o.Hashed
	s.Cached += o.Cached
	s.Git += o.Git
	s.Uploads += o.Uploads
	if s.Warning == "" {
		s.Warning = o.Warning
	}
}

// String is the one-line summary: "sent 3 files, 41.0 KiB of 5,000 files,
// 50.0 MiB (ids: 3 hashed, 4,997 cached)".
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %s, %s of %s, %s", files(s.SentFiles), insights.FormatBytes(s.SentBytes), files(s.Files), insights.FormatBytes(s.Bytes))
	if s.Uploads > 1 {
		fmt.Fprintf(&b, " in %d uploads", s.Uploads)
	}
	if s.Mode == MTime {
		b.WriteString(" (context-sync: mtime)")
		return b.String()
	}
	var ids []string
	for _, p := range []struct {
		n    int64
		what string
	}{{s.Hashed, "hashed"}, {s.Cached, "cached"}, {s.Git, "from git"}} {
		if p.n > 0 {
			ids = append(ids, Thousands(p.n)+" "+p.what)
		}
	}
	if len(ids) > 0 {
		fmt.Fprintf(&b, " (ids: %s)", strings.Join(ids, ", "))
	}
	return b.String()
}

func files(n int64) string {
	if n == 1 {
		return "1 file"
	}
	return Thousands(n) + " files"
}

// Thousands writes n with thousands separators: 5,000.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// LastSync is the last finished sync under a session key.
type LastSync struct {
	Key   string    `json:"key"`
	Time  time.Time `json:"time"`
	Stats Stats     `json:"stats"`
}

// lastDir holds one small file per session key; lastKeep bounds them.
const (
	lastDir  = "last"
	lastKeep = 256
)

func lastPath(dir, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, lastDir, hex.EncodeToString(sum[:16])+".json")
}

// writeLast records stats as the last sync of key, keeping the newest
// lastKeep keys.
func writeLast(dir, key string, s Stats, now time.Time) error {
	d := filepath.Join(dir, lastDir)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("hash cache %s: %w", d, err)
	}
	b, err := json.Marshal(LastSync{Key: key, Time: now.UTC(), Stats: s})
	if err != nil {
		return err
	}
	if err := writeAtomically(lastPath(dir, key), b); err != nil {
		return err
	}
	pruneLast(d)
	return nil
}

// pruneLast removes the oldest records beyond lastKeep.
func pruneLast(d string) {
	entries, err := os.ReadDir(d)
	if err != nil || len(entries) <= lastKeep {
		return
	}
	type aged struct {
		name string
		t    time.Time
	}
	var all []aged
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".json") {
			all = append(all, aged{e.Name(), fi.ModTime()})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return b.t.Compare(a.t) })
	for _, a := range all[min(lastKeep, len(all)):] {
		os.Remove(filepath.Join(d, a.name))
	}
}

// ReadLast returns the last sync recorded under key; nil when there is none.
func ReadLast(dir, key string) (*LastSync, error) {
	if dir == "" || key == "" {
		return nil, nil
	}
	b, err := os.ReadFile(lastPath(dir, key))
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l LastSync
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", lastPath(dir, key), err)
	}
	return &l, nil
}
