package diagnose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextkey"
	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
	"github.com/remote-buildkit/remote-buildkit/internal/insights"
)

// checkContext walks the build context as a build would (its .dockerignore
// applied) and says how big it is, how many of its files' content ids are
// known without reading them (the agent's hash cache, git's index), and
// what the last build of this pipeline on this agent sent.
func (r *Runner) checkContext(ctx context.Context, s *state) Check {
	cfg := s.cfg
	if cfg == nil || r.ConfigErr != nil {
		return skip("configuration invalid")
	}
	if fi, err := os.Stat(cfg.ContextDir); err != nil || !fi.IsDir() {
		return skip("context directory %s does not exist (yet)", cfg.ContextDir)
	}
	key, err := contextkey.ForConfig(ctx, cfg, r.Env, r.LookPath)
	if err != nil {
		return fail("context state: "+oneLine(err), "fix the option or file named (context-key, or the client key in tls-dir)")
	}
	ignore := []string{cfg.Dockerfile + ".dockerignore", filepath.Join(cfg.ContextDir, ".dockerignore")}
	in, err := contextsync.Inspect(ctx, cfg.ContextDir, ignore, contextsync.Options{CacheDir: cfg.ContextSync.CacheDir, Key: key.SessionKey(cfg.ContextScope), UserAttributes: cfg.ContextSync.GitAttributes})
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return warn(fmt.Sprintf("walking %s took longer than the check's time limit", cfg.ContextDir),
			"a context this large is slow for every build: narrow it with .dockerignore or a smaller context directory")
	}
	if err != nil {
		return warn("cannot walk the context: "+oneLine(err), "fix the file named, or its .dockerignore")
	}
	found := fmt.Sprintf("%s: %s files, %s", cfg.ContextDir, contextsync.Thousands(in.Files), insights.FormatBytes(in.Bytes))
	if in.Ignore != "" {
		found += " after " + filepath.Base(in.Ignore)
	}
	switch {
	case cfg.ContextSync.Mode == string(contextsync.MTime):
		found += "; context-sync: mtime (a fresh clone sends every file)"
	case key == nil:
		return warn(found+"; no client key (no TLS) and no context-key: builds send real mtimes, as context-sync: mtime (a fresh clone sends every file)",
			"give the daemon client certificates (tls-dir, secrets-bucket) or set context-key, or set context-sync: mtime to say so")
	default:
		found += fmt.Sprintf("; content ids known: %s in the hash cache, %s from git, %s to hash",
			contextsync.Thousands(in.Cached), contextsync.Thousands(in.Git), contextsync.Thousands(in.Files-in.Cached-in.Git))
	}
	if key != nil && cfg.ContextSync.Mode != string(contextsync.MTime) {
		found += "; " + trustNote(key, cfg.ContextScope)
	}
	if in.Last != nil {
		found += fmt.Sprintf("; the last build of this pipeline here (%s) %s", in.Last.Time.Format("2006-01-02 15:04 MST"), in.Last.Stats)
	} else {
		found += "; no earlier build of this pipeline on this agent"
	}
	if in.Ignore == "" && hasDir(cfg.ContextDir, ".git") {
		return warn(found+"; the context includes .git and has no .dockerignore",
			"add a .dockerignore with .git (and build outputs) to the context: they are walked and compared on every build")
	}
	return pass("%s", found)
}

// trustNote says exactly what keying the context state buys.
func trustNote(key *contextkey.Key, s config.ContextScope) string {
	return fmt.Sprintf("context state (session key, content-derived mtimes) keyed by %s for %s builds of %s: "+
		"a client of the daemon without this key can neither name it nor plant files these builds would use unsent; "+
		"any job holding the key can, so content sync is as strong as the key's distribution "+
		"(per-pipeline certificate sets, a branch-limited context-key secret, or a separate stack and CA for pull requests; "+
		"otherwise context-sync: mtime)", key.Origin, s.Domain, path.Join(s.Org, s.Pipeline))
}

func hasDir(dir, name string) bool {
	fi, err := os.Stat(filepath.Join(dir, name))
	return err == nil && fi.IsDir()
}
