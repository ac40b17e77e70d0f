package diagnose

import (
	"context"
	gofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/tonistiigi/fsutil"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextkey"
	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
)

// lastBuild runs one content-addressed sync of dir as a build of key would,
// so the hash cache and the last sync are on disk.
func lastBuild(t *testing.T, dir, cacheDir, keyFile string, scope config.ContextScope) contextsync.Stats {
	t.Helper()
	k, err := contextkey.FromKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := contextsync.NewSession(contextsync.Options{Mode: contextsync.Content, CacheDir: cacheDir, Key: k.SessionKey(scope), StatKey: k.StatKey()})
	fs, err := s.Mount(contextsync.Dir{Name: "context", Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	opt := &fsutil.FilterOpt{ExcludePatterns: []string{"ignored"}}
	if err := s.FilterOpt("context", opt); err != nil {
		t.Fatal(err)
	}
	walk, err := fsutil.NewFilterFS(fs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := walk.Walk(context.Background(), "/", func(string, gofs.DirEntry, error) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return s.Finish(context.Background())
}

func TestCheckContext(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"Dockerfile": "FROM scratch\n", "a": "aaaa", ".dockerignore": "ignored\n", "ignored": "xx"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache := filepath.Join(t.TempDir(), "hashes")
	tlsDir := t.TempDir()
	keyFile := filepath.Join(tlsDir, config.KeyFile)
	os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	scope := config.ContextScope{Org: "acme", Pipeline: "web", Domain: config.TrustBranch, Dir: "."}
	cfg := &config.Config{
		Nodes: []config.Node{{TLSDir: tlsDir}},
		Image: config.Image{ContextSync: config.ContextSync{Mode: "content", CacheDir: cache}, ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"), ContextScope: scope},
	}
	r := testRunner()
	want(t, r.checkContext(context.Background(), &state{cfg: cfg}), Pass,
		"3 files, 25 B after .dockerignore; content ids known: 0 in the hash cache, 0 from git, 3 to hash; context state (session key, content-derived mtimes) keyed by the client certificate's key "+keyFile+" for branch builds of acme/web: ", "")
	want(t, r.checkContext(context.Background(), &state{cfg: cfg}), Pass, "any job holding the key can, so content sync is as strong as the key's distribution", "")

	noKey := *cfg
	noKey.Nodes = []config.Node{{TLSDir: t.TempDir()}}
	want(t, r.checkContext(context.Background(), &state{cfg: &noKey}), Warn, "no client key (no TLS) and no context-key: builds send real mtimes", "set context-key")
	badKey := noKey
	badKey.ContextKey = config.ContextKey{Env: "NO_SUCH_VAR"}
	want(t, r.checkContext(context.Background(), &state{cfg: &badKey}), Fail, "context-key.env: NO_SUCH_VAR is not set", "")

	last := lastBuild(t, dir, cache, keyFile, scope)
	want(t, r.checkContext(context.Background(), &state{cfg: cfg}), Pass, "the last build of this pipeline here", "")
	want(t, r.checkContext(context.Background(), &state{cfg: cfg}), Pass, last.String(), "")

	mtime := *cfg
	mtime.ContextSync.Mode = "mtime"
	want(t, r.checkContext(context.Background(), &state{cfg: &mtime}), Pass, "context-sync: mtime", "")

	os.Remove(filepath.Join(dir, ".dockerignore"))
	os.Mkdir(filepath.Join(dir, ".git"), 0o755)
	want(t, r.checkContext(context.Background(), &state{cfg: cfg}), Warn, "includes .git", "add a .dockerignore")

	gone := *cfg
	gone.ContextDir = filepath.Join(dir, "nope")
	want(t, r.checkContext(context.Background(), &state{cfg: &gone}), Skip, "does not exist", "")
	bad := testRunner()
	bad.ConfigErr = os.ErrInvalid
	want(t, bad.checkContext(context.Background(), &state{cfg: cfg}), Skip, "configuration invalid", "")
}
