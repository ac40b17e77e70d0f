package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// newWorkDir returns a job working directory holding the given files
// (path → content; a path ending in "/" is a directory).
func newWorkDir(t *testing.T, files ...string) string {
	t.Helper()
	wd := t.TempDir()
	for _, f := range files {
		p := filepath.Join(wd, filepath.FromSlash(f))
		if strings.HasSuffix(f, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return wd
}

// diffConfig reports every field of got that differs from want, by name.
func diffConfig(t *testing.T, got, want *config.Config) {
	t.Helper()
	if len(want.Nodes) == 1 && want.Nodes[0].TLSDir == "" {
		// One buildkit-host is one node with the top-level connection settings.
		want.Nodes[0].TLSDir = want.TLSDir
	}
	if want.Options == nil {
		want.Options = got.Options // what was set is TestParseOptionsSet's
	}
	gv, wv := reflect.ValueOf(*got), reflect.ValueOf(*want)
	for i := 0; i < gv.NumField(); i++ {
		if !gv.Type().Field(i).IsExported() {
			continue // the step's accepted options, kept for bake targets (ForTarget)
		}
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("Config.%s = %s; want %s", gv.Type().Field(i).Name, show(g), show(w))
		}
	}
}

func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "nil"
		}
		return "&" + show(rv.Elem().Interface())
	}
	return strings.TrimSpace(strings.ReplaceAll(fmtValue(v), "\n", " "))
}

func fmtValue(v any) string { return fmt.Sprintf("%#v", v) }

func strPtr(s string) *string { return &s }

// problemsOf returns the problems of a *config.Error, failing the test for any other error.
func problemsOf(t *testing.T, err error) []config.Problem {
	t.Helper()
	if err == nil {
		t.Fatal("Parse() error = nil; want a *config.Error")
	}
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse() error = %T %v; want a *config.Error", err, err)
	}
	if len(cerr.Problems) == 0 {
		t.Fatal("Parse() returned a *config.Error with no problems")
	}
	return cerr.Problems
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name string
		js   string
		env  map[string]string
		want func(wd string) *config.Config
	}{
		{
			name: "empty object outside Buildkite",
			js:   `{}`,
			env:  map[string]string{"BUILDKIT_HOST": "tcp://buildkitd:1234", "HOME": "/home/agent"},
			want: func(wd string) *config.Config {
				return &config.Config{
					Nodes:          []config.Node{{Name: "tcp://buildkitd:1234", Host: "tcp://buildkitd:1234"}},
					TLSDir:         "/home/agent/.buildkit",
					ConnectTimeout: 20 * time.Second,
					Retries:        1,
					MaxLoadFactor:  1.25,
					SecretsPrefix:  "buildkit",
					SecretsObjects: config.Objects{CA: "ca.pem", Cert: "cert.pem", Key: "key.pem"},
					ECR:            config.ECR{Enabled: true},
					VersionCheck:   "warn",
					Annotate:       true,
					MetaData:       config.MetaData{Enabled: true, Key: "remote-buildkit-digest"},
					Progress:       "auto",
					Image:          config.Image{ContextSync: config.ContextSync{Mode: "content", CacheDir: "/home/agent/.cache/remote-buildkit/hashes", GitAttributes: "/home/agent/.config/git/attributes"}, Call: "build", ContextDir: wd, ContextScope: config.ContextScope{Domain: config.TrustBranch, Dir: "."}, Dockerfile: filepath.Join(wd, "Dockerfile")},
				}
			},
		},
		{
			name: "null document on a Buildkite agent",
			js:   `null`,
			env:  map[string]string{"BUILDKIT_HOST": "unix:///run/buildkit/buildkitd.sock", "HOME": "/var/lib/buildkite-agent", "BUILDKITE": "true"},
			want: func(wd string) *config.Config {
				return &config.Config{
					Nodes:          []config.Node{{Name: "unix:///run/buildkit/buildkitd.sock", Host: "unix:///run/buildkit/buildkitd.sock"}},
					TLSDir:         "/var/lib/buildkite-agent/.buildkit",
					ConnectTimeout: config.DefaultConnectTimeout,
					Retries:        1,
					MaxLoadFactor:  1.25,
					SecretsPrefix:  "buildkit",
					SecretsObjects: config.Objects{CA: "ca.pem", Cert: "cert.pem", Key: "key.pem"},
					ECR:            config.ECR{Enabled: true},
					VersionCheck:   "warn",
					Annotate:       true,
					MetaData:       config.MetaData{Enabled: true, Key: "remote-buildkit-digest"},
					Progress:       "plain",
					Insights:       true,
					Image:          config.Image{ContextSync: config.ContextSync{Mode: "content", CacheDir: "/var/lib/buildkite-agent/.cache/remote-buildkit/hashes", GitAttributes: "/var/lib/buildkite-agent/.config/git/attributes"}, Call: "build", ContextDir: wd, ContextScope: config.ContextScope{Domain: config.TrustBranch, Dir: "."}, Dockerfile: filepath.Join(wd, "Dockerfile")},
				}
			},
		},
		{
			name: "context moves the default Dockerfile; option beats BUILDKIT_HOST",
			js:   `{"context": "app", "buildkit-host": "tcp://other:1234"}`,
			env:  map[string]string{"BUILDKIT_HOST": "tcp://buildkitd:1234"},
			want: func(wd string) *config.Config {
				return &config.Config{
					Nodes:          []config.Node{{Name: "tcp://other:1234", Host: "tcp://other:1234"}},
					ConnectTimeout: 20 * time.Second,
					Retries:        1,
					MaxLoadFactor:  1.25,
					SecretsPrefix:  "buildkit",
					SecretsObjects: config.Objects{CA: "ca.pem", Cert: "cert.pem", Key: "key.pem"},
					ECR:            config.ECR{Enabled: true},
					VersionCheck:   "warn",
					Annotate:       true,
					MetaData:       config.MetaData{Enabled: true, Key: "remote-buildkit-digest"},
					Progress:       "auto",
					Image:          config.Image{ContextSync: config.ContextSync{Mode: "content"}, Call: "build", ContextDir: filepath.Join(wd, "app"), ContextScope: config.ContextScope{Domain: config.TrustBranch, Dir: "app"}, Dockerfile: filepath.Join(wd, "app", "Dockerfile")},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd := newWorkDir(t, "Dockerfile", "app/Dockerfile")
			got, err := config.Parse([]byte(tt.js), envOf(tt.env), wd)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			diffConfig(t, got, tt.want(wd))
		})
	}
}

// Every option set, in its less obvious spellings, checked field by field.
func TestParseAllOptions(t *testing.T) {
	wd := newWorkDir(t,
		"app/",
		"docker/Dockerfile.release",
		"shared/",
		"secrets/npmrc",
		"keys/id_ed25519",
		"out/",
	)
	env := envOf(map[string]string{
		"HOME":           "/home/agent",
		"XDG_CACHE_HOME": "/var/cache/agent",
		"BUILDKITE":      "true",
		"BUILDKIT_HOST":  "tcp://ignored:1234",
		"SSH_AUTH_SOCK":  "/tmp/ssh-agent.sock",
		"API_TOKEN":      "s3cr3t",
		"GITHUB_TOKEN":   "ghp_x",
	})
	js := `{
		"buildkit-host": "tcp://buildkitd.internal:1234",
		"tls-dir": "~/certs",
		"tls-server-name": "buildkitd.internal",
		"connect-timeout": 45,
		"context": "app",
		"context-sync": "mtime",
		"dockerfile": "docker/Dockerfile.release",
		"target": "release",
		"build-args": {"VERSION": "1.2.3", "DEBUG": true, "RETRIES": 3},
		"labels": ["org.opencontainers.image.source=https://github.com/org/app", "team=build=infra"],
		"build-contexts": {"shared": "shared", "base": "docker-image://alpine:3.20"},
		"tags": "app, registry.example.com:5000/team/api:1.0",
		"push": true,
		"platforms": ["linux/amd64", "linux/arm64,linux/arm/v7"],
		"cache-from": "type=registry,ref=registry.example.com/app:cache",
		"cache-to": [
			{"type": "registry", "ref": "registry.example.com/app:cache", "mode": "max", "image-manifest": true},
			"type=inline",
			"type=local,dest=.cache/buildkit"
		],
		"secrets": ["id=npm,src=secrets/npmrc", {"id": "token", "env": "API_TOKEN"}, "id=GITHUB_TOKEN"],
		"ssh": ["default", "deploy=keys/id_ed25519"],
		"no-cache": true,
		"outputs": [
			"type=registry,name=registry.example.com/app:extra",
			{"type": "oci", "dest": "image.tar"},
			"type=local,dest=dist"
		],
		"progress": "quiet",
		"provenance": "mode=max",
		"sbom": true,
		"metadata-file": "out/metadata.json",
		"timeout": "1h30m"
	}`
	got, err := config.Parse([]byte(js), env, wd)
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	want := &config.Config{
		Nodes:          []config.Node{{Name: "tcp://buildkitd.internal:1234", Host: "tcp://buildkitd.internal:1234", TLSDir: "/home/agent/certs", TLSDirSet: true, TLSServerName: "buildkitd.internal"}},
		TLSDir:         "/home/agent/certs",
		ConnectTimeout: 45 * time.Second,
		Retries:        1,
		MaxLoadFactor:  1.25,
		SecretsPrefix:  "buildkit",
		SecretsObjects: config.Objects{CA: "ca.pem", Cert: "cert.pem", Key: "key.pem"},
		ECR:            config.ECR{Enabled: true},
		VersionCheck:   "warn",
		Annotate:       true,
		MetaData:       config.MetaData{Enabled: true, Key: "remote-buildkit-digest"},
		Progress:       "quiet",
		MetadataFile:   filepath.Join(wd, "out/metadata.json"),
		MetadataRoot:   wd,
		Timeout:        90 * time.Minute,
		Insights:       true,
		Image: config.Image{ContextSync: config.ContextSync{Mode: "mtime", CacheDir: "/var/cache/agent/remote-buildkit/hashes", GitAttributes: "/home/agent/.config/git/attributes"}, Call: "build", ContextDir: filepath.Join(wd, "app"), ContextScope: config.ContextScope{Domain: config.TrustBranch, Dir: "app"}, Dockerfile: filepath.Join(wd, "docker/Dockerfile.release"), Target: "release", BuildArgs: map[string]string{"VERSION": "1.2.3", "DEBUG": "true", "RETRIES": "3"}, Labels: map[string]string{
			"org.opencontainers.image.source": "https://github.com/org/app",
			"team":                            "build=infra",
		}, BuildContexts: map[string]string{
			"shared": filepath.Join(wd, "shared"),
			"base":   "docker-image://alpine:3.20",
		}, Tags: []string{"docker.io/library/app:latest", "registry.example.com:5000/team/api:1.0"}, Push: true, Platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, NoCache: true, CacheFrom: []config.Attrs{
			{Type: "registry", Attrs: map[string]string{"ref": "registry.example.com/app:cache"}},
		}, CacheTo: []config.Attrs{
			{Type: "registry", Attrs: map[string]string{"ref": "registry.example.com/app:cache", "mode": "max", "image-manifest": "true"}},
			{Type: "inline", Attrs: map[string]string{"mode": "min"}},
			{Type: "local", Attrs: map[string]string{"dest": filepath.Join(wd, ".cache/buildkit"), "mode": "min"}},
		}, Outputs: []config.Attrs{
			{Type: "image", Attrs: map[string]string{"name": "registry.example.com/app:extra", "push": "true"}},
			{Type: "oci", Attrs: map[string]string{"dest": filepath.Join(wd, "image.tar")}, Root: wd},
			{Type: "local", Attrs: map[string]string{"dest": filepath.Join(wd, "dist")}, Root: wd},
		}, Secrets: []config.Secret{
			{ID: "npm", Src: filepath.Join(wd, "secrets/npmrc")},
			{ID: "token", Env: "API_TOKEN"},
			{ID: "GITHUB_TOKEN", Env: "GITHUB_TOKEN"},
		}, SSH: []config.SSH{
			{ID: "default"},
			{ID: "deploy", Paths: []string{filepath.Join(wd, "keys/id_ed25519")}},
		}, Provenance: strPtr("mode=max"), SBOM: strPtr("")},
	}
	diffConfig(t, got, want)
}

// One option at a time, in each accepted spelling.
func TestParseOptionForms(t *testing.T) {
	baseEnv := map[string]string{
		"BUILDKIT_HOST": "tcp://buildkitd:1234",
		"HOME":          "/home/agent",
		"FROM_ENV":      "env-value",
		"EMPTY_ENV":     "",
		"SSH_AUTH_SOCK": "/tmp/agent.sock",
	}
	tests := []struct {
		name  string
		js    string
		field func(c *config.Config) any
		want  any
	}{
		// build-args
		{"build-args map with scalar values", `{"build-args": {"A": "1", "B": 2.5, "C": false, "D": ""}}`,
			func(c *config.Config) any { return c.BuildArgs }, map[string]string{"A": "1", "B": "2.5", "C": "false", "D": ""}},
		{"build-args K=V list, value may hold =", `{"build-args": ["A=1", "B=", "C=x=y"]}`,
			func(c *config.Config) any { return c.BuildArgs }, map[string]string{"A": "1", "B": "", "C": "x=y"}},
		{"build-args bare K reads the environment, unset K is omitted", `{"build-args": ["FROM_ENV", "EMPTY_ENV", "UNSET_VAR", "X=1"]}`,
			func(c *config.Config) any { return c.BuildArgs }, map[string]string{"FROM_ENV": "env-value", "EMPTY_ENV": "", "X": "1"}},
		{"build-args absent", `{}`,
			func(c *config.Config) any { return c.BuildArgs }, map[string]string(nil)},
		// context-sync and the hash cache's place
		{"context-sync defaults to content", `{}`,
			func(c *config.Config) any { return c.ContextSync }, config.ContextSync{Mode: "content", CacheDir: "/home/agent/.cache/remote-buildkit/hashes", GitAttributes: "/home/agent/.config/git/attributes"}},
		{"context-sync mtime", `{"context-sync": "mtime"}`,
			func(c *config.Config) any { return c.ContextSync.Mode }, "mtime"},

		// labels and build contexts
		{"labels map", `{"labels": {"a.b": "c"}}`,
			func(c *config.Config) any { return c.Labels }, map[string]string{"a.b": "c"}},
		{"build-contexts URLs are kept as given", `{"build-contexts": ["base=docker-image://alpine:3.20", "stage=target:builder", "repo=https://github.com/org/repo.git"]}`,
			func(c *config.Config) any { return c.BuildContexts },
			map[string]string{"base": "docker-image://alpine:3.20", "stage": "target:builder", "repo": "https://github.com/org/repo.git"}},

		// tags
		{"tag short name gets registry, library and latest", `{"tags": "app"}`,
			func(c *config.Config) any { return c.Tags }, []string{"docker.io/library/app:latest"}},
		{"tags: comma list, list, and YAML block lines", `{"tags": ["org/app:1, ghcr.io/org/app", "quay.io/org/app:2\nquay.io/org/app:3\n"]}`,
			func(c *config.Config) any { return c.Tags },
			[]string{"docker.io/org/app:1", "ghcr.io/org/app:latest", "quay.io/org/app:2", "quay.io/org/app:3"}},
		{"tag with registry port and digest kept", `{"tags": ["localhost:5000/app:dev", "app@sha256:0123456789012345678901234567890123456789012345678901234567890123"]}`,
			func(c *config.Config) any { return c.Tags },
			[]string{"localhost:5000/app:dev", "docker.io/library/app@sha256:0123456789012345678901234567890123456789012345678901234567890123"}},

		// platforms
		{"platform aliases normalised", `{"platforms": "linux/x86_64, linux/aarch64,linux/arm/v7"}`,
			func(c *config.Config) any { return c.Platforms }, []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}},

		// cache
		{"cache-from as object has no mode added", `{"cache-from": {"type": "registry", "ref": "r.example.com/app:cache"}}`,
			func(c *config.Config) any { return c.CacheFrom },
			[]config.Attrs{{Type: "registry", Attrs: map[string]string{"ref": "r.example.com/app:cache"}}}},
		{"cache-to mode defaults to min", `{"cache-to": "type=registry,ref=r.example.com/app:cache"}`,
			func(c *config.Config) any { return c.CacheTo },
			[]config.Attrs{{Type: "registry", Attrs: map[string]string{"ref": "r.example.com/app:cache", "mode": "min"}}}},
		{"cache attr keys are case-insensitive, quoted values kept", `{"cache-to": "type=s3,Region=eu-west-1,\"name=a,b\""}`,
			func(c *config.Config) any { return c.CacheTo },
			[]config.Attrs{{Type: "s3", Attrs: map[string]string{"region": "eu-west-1", "name": "a,b", "mode": "min"}}}},

		// outputs
		{"output type=registry becomes image with push=true", `{"outputs": {"type": "registry", "name": "r.example.com/app:1"}}`,
			func(c *config.Config) any { return c.Outputs },
			[]config.Attrs{{Type: "image", Attrs: map[string]string{"name": "r.example.com/app:1", "push": "true"}}}},

		// secrets
		{"secret with only an id reads the variable of that name", `{"secrets": "id=FROM_ENV"}`,
			func(c *config.Config) any { return c.Secrets }, []config.Secret{{ID: "FROM_ENV", Env: "FROM_ENV"}}},
		{"secret object with env", `{"secrets": {"id": "tok", "env": "FROM_ENV"}}`,
			func(c *config.Config) any { return c.Secrets }, []config.Secret{{ID: "tok", Env: "FROM_ENV"}}},

		// ssh
		{"ssh true means default", `{"ssh": true}`,
			func(c *config.Config) any { return c.SSH }, []config.SSH{{ID: "default"}}},
		{"ssh string", `{"ssh": "default"}`,
			func(c *config.Config) any { return c.SSH }, []config.SSH{{ID: "default"}}},
		{"ssh false is off", `{"ssh": false}`,
			func(c *config.Config) any { return c.SSH }, []config.SSH(nil)},

		// attestations
		{"provenance true is mode=min", `{"provenance": true}`,
			func(c *config.Config) any { return c.Provenance }, strPtr("mode=min")},
		{"provenance mode=max kept", `{"provenance": "mode=max"}`,
			func(c *config.Config) any { return c.Provenance }, strPtr("mode=max")},
		{"provenance false is off", `{"provenance": false}`,
			func(c *config.Config) any { return c.Provenance }, (*string)(nil)},
		{"provenance \"false\" string is off", `{"provenance": "false"}`,
			func(c *config.Config) any { return c.Provenance }, (*string)(nil)},
		{"provenance absent is off", `{}`,
			func(c *config.Config) any { return c.Provenance }, (*string)(nil)},
		{"sbom true has no parameters", `{"sbom": true}`,
			func(c *config.Config) any { return c.SBOM }, strPtr("")},
		{"sbom parameters kept", `{"sbom": "generator=docker/buildkit-syft-scanner"}`,
			func(c *config.Config) any { return c.SBOM }, strPtr("generator=docker/buildkit-syft-scanner")},
		{"sbom absent is off", `{}`,
			func(c *config.Config) any { return c.SBOM }, (*string)(nil)},

		// durations
		{"timeout as duration string", `{"timeout": "90s"}`,
			func(c *config.Config) any { return c.Timeout }, 90 * time.Second},
		{"timeout as seconds", `{"timeout": 90}`,
			func(c *config.Config) any { return c.Timeout }, 90 * time.Second},
		{"retries explicit", `{"retries": 3}`,
			func(c *config.Config) any { return c.Retries }, 3},
		{"retries zero turns retrying off", `{"retries": 0}`,
			func(c *config.Config) any { return c.Retries }, 0},
		{"timeout absent is no limit", `{}`,
			func(c *config.Config) any { return c.Timeout }, time.Duration(0)},
		{"connect-timeout as duration string", `{"connect-timeout": "1m30s"}`,
			func(c *config.Config) any { return c.ConnectTimeout }, 90 * time.Second},

		// paths
		{"absolute tls-dir kept, marked as set", `{"tls-dir": "/etc/buildkit/tls"}`,
			func(c *config.Config) any { return [2]any{c.TLSDir, c.Default().TLSDirSet} }, [2]any{"/etc/buildkit/tls", true}},
		{"progress explicit", `{"progress": "rawjson"}`,
			func(c *config.Config) any { return c.Progress }, "rawjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd := newWorkDir(t, "Dockerfile")
			got, err := config.Parse([]byte(tt.js), envOf(baseEnv), wd)
			if err != nil {
				t.Fatalf("Parse(%s) error = %v", tt.js, err)
			}
			if g := tt.field(got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Parse(%s) = %s; want %s", tt.js, show(g), show(tt.want))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	baseEnv := map[string]string{
		"BUILDKIT_HOST": "tcp://buildkitd:1234",
		"HOME":          "/home/agent",
		"NPM_TOKEN":     "x",
	}
	tests := []struct {
		name    string
		js      string
		env     map[string]string // replaces baseEnv when set
		files   []string          // in the work dir besides Dockerfile
		noDfile bool              // no Dockerfile in the work dir
		key     string            // exact key path of the expected problem
		msg     []string          // substrings of its message
	}{
		// Document.
		{name: "not JSON", js: `{"tags": [}`, key: "", msg: []string{"not valid JSON"}},
		{name: "not an object", js: `["tags"]`, key: "", msg: []string{"must be an object (map), got array"}},

		// Schema: unknown keys.
		{name: "typo suggests tags", js: `{"tag": "app"}`, key: "tag", msg: []string{"unknown option", `did you mean "tags"?`}},
		{name: "typo suggests buildkit-host", js: `{"buildkit_host": "tcp://h:1"}`, key: "buildkit_host", msg: []string{`did you mean "buildkit-host"?`}},
		{name: "wrong case suggests the key", js: `{"Platforms": "linux/amd64"}`, key: "Platforms", msg: []string{`did you mean "platforms"?`}},
		{name: "unrelated key points to the reference", js: `{"cache": "type=inline"}`, key: "cache", msg: []string{"unknown option", "configuration reference"}},
		{name: "unknown key inside a secret", js: `{"secrets": [{"id": "a", "env": "NPM_TOKEN", "file": "x"}]}`, key: "secrets[0].file", msg: []string{"unknown option", "remove it"}},

		// Schema: types and forms.
		{name: "push as string", js: `{"push": "true"}`, key: "push", msg: []string{"must be a boolean, got string"}},
		{name: "negative retries", js: `{"retries": -1}`, key: "retries", msg: []string{"0"}},
		{name: "retries as string", js: `{"retries": "2"}`, key: "retries", msg: []string{"must be an integer"}},
		{name: "tags as number", js: `{"tags": 7}`, key: "tags", msg: []string{"must be a string or an array (list), got number"}},
		{name: "empty tag", js: `{"tags": ["app", ""]}`, key: "tags[1]", msg: []string{"must not be empty"}},
		{name: "build-arg value is a list", js: `{"build-args": {"A": [1]}}`, key: "build-args.A", msg: []string{"must be a boolean, a number or a string, got array"}},
		{name: "build-arg list entry without key", js: `{"build-args": ["A=1", "=x"]}`, key: "build-args[1]", msg: []string{`"=x"`, `"KEY=value"`}},
		{name: "context-sync not in enum", js: `{"context-sync": "fast"}`, key: "context-sync", msg: []string{"must be one of content, mtime", "fast"}},
		{name: "progress not in enum", js: `{"progress": "fancy"}`, key: "progress", msg: []string{"must be one of auto, plain, tty, rawjson, quiet", "fancy"}},
		{name: "cache object without type", js: `{"cache-to": [{"ref": "r.example.com/app:cache"}]}`, key: "cache-to[0].type", msg: []string{"is required"}},
		{name: "secret object without id", js: `{"secrets": [{"env": "NPM_TOKEN"}]}`, key: "secrets[0].id", msg: []string{"is required"}},
		{name: "bad duration string", js: `{"timeout": "10 minutes"}`, key: "timeout", msg: []string{`"10 minutes"`, `"90s"`, "number of seconds"}},
		{name: "duration of zero seconds", js: `{"connect-timeout": 0}`, key: "connect-timeout", msg: []string{"want 1"}},
		{name: "fractional seconds", js: `{"timeout": 1.5}`, key: "timeout", msg: []string{"must be", "integer"}},

		// Connection.
		{name: "no buildkit-host anywhere", js: `{}`, env: map[string]string{"HOME": "/h"}, key: "buildkit-host", msg: []string{"buildkit-host", "BUILDKIT_HOST", "tcp://"}},
		{name: "unsupported scheme", js: `{"buildkit-host": "http://buildkitd:1234"}`, key: "buildkit-host", msg: []string{`unsupported scheme "http"`, "tcp, unix"}},
		{name: "no scheme", js: `{"buildkit-host": "buildkitd"}`, key: "buildkit-host", msg: []string{"is not an address", "tcp://host:port"}},
		{name: "tcp without port", js: `{"buildkit-host": "tcp://buildkitd"}`, key: "buildkit-host", msg: []string{"needs a host and port"}},
		{name: "unix without path", js: `{"buildkit-host": "unix://"}`, key: "buildkit-host", msg: []string{"needs a socket path"}},
		{name: "bad BUILDKIT_HOST is reported as buildkit-host", js: `{}`, env: map[string]string{"BUILDKIT_HOST": "http://h:1"}, key: "buildkit-host", msg: []string{"unsupported scheme"}},

		// Sources.
		{name: "default Dockerfile missing", js: `{}`, noDfile: true, key: "dockerfile", msg: []string{"Dockerfile does not exist", "set dockerfile"}},
		{name: "configured Dockerfile missing", js: `{"dockerfile": "docker/Dockerfile"}`, key: "dockerfile", msg: []string{"docker/Dockerfile does not exist", "set dockerfile"}},
		{name: "Dockerfile is a directory", js: `{"dockerfile": "docker"}`, files: []string{"docker/"}, key: "dockerfile", msg: []string{"does not exist"}},
		{name: "context directory missing", js: `{"context": "app", "dockerfile": "Dockerfile"}`, key: "context", msg: []string{"app does not exist", "set context"}},
		{name: "context is a file", js: `{"context": "Dockerfile", "dockerfile": "Dockerfile"}`, key: "context", msg: []string{"does not exist"}},
		{name: "label without value", js: `{"labels": ["team=x", "owner"]}`, key: "labels[1]", msg: []string{`"owner" has no value`, "KEY=value"}},
		{name: "build context directory missing", js: `{"build-contexts": {"shared": "../shared"}}`, key: "build-contexts.shared", msg: []string{"does not exist", "docker-image://"}},

		// Image.
		{name: "uppercase tag", js: `{"tags": ["app:1", "Org/App:1"]}`, key: "tags[1]", msg: []string{`"Org/App:1"`, "lowercase"}},
		{name: "invalid tag", js: `{"tags": "app:1:2"}`, key: "tags[0]", msg: []string{`"app:1:2" is not a valid image reference`, "registry/repository:tag"}},
		{name: "push without tags", js: `{"push": true}`, key: "push", msg: []string{"no tags", "add tags"}},
		{name: "unknown platform", js: `{"platforms": ["linux/amd64", "linux/sparc"]}`, key: "platforms[1]", msg: []string{`"linux/sparc"`, "linux/amd64"}},
		{name: "unparsable platform", js: `{"platforms": "linux/amd64/v3/extra"}`, key: "platforms[0]", msg: []string{"not a valid platform", "os/arch"}},

		// Cache.
		{name: "cache entry without type", js: `{"cache-from": "ref=r.example.com/app:cache"}`, key: "cache-from[0]", msg: []string{"no type=", "type=registry"}},
		{name: "cache entry not key=value", js: `{"cache-from": ["type=registry,ref=r/a:c", "type=registry,r/a:c"]}`, key: "cache-from[1]", msg: []string{"not key=value"}},
		{name: "registry cache without ref", js: `{"cache-to": ["type=inline", "type=registry,mode=max"]}`, key: "cache-to[1]", msg: []string{"type=registry needs ref="}},
		{name: "registry cache with bad ref", js: `{"cache-from": "type=registry,ref=Bad/Ref"}`, key: "cache-from[0]", msg: []string{`ref "Bad/Ref" is not a valid image reference`}},
		{name: "inline cache import", js: `{"cache-from": "type=inline"}`, key: "cache-from[0]", msg: []string{"export-only", "type=registry,ref="}},
		{name: "local cache import without src", js: `{"cache-from": "type=local,dest=x"}`, key: "cache-from[0]", msg: []string{"type=local needs src="}},
		{name: "local cache export without dest", js: `{"cache-to": "type=local,src=x"}`, key: "cache-to[0]", msg: []string{"type=local needs dest="}},
		{name: "unknown cache type", js: `{"cache-to": "type=redis"}`, key: "cache-to[0]", msg: []string{`unknown cache type "redis"`, "registry, local"}},
		{name: "bad cache export mode", js: `{"cache-to": "type=registry,ref=r/a:c,mode=all"}`, key: "cache-to[0]", msg: []string{"mode=all", "mode=min or mode=max"}},

		// Outputs.
		{name: "oci output without dest", js: `{"outputs": ["type=local,dest=out", "type=oci"]}`, key: "outputs[1]", msg: []string{"type=oci needs dest="}},
		{name: "unknown output type", js: `{"outputs": "type=s3,dest=x"}`, key: "outputs[0]", msg: []string{`unknown output type "s3"`, "image, registry, local"}},
		{name: "image output without name", js: `{"outputs": {"type": "image", "push": true}}`, key: "outputs[0]", msg: []string{"needs name=", "tags option"}},
		{name: "image output with bad name", js: `{"outputs": "type=image,name=Bad"}`, key: "outputs[0]", msg: []string{`name "Bad" is not a valid image reference`}},
		{name: "tarball output to a directory", js: `{"outputs": "type=docker,dest=out"}`, files: []string{"out/"}, key: "outputs[0]", msg: []string{"is a directory", "give a file path"}},
		{name: "tarball output in missing directory", js: `{"outputs": "type=oci,dest=out/image.tar"}`, key: "outputs[0]", msg: []string{"does not exist", "create it"}},

		// Secrets.
		{name: "secret without id", js: `{"secrets": "env=NPM_TOKEN"}`, key: "secrets[0]", msg: []string{"missing id=", "id=NAME,env=VAR"}},
		{name: "secret with env and src", js: `{"secrets": ["id=npm,env=NPM_TOKEN,src=npmrc"]}`, key: "secrets[0]", msg: []string{"both env= and src=", "give one"}},
		{name: "secret with unknown key", js: `{"secrets": "id=npm,file=npmrc"}`, key: "secrets[0]", msg: []string{`unknown key "file"`, "id=NAME,src=PATH"}},
		{name: "secret that is not key=value", js: `{"secrets": "NPM_TOKEN"}`, key: "secrets[0]", msg: []string{"not key=value", "id=NAME,env=VAR"}},
		{name: "secret env var unset", js: `{"secrets": ["id=npm,env=NPM_TOKEN", "id=gh,env=GITHUB_TOKEN"]}`, key: "secrets[1]", msg: []string{"GITHUB_TOKEN is not set", "export it"}},
		{name: "bare secret id with unset variable", js: `{"secrets": "id=GITHUB_TOKEN"}`, key: "secrets[0]", msg: []string{"GITHUB_TOKEN is not set"}},
		{name: "secret file missing", js: `{"secrets": {"id": "npm", "src": "npmrc"}}`, key: "secrets[0]", msg: []string{"npmrc does not exist"}},
		{name: "secret id given twice", js: `{"secrets": ["id=npm,env=NPM_TOKEN", "id=npm,env=NPM_TOKEN"]}`, key: "secrets[1]", msg: []string{`"npm" is given twice`}},

		// SSH.
		{name: "ssh agent without SSH_AUTH_SOCK", js: `{"ssh": true}`, key: "ssh[0]", msg: []string{"SSH_AUTH_SOCK is not set", "id=/path/to/key"}},
		{name: "ssh key missing", js: `{"ssh": ["deploy=keys/id_ed25519"]}`, key: "ssh[0]", msg: []string{"keys/id_ed25519 does not exist"}},
		{name: "ssh without id", js: `{"ssh": "=keys/id"}`, key: "ssh[0]", msg: []string{"want default or id="}},

		// Reporting.
		{name: "metadata-file in missing directory", js: `{"metadata-file": "out/meta.json"}`, key: "metadata-file", msg: []string{"does not exist", "create it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := tt.files
			if !tt.noDfile {
				files = append(files, "Dockerfile")
			}
			wd := newWorkDir(t, files...)
			env := baseEnv
			if tt.env != nil {
				env = tt.env
			}
			cfg, err := config.Parse([]byte(tt.js), envOf(env), wd)
			if cfg != nil {
				t.Errorf("Parse(%s) returned a Config with an error; want nil", tt.js)
			}
			problems := problemsOf(t, err)
			for _, p := range problems {
				if p.Key != tt.key {
					continue
				}
				for _, s := range tt.msg {
					if !strings.Contains(p.Msg, s) {
						t.Errorf("problem %q: message does not mention %q", p, s)
					}
				}
				return
			}
			t.Errorf("Parse(%s): no problem at key %q; got:\n%v", tt.js, tt.key, err)
		})
	}
}

// One run reports every problem, from the schema and from the checks of
// meaning together, each on its own line, grouped by option.
func TestParseReportsAllProblems(t *testing.T) {
	wd := newWorkDir(t) // no Dockerfile
	js := `{
		"buildkit-host": "http://buildkitd:1234",
		"tag": "app",
		"push": "yes",
		"tags": ["app", "Bad"],
		"platforms": ["linux/amd64", "linux/sparc"],
		"cache-to": ["type=inline", "type=registry"],
		"cache-from": [{"ref": "r.example.com/app:cache"}],
		"secrets": ["id=npm,env=NPM_TOKEN", "env=X"],
		"outputs": "type=oci",
		"timeout": "soon",
		"progress": "loud"
	}`
	_, err := config.Parse([]byte(js), envOf(map[string]string{"HOME": "/h"}), wd)
	problems := problemsOf(t, err)

	wantKeys := []string{
		"buildkit-host",      // semantic
		"cache-from[0].type", // schema
		"cache-to[1]",        // semantic
		"dockerfile",         // semantic (default Dockerfile missing)
		"outputs[0]",         // semantic
		"platforms[1]",       // semantic
		"progress",           // schema
		"push",               // schema
		"secrets[0]",         // semantic (NPM_TOKEN unset)
		"secrets[1]",         // semantic (no id)
		"tag",                // schema (unknown option)
		"tags[1]",            // semantic
		"timeout",            // schema
	}
	var gotKeys []string
	for _, p := range problems {
		gotKeys = append(gotKeys, p.Key)
	}
	sorted := append([]string(nil), gotKeys...)
	sort.Strings(sorted)
	if !reflect.DeepEqual(sorted, wantKeys) {
		t.Errorf("problem keys = %q\nwant %q\nerror:\n%v", sorted, wantKeys, err)
	}

	// Grouped by option, in order, so a user reads one option's problems together.
	if !sort.SliceIsSorted(problems, func(i, j int) bool { return top(problems[i].Key) < top(problems[j].Key) }) {
		t.Errorf("problems not ordered by option: %q", gotKeys)
	}

	// One line per problem.
	for _, p := range problems {
		if strings.Contains(p.String(), "\n") {
			t.Errorf("problem %q renders on several lines", p.String())
		}
		if !strings.HasPrefix(p.String(), p.Key+": ") {
			t.Errorf("problem %q does not start with its key %q", p.String(), p.Key)
		}
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(problems) {
		t.Errorf("Error() has %d lines for %d problems:\n%v", len(lines), len(problems), err)
	}
}

func top(key string) string {
	if i := strings.IndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return key
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    config.Problem
		want string
	}{
		{config.Problem{Key: "tags[1]", Msg: "bad"}, "tags[1]: bad"},
		{config.Problem{Msg: "configuration is not valid JSON"}, "configuration is not valid JSON"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q; want %q", tt.p, got, tt.want)
		}
	}
	e := &config.Error{Problems: []config.Problem{tests[0].p, tests[1].p}}
	if got, want := e.Error(), "tags[1]: bad\nconfiguration is not valid JSON"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

// Options lists the top-level options the configuration sets; BuildOptions
// those only the plugin's own build reads.
func TestParseOptionsSet(t *testing.T) {
	wd := newWorkDir(t, "Dockerfile")
	got, err := config.Parse([]byte(`{"buildkit-host": "tcp://b:1", "tags": "r/x:1", "push": true, "ecr": false}`), envOf(nil), wd)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"buildkit-host", "ecr", "push", "tags"}; !reflect.DeepEqual(got.Options, want) {
		t.Errorf("Options = %v, want %v", got.Options, want)
	}
	if want := []string{"push", "tags"}; !reflect.DeepEqual(got.BuildOptions(), want) {
		t.Errorf("BuildOptions() = %v, want %v", got.BuildOptions(), want)
	}
}
