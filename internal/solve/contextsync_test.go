package solve

import (
	"context"
	gofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/fsutil/types"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextkey"
	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
)

// Without a context key (no TLS, no context-key) content mode is off: the
// files keep their real mtimes, which nobody can predict.
func TestPlanWithoutContextKey(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	img := config.Image{ContextSync: config.ContextSync{Mode: "content"}, ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile")}
	p, err := NewRequest(img).Plan(auth())
	if err != nil {
		t.Fatal(err)
	}
	if st := p.sync.Finish(context.Background()); st.Mode != contextsync.MTime {
		t.Errorf("without a key the sync is in %s mode, want mtime", st.Mode)
	}
}

// Every local mount goes through the plan's sync: the session's filter
// option gives each mount's files their content-derived mtimes (content) or
// leaves them (mtime), and Finish counts them.
func TestPlanSyncsLocalMounts(t *testing.T) {
	for _, mode := range []string{"content", "mtime"} {
		t.Run(mode, func(t *testing.T) {
			dir, extra := t.TempDir(), t.TempDir()
			os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
			os.WriteFile(filepath.Join(extra, "x"), []byte("extra\n"), 0o644)
			c := &config.Config{
				Image: config.Image{ContextSync: config.ContextSync{Mode: mode}, ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"), BuildContexts: map[string]string{"assets": extra}},
			}
			key, err := contextkey.FromSecret([]byte("test"), "a test secret")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewRequest(c.Image).WithContextKey(key).Plan(auth())
			if err != nil {
				t.Fatal(err)
			}
			if p.Opt.LocalFilterOpt == nil {
				t.Fatal("no LocalFilterOpt: the mounts are not synced by content")
			}
			opt := &fsutil.FilterOpt{}
			if err := p.Opt.LocalFilterOpt("ctx-assets", opt); err != nil {
				t.Fatal(err)
			}
			fs, err := fsutil.NewFilterFS(p.Opt.LocalMounts["ctx-assets"], opt)
			if err != nil {
				t.Fatal(err)
			}
			var mtime int64
			fs.Walk(context.Background(), "/", func(p string, d gofs.DirEntry, _ error) error {
				fi, _ := d.Info()
				if p == "x" {
					mtime = fi.Sys().(*types.Stat).ModTime
				}
				return nil
			})
			fi, _ := os.Stat(filepath.Join(extra, "x"))
			want := fi.ModTime().UnixNano()
			if mode == "content" {
				want = key.StatKey().ModTime(contextsync.BlobID([]byte("extra\n")))
			}
			if mtime != want {
				t.Errorf("x is sent with mtime %d, want %d", mtime, want)
			}
			if p.Opt.SharedKey != key.SessionKey(c.ContextScope) || !strings.HasPrefix(p.Opt.SharedKey, "remote-buildkit:") {
				t.Errorf("shared key %q", p.Opt.SharedKey)
			}
			if st := p.sync.Finish(context.Background()); st.Files != 1 || st.Bytes != 6 || string(st.Mode) != mode {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestSumContext(t *testing.T) {
	if SumContext([]*Solved{{}}) != nil {
		t.Error("a solve without a sync (a call) gave stats")
	}
	one := contextsync.Stats{Mode: contextsync.Content, Files: 10, Bytes: 100, SentFiles: 1, SentBytes: 10, Hashed: 1, Cached: 9, Uploads: 1}
	got := SumContext([]*Solved{{Context: one}, {Context: one}})
	if got == nil || got.Files != 20 || got.SentBytes != 20 || got.Cached != 18 || got.Uploads != 2 {
		t.Errorf("sum of two uploads: %+v", got)
	}
}
