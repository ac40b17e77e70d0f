package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// A bake step's own options are typed fields; its allow keeps buildx's
// vocabulary for bake's checks and sends BuildKit only the entitlements.
func TestParseBakeStep(t *testing.T) {
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "ci.hcl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"HOME": "/home/agent", "BUILDKIT_HOST": "tcp://b:1", "U": "u", "REG_PW": "p", "BUILDKITE_REPO": "git@github.com:org/app.git",
		"BUILDKITE_PULL_REQUEST": "12", "BUILDKITE_PULL_REQUEST_REPO": "https://github.com/fork/app.git"})
	js := `{"bake": ["docker-bake.hcl", "ci.hcl"], "targets": "app", "set": ["*.args.A=1,2"], "bake-env": ["NPM_TOKEN"],
		"allow": ["network.host", "fs.read=secrets", "fs=~/out", "image.push=r.example/app", "buildx.local.delete", "ssh"],
		"push": true, "registry-credentials": [{"registry": "r.example", "username-env": "U", "password-env": "REG_PW"}]}`
	cfg, err := config.Parse([]byte(js), env, wd)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Bake
	if b == nil {
		t.Fatal("no Bake")
	}
	want := config.Bake{Files: []string{"docker-bake.hcl", "ci.hcl"}, Targets: []string{"app"}, Set: []string{"*.args.A=1,2"}, Env: []string{"NPM_TOKEN"},
		Allow:     []string{"network.host", "fs.read=" + wd + "/secrets", "fs=/home/agent/out", "image.push=r.example/app", "buildx.local.delete", "ssh"},
		SecretEnv: []string{"GIT_AUTH_TOKEN", "REG_PW"}, ForkPR: true}
	got := config.Bake{Files: b.Files, Targets: b.Targets, Set: b.Set, Env: b.Env, Allow: b.Allow, SecretEnv: b.SecretEnv, ForkPR: b.ForkPR}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Bake:\n got %+v\nwant %+v", got, want)
	}
	tc, err := cfg.Target(map[string]any{"context": ".", "dockerfile": "ci.hcl", "tags": []string{"r.example/app:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tc.Allow, []string{"network.host"}) || !tc.Push || tc.Bake != b {
		t.Errorf("target: allow %v push %v", tc.Allow, tc.Push)
	}
}

func TestParseBakeStepErrors(t *testing.T) {
	tests := []struct{ name, js, want string }{
		{"image option beside bake", `{"bake": "b.hcl", "tags": "r/x:1"}`, "tags: set beside bake"},
		{"bad bake-env", `{"bake": "b.hcl", "bake-env": ["A-B"]}`, `bake-env[0]: "A-B" is not a variable name`},
		{"bad allow", `{"bake": "b.hcl", "allow": ["fs.exec=/x"]}`, `"fs.exec=/x" is not an entitlement`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.js), envOf(map[string]string{}), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse() = %v, want %q", err, tt.want)
			}
		})
	}
}

// A pull request is a fork's when its repository is not the pipeline's,
// however the URLs are spelled.
func TestForkPR(t *testing.T) {
	tests := []struct {
		pr, head, repo string
		want           bool
	}{
		{"12", "https://github.com/fork/app.git", "git@github.com:org/app.git", true},
		{"12", "https://github.com/org/app", "git@github.com:org/app.git", false},
		{"false", "https://github.com/fork/app.git", "git@github.com:org/app.git", false},
		{"", "", "git@github.com:org/app.git", false},
	}
	for _, tt := range tests {
		env := envOf(map[string]string{"BUILDKITE_PULL_REQUEST": tt.pr, "BUILDKITE_PULL_REQUEST_REPO": tt.head, "BUILDKITE_REPO": tt.repo})
		cfg, err := config.Parse([]byte(`{"bake": "b.hcl"}`), env, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Bake.ForkPR != tt.want {
			t.Errorf("PR %q from %q into %q: ForkPR %v", tt.pr, tt.head, tt.repo, cfg.Bake.ForkPR)
		}
	}
}

// A bake target's context that is a committed link out of the checkout was
// judged by buildx's entitlement check against the step's allow (in
// internal/bake, before the target is read): the target's configuration
// takes it as that check left it. A single-image step's is refused here.
func TestBakeTargetLinkOutJudgedByBake(t *testing.T) {
	wd, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(wd, "app")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "docker-bake.hcl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"HOME": "/home/agent", "BUILDKIT_HOST": "tcp://b:1"})
	cfg, err := config.Parse([]byte(`{"bake": "docker-bake.hcl", "allow": ["fs.read=`+outside+`"]}`), env, wd)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := cfg.Target(map[string]any{"context": "app", "dockerfile": "app/Dockerfile"})
	if err != nil {
		t.Fatalf("target with a granted link out: %v", err)
	}
	if tc.ContextDir != filepath.Join(wd, "app") {
		t.Errorf("context %s", tc.ContextDir)
	}
	_, err = config.Parse([]byte(`{"context": "app", "dockerfile": "app/Dockerfile"}`), env, wd)
	if err == nil || !strings.Contains(err.Error(), "app is a link to "+outside+", outside the checkout") {
		t.Errorf("single image through the link: %v", err)
	}
}
