package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext/gitcontexttest"
)

// gitWorkDir is a job checkout: files (path → content) committed at
// committer time 1700000000; it returns the directory and the commit.
func gitWorkDir(t *testing.T, files map[string]string) (string, string) {
	return gitcontexttest.New(t, 1700000000, files)
}

// jobEnv is base with over applied: a value "" unsets the variable.
func jobEnv(base, over map[string]string) config.Env {
	env := map[string]string{}
	for _, m := range []map[string]string{base, over} {
		for k, v := range m {
			env[k] = v
			if v == "" {
				delete(env, k)
			}
		}
	}
	return envOf(env)
}

var gitFiles = map[string]string{
	"app/Dockerfile":                      "FROM scratch\n",
	"app/.dockerignore":                   "*.log\n",
	"docker/prod.Dockerfile":              "FROM scratch\n",
	"docker/prod.Dockerfile.dockerignore": "tmp\n!tmp/keep\n",
}

func TestParseGitContext(t *testing.T) {
	tests := []struct {
		name string
		js   string
		env  map[string]string
		want func(wd, commit string) *config.GitContext
		ssh  []config.SSH
		sec  []config.Secret
	}{
		{
			name: "ssh URL: the job's ssh-agent becomes the session's default",
			js:   `{"git-context": true, "context": "app"}`,
			env:  map[string]string{"BUILDKITE_REPO": "git@github.com:org/app.git", "SSH_AUTH_SOCK": "/tmp/agent.sock"},
			want: func(wd, commit string) *config.GitContext {
				return &config.GitContext{Remote: "git@github.com:org/app.git", Commit: commit, Subdir: "app", Dockerfile: "app/Dockerfile", Excludes: []string{"*.log"}, Root: wd}
			},
			ssh: []config.SSH{{ID: "default", Paths: []string{"/tmp/agent.sock"}}},
		},
		{
			name: "the step's own ssh default is kept",
			js:   `{"git-context": true, "context": "app", "ssh": "default"}`,
			env:  map[string]string{"BUILDKITE_REPO": "ssh://git@git.example:2222/org/app.git", "SSH_AUTH_SOCK": "/tmp/agent.sock"},
			want: func(wd, commit string) *config.GitContext {
				return &config.GitContext{Remote: "ssh://git@git.example:2222/org/app.git", Commit: commit, Subdir: "app", Dockerfile: "app/Dockerfile", Excludes: []string{"*.log"}, Root: wd}
			},
			ssh: []config.SSH{{ID: "default"}},
		},
		{
			name: "https with token-env; the Dockerfile's own ignore file wins; HEAD resolved",
			js:   `{"git-context": {"token-env": "REPO_TOKEN"}, "context": ".", "dockerfile": "docker/prod.Dockerfile"}`,
			env:  map[string]string{"BUILDKITE_REPO": "https://git.example:8443/org/app", "BUILDKITE_COMMIT": "HEAD", "REPO_TOKEN": "t0ken"},
			want: func(wd, commit string) *config.GitContext {
				return &config.GitContext{Remote: "https://git.example:8443/org/app", Commit: commit, Dockerfile: "docker/prod.Dockerfile", Excludes: []string{"tmp", "!tmp/keep"}, TokenEnv: "REPO_TOKEN", Root: wd}
			},
			sec: []config.Secret{{ID: "GIT_AUTH_TOKEN.git.example:8443", Env: "REPO_TOKEN"}},
		},
		{
			name: "https: GIT_AUTH_TOKEN by default",
			js:   `{"git-context": true, "context": "app"}`,
			env:  map[string]string{"BUILDKITE_REPO": "https://github.com/org/app.git", "GIT_AUTH_TOKEN": "t"},
			want: func(wd, commit string) *config.GitContext {
				return &config.GitContext{Remote: "https://github.com/org/app.git", Commit: commit, Subdir: "app", Dockerfile: "app/Dockerfile", Excludes: []string{"*.log"}, TokenEnv: "GIT_AUTH_TOKEN", Root: wd}
			},
			sec: []config.Secret{{ID: "GIT_AUTH_TOKEN.github.com", Env: "GIT_AUTH_TOKEN"}},
		},
		{
			name: "public https repository, git protocol",
			js:   `{"git-context": true, "context": "app"}`,
			env:  map[string]string{"BUILDKITE_REPO": "git://git.example/app.git"},
			want: func(wd, commit string) *config.GitContext {
				return &config.GitContext{Remote: "git://git.example/app.git", Commit: commit, Subdir: "app", Dockerfile: "app/Dockerfile", Excludes: []string{"*.log"}, Root: wd}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd, commit := gitWorkDir(t, gitFiles)
			env := jobEnv(map[string]string{"BUILDKIT_HOST": "tcp://b:1234", "BUILDKITE_COMMIT": commit}, tt.env)
			got, err := config.Parse([]byte(tt.js), env, wd)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if want := tt.want(wd, commit); !reflect.DeepEqual(got.GitContext, want) {
				t.Errorf("GitContext\n got %+v\nwant %+v", got.GitContext, want)
			}
			if !reflect.DeepEqual(got.SSH, tt.ssh) {
				t.Errorf("SSH = %+v, want %+v", got.SSH, tt.ssh)
			}
			if !reflect.DeepEqual(got.Secrets, tt.sec) {
				t.Errorf("Secrets = %+v, want %+v", got.Secrets, tt.sec)
			}
		})
	}
}

// The job's working directory may be reached through a symbolic link; git
// names the work tree by its real path.
func TestParseGitContextThroughALink(t *testing.T) {
	wd, commit := gitWorkDir(t, gitFiles)
	link := filepath.Join(t.TempDir(), "checkout")
	if err := os.Symlink(wd, link); err != nil {
		t.Fatal(err)
	}
	env := jobEnv(map[string]string{"BUILDKIT_HOST": "tcp://b:1234", "BUILDKITE_COMMIT": commit, "BUILDKITE_REPO": "git://git.example/app.git"}, nil)
	got, err := config.Parse([]byte(`{"git-context": true, "context": "app"}`), env, link)
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	if g := got.GitContext; g == nil || g.Subdir != "app" || g.Dockerfile != "app/Dockerfile" {
		t.Errorf("GitContext = %+v, want app and app/Dockerfile", g)
	}
}

func TestParseGitContextProblems(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name, js string
		env      map[string]string // over BUILDKITE_REPO=git@…, BUILDKITE_COMMIT=<commit>, SSH_AUTH_SOCK
		key, msg string
	}{
		{"no BUILDKITE_REPO", `{"git-context": true, "context": "app"}`, map[string]string{"BUILDKITE_REPO": ""},
			"git-context", "BUILDKITE_REPO is not set: the daemon fetches the job's repository from it"},
		{"no BUILDKITE_COMMIT", `{"git-context": true, "context": "app"}`, map[string]string{"BUILDKITE_COMMIT": ""},
			"git-context", "BUILDKITE_COMMIT is not set: the daemon fetches $BUILDKITE_REPO at that commit"},
		{"a commit the checkout lacks", `{"git-context": true, "context": "app"}`, map[string]string{"BUILDKITE_COMMIT": "0123456789012345678901234567890123456789"},
			"git-context", `BUILDKITE_COMMIT: "0123456789012345678901234567890123456789" is not a commit of the repository`},
		{"a local path", `{"git-context": true, "context": "app"}`, map[string]string{"BUILDKITE_REPO": "/var/lib/buildkite-agent/git-mirrors/app"},
			"git-context", "BUILDKITE_REPO /var/lib/buildkite-agent/git-mirrors/app is not a URL the daemon can fetch (a local path or file:// is on the agent's disk, not the daemon's)"},
		{"file URL", `{"git-context": true, "context": "app"}`, map[string]string{"BUILDKITE_REPO": "file:///srv/app.git"},
			"git-context", "BUILDKITE_REPO file:///srv/app.git is not a URL the daemon can fetch"},
		{"ssh without an agent", `{"git-context": true, "context": "app"}`, map[string]string{"SSH_AUTH_SOCK": ""},
			"git-context", "BUILDKITE_REPO git@github.com:org/app.git is an ssh URL: the daemon fetches it through the job's ssh-agent, but SSH_AUTH_SOCK is not set"},
		{"token-env unset", `{"git-context": {"token-env": "NOPE"}, "context": "app"}`, map[string]string{"BUILDKITE_REPO": "https://github.com/org/app.git"},
			"git-context.token-env", "NOPE is not set in the job's environment"},
		{"credentials redacted", `{"git-context": true, "context": "app"}`, map[string]string{"BUILDKITE_REPO": "ssh://git:hunter2@git.example/app.git", "SSH_AUTH_SOCK": ""},
			"git-context", "BUILDKITE_REPO ssh://xxxxx:xxxxx@git.example/app.git is an ssh URL"},
		{"context outside the checkout", `{"git-context": true, "context": "` + outside + `"}`, nil,
			"context", outside + " is outside the checkout"},
		{"dockerfile not committed", `{"git-context": true, "context": "app", "dockerfile": "app/Dockerfile.new"}`, nil,
			"dockerfile", "is not a file in commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd, commit := gitWorkDir(t, gitFiles)
			if err := os.WriteFile(filepath.Join(wd, "app", "Dockerfile.new"), []byte("FROM scratch\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			env := jobEnv(map[string]string{"BUILDKIT_HOST": "tcp://b:1234", "BUILDKITE_REPO": "git@github.com:org/app.git", "BUILDKITE_COMMIT": commit, "SSH_AUTH_SOCK": "/tmp/agent.sock"}, tt.env)
			_, err := config.Parse([]byte(tt.js), env, wd)
			problems := problemsOf(t, err)
			p, ok := findProblem(problems, tt.key)
			if !ok || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("problems %v\nwant %s: …%s…", problems, tt.key, tt.msg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestParseSourceDateEpochAndCacheMounts(t *testing.T) {
	tests := []struct {
		name, js     string
		env          map[string]string
		epoch, ns    string
		reproducible bool
	}{
		{"nothing outside Buildkite", `{}`, nil, "", "", false},
		{"the job's SOURCE_DATE_EPOCH, the pipeline's namespace", `{}`,
			map[string]string{"SOURCE_DATE_EPOCH": "1600000000", "BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_PIPELINE_SLUG": "web"}, "1600000000", "acme/web", false},
		{"build-args wins over the environment; with cache-mounts: shared the namespace too", `{"build-args": {"SOURCE_DATE_EPOCH": "1", "BUILDKIT_CACHE_MOUNT_NS": "mine"}, "cache-mounts": "shared"}`,
			map[string]string{"SOURCE_DATE_EPOCH": "1600000000", "BUILDKITE_PIPELINE_SLUG": "web"}, "", "", false},
		{"reproducible: the commit's time", `{"reproducible": true}`,
			map[string]string{"BUILDKITE_PIPELINE_SLUG": "web"}, "1700000000", "web", true},
		{"reproducible: the environment first", `{"reproducible": true, "cache-mounts": "shared"}`,
			map[string]string{"SOURCE_DATE_EPOCH": "1600000000", "BUILDKITE_PIPELINE_SLUG": "web"}, "1600000000", "", true},
		{"cache-mounts: pipeline as the default", `{"cache-mounts": "pipeline"}`,
			map[string]string{"BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_PIPELINE_SLUG": "api"}, "", "acme/api", false},
		{"a pull request: its own namespace", `{}`,
			map[string]string{"BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_PIPELINE_SLUG": "api", "BUILDKITE_PULL_REQUEST": "42"}, "", "acme/api/pull-request", false},
		{"not a pull request", `{}`,
			map[string]string{"BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_PIPELINE_SLUG": "api", "BUILDKITE_PULL_REQUEST": "false"}, "", "acme/api", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd, commit := gitWorkDir(t, map[string]string{"Dockerfile": "FROM scratch\n"})
			env := jobEnv(map[string]string{"BUILDKIT_HOST": "tcp://b:1234", "BUILDKITE_COMMIT": commit}, tt.env)
			got, err := config.Parse([]byte(tt.js), env, wd)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if got.SourceDateEpoch != tt.epoch || got.CacheMountNS != tt.ns || got.Reproducible != tt.reproducible {
				t.Errorf("SourceDateEpoch %q, CacheMountNS %q, Reproducible %v; want %q, %q, %v",
					got.SourceDateEpoch, got.CacheMountNS, got.Reproducible, tt.epoch, tt.ns, tt.reproducible)
			}
		})
	}
}

// BUILDKIT_CACHE_MOUNT_NS in build-args (a bake target's args arrive as
// build-args too) would replace the per-pipeline namespace: refused unless
// the step says cache-mounts: shared.
func TestParseCacheMountNSArg(t *testing.T) {
	wd := newWorkDir(t, "Dockerfile")
	env := envOf(map[string]string{"BUILDKIT_HOST": "tcp://b:1234", "BUILDKITE_PIPELINE_SLUG": "web"})
	_, err := config.Parse([]byte(`{"build-args": ["BUILDKIT_CACHE_MOUNT_NS=release"]}`), env, wd)
	p, ok := findProblem(problemsOf(t, err), "build-args")
	if !ok || !strings.Contains(p.Msg, "BUILDKIT_CACHE_MOUNT_NS") || !strings.Contains(p.Msg, "cache-mounts: shared") {
		t.Errorf("problem %v; want build-args: BUILDKIT_CACHE_MOUNT_NS … cache-mounts: shared", p)
	}
	c, err := config.Parse([]byte(`{"build-args": ["BUILDKIT_CACHE_MOUNT_NS=release"], "cache-mounts": "shared"}`), env, wd)
	if err != nil || c.CacheMountNS != "" || c.BuildArgs["BUILDKIT_CACHE_MOUNT_NS"] != "release" {
		t.Errorf("with cache-mounts: shared: %v, namespace %q, args %v", err, c.CacheMountNS, c.BuildArgs)
	}
}

// The context scope: organization, pipeline, trust domain (a pull request
// is its own) and the context directory.
func TestParseContextScope(t *testing.T) {
	wd := newWorkDir(t, "app/Dockerfile")
	for _, tt := range []struct {
		pr, domain string
	}{{"", config.TrustBranch}, {"false", config.TrustBranch}, {"17", config.TrustPullRequest}} {
		env := envOf(map[string]string{"BUILDKIT_HOST": "tcp://b:1234", "BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_PIPELINE_SLUG": "web", "BUILDKITE_PULL_REQUEST": tt.pr})
		c, err := config.Parse([]byte(`{"context": "app", "context-key": {"secret": "CTX"}}`), env, wd)
		if err != nil {
			t.Fatal(err)
		}
		want := config.ContextScope{Org: "acme", Pipeline: "web", Domain: tt.domain, Dir: "app"}
		if c.ContextScope != want || c.ContextKey.Secret != "CTX" {
			t.Errorf("BUILDKITE_PULL_REQUEST=%q: scope %+v, key %+v; want %+v", tt.pr, c.ContextScope, c.ContextKey, want)
		}
	}
}

func TestParseContextKeyOption(t *testing.T) {
	wd := newWorkDir(t, "Dockerfile")
	env := envOf(map[string]string{"BUILDKIT_HOST": "tcp://b:1234"})
	for _, js := range []string{`{"context-key": {}}`, `{"context-key": {"env": "A", "secret": "B"}}`} {
		_, err := config.Parse([]byte(js), env, wd)
		if p, ok := findProblem(problemsOf(t, err), "context-key"); !ok || !strings.Contains(p.Msg, "exactly one of env") {
			t.Errorf("%s: problem %v; want context-key: set exactly one of env … or secret", js, p)
		}
	}
	c, err := config.Parse([]byte(`{"context-key": {"env": "CTX_KEY"}}`), env, wd)
	if err != nil || c.ContextKey != (config.ContextKey{Env: "CTX_KEY"}) {
		t.Errorf("context-key env: %+v, %v", c.ContextKey, err)
	}
}

func TestParseReproducibleOutsideACheckout(t *testing.T) {
	wd := newWorkDir(t, "Dockerfile")
	_, err := config.Parse([]byte(`{"reproducible": true}`), envOf(map[string]string{"BUILDKIT_HOST": "tcp://b:1234"}), wd)
	p, ok := findProblem(problemsOf(t, err), "reproducible")
	if !ok || !strings.Contains(p.Msg, "is not in a git work tree") || !strings.Contains(p.Msg, "set SOURCE_DATE_EPOCH") {
		t.Errorf("problem %v; want reproducible: not in a git work tree … set SOURCE_DATE_EPOCH", p)
	}
	// The environment hook runs before the checkout: nothing to check there.
	if _, err := config.ParseForEnvironment([]byte(`{"reproducible": true, "git-context": true}`), envOf(map[string]string{"BUILDKIT_HOST": "tcp://b:1234"}), wd); err != nil {
		t.Errorf("ParseForEnvironment: %v", err)
	}
}
