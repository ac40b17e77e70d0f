package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/buildkit/util/gitutil"
	"github.com/moby/buildkit/util/urlutil"

	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
)

// Build arguments the plugin sets itself unless build-args does.
const (
	sourceDateEpochArg = "SOURCE_DATE_EPOCH"       // buildx and buildctl pass it on from the environment
	cacheMountNSArg    = "BUILDKIT_CACHE_MOUNT_NS" // the dockerfile frontend prefixes cache mount ids with it
)

// daemonSide reads git-context, reproducible and cache-mounts: what the
// daemon fetches, stamps and keeps apart. It runs after sources (build-args,
// context, dockerfile) and ssh, which git-context may add to.
func (v *validator) daemonSide(r *raw, c *Config) {
	c.Reproducible = r.Reproducible
	c.CacheMountNS = v.cacheMountNS(r.CacheMounts, c.BuildArgs)
	_, epochArg := c.BuildArgs[sourceDateEpochArg]
	if !epochArg {
		// As buildx and buildctl: the job's SOURCE_DATE_EPOCH, unless build-args sets it.
		c.SourceDateEpoch = v.env.Get(sourceDateEpochArg)
	}
	commitTime := r.Reproducible && !epochArg && c.SourceDateEpoch == ""
	if !r.GitContext.On && !commitTime {
		return
	}
	repo := v.checkout(r.GitContext.On)
	if repo == nil {
		return
	}
	if r.GitContext.On {
		c.GitContext = v.gitContext(r.GitContext, c, repo)
	}
	if commitTime {
		t, err := repo.CommitTime(repo.commit)
		if err != nil {
			v.addf("reproducible", "cannot read the time of commit %s: %v: set SOURCE_DATE_EPOCH in the job's environment or build-args", repo.commit, err)
			return
		}
		c.SourceDateEpoch = fmt.Sprint(t)
	}
}

// cacheMountNS is the cache mount namespace of cache-mounts: pipeline (the
// default) — the organization and pipeline, and /pull-request for builds of
// a pull request — or "" when shared. Only cache-mounts: shared lets
// build-args (or a bake target's args) name the namespace themselves.
func (v *validator) cacheMountNS(mode string, args map[string]string) string {
	if mode == "shared" {
		return ""
	}
	if _, set := args[cacheMountNSArg]; set {
		v.addf("build-args", "%s replaces the per-pipeline cache-mount namespace (a checkout could share or read another pipeline's RUN --mount=type=cache mounts): remove it, or set cache-mounts: shared in the step to let build arguments choose it", cacheMountNSArg)
		return ""
	}
	org, pipeline := v.env.Get("BUILDKITE_ORGANIZATION_SLUG"), v.env.Get("BUILDKITE_PIPELINE_SLUG")
	if pipeline == "" {
		return "" // not in a Buildkite job: nothing to keep apart
	}
	ns := pipeline
	if org != "" {
		ns = org + "/" + pipeline
	}
	if trustDomain(v.env) == TrustPullRequest {
		ns += "/" + TrustPullRequest // a pipeline slug has no "/": no other pipeline's namespace
	}
	return ns
}

// checkout is the job's git checkout and the commit being built.
type checkout struct {
	gitcontext.Repo
	commit string // full id
}

// checkout opens the job's work tree and resolves BUILDKITE_COMMIT in it
// (HEAD when unset, unless git-context needs it); nil after a problem, or
// in the environment phase, which runs before the checkout.
func (v *validator) checkout(gitContext bool) *checkout {
	if !v.files {
		return nil
	}
	key := "reproducible"
	if gitContext {
		key = "git-context"
	}
	rev := v.env.Get("BUILDKITE_COMMIT")
	if rev == "" && gitContext {
		v.addf(key, "BUILDKITE_COMMIT is not set: the daemon fetches $BUILDKITE_REPO at that commit (git-context works in a Buildkite job; elsewhere set BUILDKITE_REPO and BUILDKITE_COMMIT)")
		return nil
	}
	if rev == "" {
		rev = "HEAD"
	}
	fix := "set SOURCE_DATE_EPOCH in the job's environment, or build in the job's git checkout"
	if gitContext {
		fix = "git-context reads the Dockerfile's path and .dockerignore from the job's checkout: run the step after the checkout"
	}
	repo, err := gitcontext.Open(v.workDir)
	if err != nil {
		v.addf(key, "%v: %s", err, fix)
		return nil
	}
	commit, err := repo.Commit(rev)
	if err != nil {
		v.addf(key, "BUILDKITE_COMMIT: %v: %s", err, fix)
		return nil
	}
	return &checkout{Repo: repo, commit: commit}
}

// gitContext checks that the daemon can fetch the build's sources from the
// job's repository, and finds them in the commit.
func (v *validator) gitContext(opt gitContextOption, c *Config, repo *checkout) *GitContext {
	remote := v.env.Get("BUILDKITE_REPO")
	scheme, err := gitcontext.Fetchable(remote)
	if err != nil {
		v.addf("git-context", "%v", err)
		return nil
	}
	g := &GitContext{Remote: remote, Commit: repo.commit, Root: repo.Root}
	var ok bool
	if g.Subdir, ok = v.inCommit("context", repo, c.ContextDir, "tree"); !ok {
		return nil
	}
	if g.Dockerfile, ok = v.inCommit("dockerfile", repo, c.Dockerfile, "blob"); !ok {
		return nil
	}
	if g.Excludes, err = repo.DockerIgnore(g.Commit, g.Dockerfile, g.Subdir); err != nil {
		v.addf("git-context", "%v", err)
		return nil
	}
	switch scheme {
	case gitutil.SSHProtocol:
		if !slices.ContainsFunc(c.SSH, func(s SSH) bool { return s.ID == "default" }) {
			sock := v.env.Get("SSH_AUTH_SOCK")
			if sock == "" {
				v.addf("git-context", "BUILDKITE_REPO %s is an ssh URL: the daemon fetches it through the job's ssh-agent, but SSH_AUTH_SOCK is not set: start an ssh-agent holding the repository's key in the job (the Elastic CI Stack does), or use an https URL with a token", urlutil.RedactCredentials(remote))
				return nil
			}
			c.SSH = append(c.SSH, SSH{ID: "default", Paths: []string{sock}})
		}
	case gitutil.HTTPSProtocol, gitutil.HTTPProtocol:
		if !v.gitToken(opt.TokenEnv, g, c) {
			return nil
		}
	}
	return g
}

// gitToken passes an https repository's token to the daemon: the job's
// variable token-env (default GIT_AUTH_TOKEN, when set) becomes the session
// secret the git source reads for the repository's host only.
func (v *validator) gitToken(tokenEnv string, g *GitContext, c *Config) bool {
	if tokenEnv == "" {
		if _, ok := v.env("GIT_AUTH_TOKEN"); !ok {
			return true // a public repository
		}
		tokenEnv = "GIT_AUTH_TOKEN"
	} else if _, ok := v.env(tokenEnv); !ok {
		v.addf("git-context.token-env", "%s is not set in the job's environment: export the repository token in it (e.g. from the agent's secrets), or drop token-env for a public repository", tokenEnv)
		return false
	}
	u, err := url.Parse(g.Remote)
	if err != nil {
		v.addf("git-context", "BUILDKITE_REPO %s is not a URL: %v", urlutil.RedactCredentials(g.Remote), err)
		return false
	}
	g.TokenEnv = tokenEnv
	id := gitcontext.TokenSecret(u.Host)
	if !slices.ContainsFunc(c.Secrets, func(s Secret) bool { return s.ID == id }) {
		c.Secrets = append(c.Secrets, Secret{ID: id, Env: tokenEnv})
	}
	return true
}

// inCommit is p's path inside the checkout (slash-separated, "" for its
// root), checked to be a kind (tree or blob) in the commit.
func (v *validator) inCommit(key string, repo *checkout, p, kind string) (string, bool) {
	rel, err := filepath.Rel(realPath(repo.Root), realPath(p))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		v.addf(key, "%s is outside the checkout %s: with git-context the daemon fetches only the repository, so %s must be inside it (or drop git-context)", p, repo.Root, key)
		return "", false
	}
	rel = filepath.ToSlash(rel)
	if rel == "." {
		rel = ""
	}
	got, err := repo.Kind(repo.commit, rel)
	if err != nil {
		v.addf(key, "git-context: %v", err)
		return "", false
	}
	if got != kind {
		what := map[string]string{"tree": "a directory", "blob": "a file"}[kind]
		v.addf(key, "%s is not %s in commit %s, which the daemon builds with git-context: commit it (files changed or generated in this job are not in a git context), or drop git-context to upload the checkout", p, what, repo.commit)
		return "", false
	}
	return rel, true
}

// realPath is p with the symbolic links of its directories resolved, as
// git names the work tree (the job's path may run through a link); p's last
// element stays, which the commit may hold as a link itself.
func realPath(p string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return p
	}
	return filepath.Join(dir, filepath.Base(p))
}
