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

// A bake file asking for more than the checkout fails through buildx's own
// entitlement check, naming the target, the key, the path or entitlement
// and the allow entry granting it; with that entry it loads.
func TestLoadChecksEntitlements(t *testing.T) {
	outside := t.TempDir()
	for name, body := range map[string]string{"key.pem": "secret", "ctx/Dockerfile": "FROM scratch\n", "id_ed25519": "k"} {
		os.MkdirAll(filepath.Dir(filepath.Join(outside, name)), 0o755)
		if err := os.WriteFile(filepath.Join(outside, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := outside
	tests := []struct {
		name, target string
		want         []string // in the one-line error
		allow        string   // the entry that grants it
	}{
		{"secret src", `secret = ["id=k,src=` + o + `/key.pem"]`, []string{"target app: secret k src " + o + "/key.pem is outside the checkout", `allow: ["fs.read=` + o + `/key.pem"]`}, "fs.read=" + o + "/key.pem"},
		{"absolute context", `contexts = { x = "` + o + `/ctx" }`, []string{"contexts x " + o + "/ctx", `"fs.read=` + o + `/ctx"`}, "fs.read=" + o},
		{"context symlink out", `context = "link"`, []string{"context " + "LINK" + " (resolves to " + o + "/ctx)", `"fs.read=` + o + `/ctx"`}, "fs=" + o + "/ctx"},
		{"dockerfile outside", `dockerfile = "` + o + `/ctx/Dockerfile"`, []string{"dockerfile " + o + "/ctx/Dockerfile", "fs.read="}, "fs.read=" + o},
		{"local output outside", `output = ["type=local,dest=` + o + `/out"]`, []string{"output dest " + o + "/out", `"fs.write=` + o + `"`}, "fs.write=" + o},
		{"tar output outside", `output = ["type=tar,dest=` + o + `/x.tar"]`, []string{"output dest " + o + "/x.tar", "fs.write="}, "fs=" + o},
		{"local cache-to outside", `cache-to = ["type=local,dest=` + o + `/cache"]`, []string{"cache-to dest", "fs.write="}, "fs.write=" + o},
		{"local cache-from outside", `cache-from = ["type=local,src=` + o + `/ctx"]`, []string{"cache-from src", "fs.read="}, "fs.read=" + o},
		{"ssh agent", `ssh = ["default"]`, []string{"ssh forwards the job's ssh-agent", `allow: ["ssh"]`}, "ssh"},
		{"ssh key outside", `ssh = ["k=` + o + `/id_ed25519"]`, []string{"ssh k " + o + "/id_ed25519", "fs.read="}, "fs.read=" + o},
		{"network.host", `entitlements = ["network.host"]`, []string{"entitlements network.host", `allow: ["network.host"]`}, "network.host"},
		{"security.insecure", `entitlements = ["security.insecure"]`, []string{"entitlements security.insecure"}, "security.insecure"},
		{"mode=delete", `output = ["type=local,dest=out,mode=delete"]`, []string{"mode=delete", `allow: ["buildx.local.delete"]`}, "buildx.local.delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := write(t, map[string]string{"docker-bake.hcl": "target \"app\" {\n  " + tt.target + "\n}\n", "Dockerfile": "FROM scratch\n"})
			if err := os.Symlink(filepath.Join(outside, "ctx"), filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			r := req(dir, []string{"docker-bake.hcl"}, []string{"app"}, nil)
			_, err := Load(context.Background(), r)
			if err == nil || !errors.Is(err, ErrBake) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Load() = %v, want one line of ErrBake", err)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "LINK", filepath.Join(dir, "link")); !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nwant %q in it", err, w)
				}
			}
			r.Allow = []string{tt.allow}
			if _, err := Load(context.Background(), r); err != nil {
				t.Errorf("with allow %s: %v", tt.allow, err)
			}
		})
	}
}

// A target's entitlements grant nothing: they never reach the options.
func TestEntitlementsGrantNothing(t *testing.T) {
	dir := write(t, map[string]string{"docker-bake.hcl": `target "app" { entitlements = ["network.host"] }`})
	r := req(dir, []string{"docker-bake.hcl"}, []string{"app"}, nil)
	r.Allow = []string{"network.host"}
	ts, err := Load(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ts[0].Options["allow"]; ok {
		t.Errorf("the target's entitlements became options: %#v", ts[0].Options)
	}
}

// Where images go: push: false wins over a registry output, image.push
// patterns bound every destination, a fork's pull request pushes nothing
// the step did not allow.
func TestLoadChecksPushes(t *testing.T) {
	const file = `target "app" {
  tags = ["localhost:5000/evil:1"]
  OUT
}`
	tests := []struct {
		name, out  string
		push, fork bool
		allow      []string
		want       string // "" = loads
	}{
		{"branch build pushes its tags", "", true, false, nil, ""},
		{"fork PR tag refused", "", true, true, nil, `tags pushes localhost:5000/evil:1 from a pull request of another repository: add allow: ["image.push=localhost:5000/evil"]`},
		{"fork PR tag allowed", "", true, true, []string{"image.push=localhost:5000/evil"}, ""},
		{"fork PR without push pushes no tag", "", false, true, nil, ""},
		{"pattern bounds a branch build", "", true, false, []string{"image.push=localhost:5000/good"}, "no image.push entry"},
		{"glob pattern", "", true, false, []string{"image.push=localhost:5000/*"}, ""},
		{"registry output with push false", `output = ["type=registry,name=localhost:5000/evil:2"]`, false, false, nil, "output type=registry pushes localhost:5000/evil:2, but the step has push: false"},
		{"registry output fork PR", `output = ["type=registry,name=localhost:5000/x:2"]`, true, true, []string{"image.push=localhost:5000/evil"}, "pushes localhost:5000/x:2, which no image.push entry"},
		{"registry cache-to fork PR", `cache-to = ["type=registry,ref=localhost:5000/cache:1"]`, false, true, nil, "cache-to type=registry pushes localhost:5000/cache:1 from a pull request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := write(t, map[string]string{"docker-bake.hcl": strings.Replace(file, "OUT", tt.out, 1)})
			r := req(dir, []string{"docker-bake.hcl"}, nil, nil)
			r.Push, r.ForkPR, r.Allow = tt.push, tt.fork, tt.allow
			r.Targets = []string{"app"}
			_, err := Load(context.Background(), r)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Load() = %v, want it to load", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "target app:")):
				t.Errorf("Load() = %v, want %q", err, tt.want)
			}
		})
	}
}

// Bake and compose files see the passed variables without the secret ones,
// unless the step names them; never the process environment.
func TestVars(t *testing.T) {
	env := []string{"REPO=r", "BUILDKITE_AGENT_ACCESS_TOKEN=tok", "NPM_TOKEN=n", "DB_PASSWORD=p", "REG_PW=x", "GIT_AUTH_TOKEN=g", "MY_KEY=k"}
	got := Vars(env, redact.DefaultPatterns, []string{"REG_PW", "GIT_AUTH_TOKEN"}, []string{"NPM_TOKEN"})
	want := map[string]string{"REPO": "r", "NPM_TOKEN": "n", "MY_KEY": "k"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Vars() = %v, want %v", got, want)
	}
	if got := Vars(env, []string{"*_KEY"}, nil, nil); got["MY_KEY"] != "" || got["DB_PASSWORD"] != "p" || got["BUILDKITE_AGENT_ACCESS_TOKEN"] != "" {
		t.Errorf("BUILDKITE_REDACTED_VARS=*_KEY: %v", got)
	}

	t.Setenv("LEAK_TOKEN", "from-the-process")
	dir := write(t, map[string]string{
		"docker-bake.hcl": `variable "BUILDKITE_AGENT_ACCESS_TOKEN" { default = "none" }
variable "LEAK_TOKEN" { default = "none" }
target "app" { args = { T = BUILDKITE_AGENT_ACCESS_TOKEN, L = LEAK_TOKEN } }`,
		"compose.yaml": "services:\n  api:\n    build: {context: ., args: {T: \"${BUILDKITE_AGENT_ACCESS_TOKEN:-none}\", L: \"${LEAK_TOKEN:-none}\"}}\n",
	})
	for f, targets := range map[string][]string{"docker-bake.hcl": {"app"}, "compose.yaml": nil} {
		ts, err := Load(context.Background(), req(dir, []string{f}, targets, nil, "BUILDKITE_AGENT_ACCESS_TOKEN=tok"))
		if err != nil {
			t.Fatal(err)
		}
		if args := ts[0].Options["build-args"]; !reflect.DeepEqual(args, map[string]any{"T": "none", "L": "none"}) {
			t.Errorf("%s: build-args %v: a secret reached the file", f, args)
		}
	}
}

// A secret may not read a variable the files may not see, unless the step
// passes it (bake-env).
func TestLoadSecretFromHiddenVariable(t *testing.T) {
	environ := []string{"BUILDKITE_AGENT_ACCESS_TOKEN=tok", "NPM_TOKEN=n", "TAG=1"}
	t.Setenv("NPM_TOKEN", "n") // the job's environment is the process's: buildx resolves id=NAME there
	tests := map[string]string{
		`secret = ["id=t,env=BUILDKITE_AGENT_ACCESS_TOKEN"]`: `target app: secret t reads BUILDKITE_AGENT_ACCESS_TOKEN, a secret variable of the job: add bake-env: ["BUILDKITE_AGENT_ACCESS_TOKEN"]`,
		`secret = ["id=NPM_TOKEN"]`:                          `target app: secret NPM_TOKEN reads NPM_TOKEN, a secret variable of the job: add bake-env: ["NPM_TOKEN"]`,
	}
	for body, want := range tests {
		dir := write(t, map[string]string{"docker-bake.hcl": "target \"app\" {\n  " + body + "\n}\n"})
		r := req(dir, []string{"docker-bake.hcl"}, []string{"app"}, nil)
		r.Vars = Vars(environ, redact.DefaultPatterns, nil, nil)
		r.Hidden = Hidden(environ, r.Vars)
		if _, err := Load(context.Background(), r); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Load() = %v, want %q", body, err, want)
		}
		pass := strings.TrimSuffix(want[strings.Index(want, `["`)+2:], `"]`)
		r.Vars = Vars(environ, redact.DefaultPatterns, nil, []string{pass})
		r.Hidden = Hidden(environ, r.Vars)
		if _, err := Load(context.Background(), r); err != nil {
			t.Errorf("%s with bake-env %s: %v", body, pass, err)
		}
	}
}
