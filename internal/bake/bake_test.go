package bake

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/redact"
)

func TestMain(m *testing.M) {
	// As cmd/remote-buildkit does: bake files see only the variables passed.
	os.Setenv("BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP", "true")
	os.Exit(m.Run())
}

// req is a pushing step's request for files in dir, with the environment env.
func req(dir string, files, targets, set []string, env ...string) Request {
	return Request{Files: files, Targets: targets, Set: set, Vars: Vars(env, redact.DefaultPatterns, nil, nil), Policy: Policy{WorkDir: dir, Push: true}}
}

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const hcl = `
variable "TAG" { default = "dev" }
group "default" { targets = ["base", "app", "tool"] }
target "base" {
  context   = "base"
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = ["r.example/base:${TAG}"]
}
target "app" {
  context    = "app"
  dockerfile = "Dockerfile.prod"
  target     = "runtime"
  args       = { VERSION = "1.2" }
  tags       = ["r.example/app:${TAG}"]
  cache-from = ["type=registry,ref=r.example/app:cache"]
  secret     = ["id=tok,env=TOKEN"]
}
target "tool" {
  inherits = ["app"]
  contexts = { base = "target:base", extra = "docker-image://busybox" }
  tags     = ["r.example/tool:${TAG}"]
}
`

func TestLoadHCL(t *testing.T) {
	dir := write(t, map[string]string{"docker-bake.hcl": hcl})
	// bake variables come from the job environment, passed in
	ts, err := Load(context.Background(), req(dir, []string{"docker-bake.hcl"}, nil, []string{"app.args.EXTRA=x"}, "TAG=42"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range ts {
		names = append(names, x.Name)
	}
	if !reflect.DeepEqual(names, []string{"app", "base", "tool"}) {
		t.Fatalf("targets %v", names)
	}
	app, base, tool := ts[0], ts[1], ts[2]
	want := map[string]any{"context": "app", "dockerfile": "app/Dockerfile.prod", "target": "runtime",
		"build-args": map[string]any{"VERSION": "1.2", "EXTRA": "x"}, "tags": []string{"r.example/app:42"},
		"cache-from": []any{map[string]any{"type": "registry", "ref": "r.example/app:cache"}},
		"secrets":    []any{map[string]any{"id": "tok", "env": "TOKEN"}}}
	if !reflect.DeepEqual(app.Options, want) {
		t.Errorf("app:\n got %#v\nwant %#v", app.Options, want)
	}
	if !reflect.DeepEqual(base.Options["platforms"], []string{"linux/amd64", "linux/arm64"}) || base.Options["dockerfile"] != "base/Dockerfile" {
		t.Errorf("base: %#v", base.Options)
	}
	if tool.Options["target"] != "runtime" || !reflect.DeepEqual(tool.Needs, map[string]string{"base": "base"}) ||
		!reflect.DeepEqual(tool.Options["build-contexts"], map[string]any{"extra": "docker-image://busybox"}) {
		t.Errorf("tool (inherits app, base from target:base): %#v needs %v", tool.Options, tool.Needs)
	}
}

// A target: context pulls its target in, as bake does.
func TestLoadBuildsLinkedTargets(t *testing.T) {
	dir := write(t, map[string]string{"docker-bake.hcl": hcl})
	ts, err := Load(context.Background(), req(dir, []string{"docker-bake.hcl"}, []string{"tool"}, nil))
	if err != nil || len(ts) != 2 || ts[0].Name != "base" || ts[1].Name != "tool" {
		t.Fatalf("Load(tool) = %+v, %v; want base and tool", ts, err)
	}
}

func TestLoadCompose(t *testing.T) {
	dir := write(t, map[string]string{"compose.yaml": `
services:
  api:
    image: r.example/api:1
    build: {context: ./api, args: {A: "1"}}
  web:
    build: ./web
  db:
    image: postgres
`})
	ts, err := Load(context.Background(), req(dir, []string{"compose.yaml"}, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "api" || ts[1].Name != "web" || !reflect.DeepEqual(ts[0].Options["tags"], []string{"r.example/api:1"}) {
		t.Fatalf("compose targets %+v", ts)
	}
	if c, _ := ts[0].Options["context"].(string); !strings.HasSuffix(c, "api") {
		t.Errorf("api context %q", c)
	}
}

// Paths are relative to the working directory (buildx's default), or to the
// file with BUILDX_BAKE_FILE_RELATIVE_PATHS=true.
func TestLoadComposeInASubdirectory(t *testing.T) {
	dir := write(t, map[string]string{"deploy/compose.yaml": "services:\n  api:\n    image: r/api:1\n    build: ./api\n"})
	for env, want := range map[string]string{"": "api", "true": filepath.Join(dir, "deploy", "api")} {
		r := req(dir, []string{"deploy/compose.yaml"}, nil, nil)
		r.FileRelativePaths = env == "true"
		ts, err := Load(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if got := ts[0].Options["context"]; got != want {
			t.Errorf("BUILDX_BAKE_FILE_RELATIVE_PATHS=%q: context %v, want %s", env, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := write(t, map[string]string{"docker-bake.hcl": hcl, "bad.hcl": "target \"x\" {\n  tags = [\n}\n",
		"cycle.hcl": `target "a" { contexts = { b = "target:b" } }` + "\n" + `target "b" { contexts = { a = "target:a" } }`})
	tests := []struct {
		name    string
		files   []string
		targets []string
		want    []string
	}{
		{"syntax error names file and line", []string{"bad.hcl"}, nil, []string{"bad.hcl:3"}},
		{"unknown target names the known ones", []string{"docker-bake.hcl"}, []string{"nope"}, []string{"nope", "app", "base", "tool"}},
		{"missing file", []string{"missing.hcl"}, nil, []string{"missing.hcl"}},
		{"cycle", []string{"cycle.hcl"}, []string{"a", "b"}, []string{"infinite loop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), req(dir, tt.files, tt.targets, nil))
			if err == nil || !errors.Is(err, ErrBake) {
				t.Fatalf("Load() = %v, want an ErrBake", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: want %q in it", err, w)
				}
			}
		})
	}
}

// TestLoadRefusesLinkOut: a bake file the step names in the checkout that
// is a committed link out of it is not read (its content never reaches an
// error message); one spelled absolute is read.
func TestLoadRefusesLinkOut(t *testing.T) {
	outside := write(t, map[string]string{"key.pem": "-----BEGIN PRIVATE KEY----- s3cret\n", "docker-bake.hcl": hcl})
	dir := write(t, nil)
	if err := os.Symlink(filepath.Join(outside, "key.pem"), filepath.Join(dir, "docker-bake.hcl")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), req(dir, []string{"docker-bake.hcl"}, nil, nil))
	if !errors.Is(err, ErrBake) || !strings.Contains(err.Error(), "docker-bake.hcl is a link to "+filepath.Join(outside, "key.pem")+", outside the checkout") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Load() = %v; want the link out refused, naming it", err)
	}
	if _, err := Load(context.Background(), req(dir, []string{filepath.Join(outside, "docker-bake.hcl")}, nil, nil)); err != nil {
		t.Fatalf("an absolute bake file: %v", err)
	}
}
