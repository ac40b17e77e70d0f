package job

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/client"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext/gitcontexttest"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

func envOf(m map[string]string) config.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// fakeDialer answers for the nodes in up, records every dial.
type fakeDialer struct {
	mu     sync.Mutex
	up     map[string]string // host → daemon version
	dialed []string
}

func (f *fakeDialer) dial(ctx context.Context, n config.Node, _ time.Duration) (*fleet.Connected, error) {
	f.mu.Lock()
	f.dialed = append(f.dialed, n.Host)
	f.mu.Unlock()
	v, ok := f.up[n.Host]
	if !ok {
		return nil, exitcode.With(exitcode.Connect, errors.New("nothing is listening at "+n.Host))
	}
	cl, err := client.New(ctx, n.Host) // does not dial
	if err != nil {
		return nil, err
	}
	return &fleet.Connected{Node: n, Client: cl, Info: &client.Info{BuildkitVersion: client.BuildkitVersion{Version: v}}}, nil
}

func nodes(specs ...string) []config.Node { // "name=host:platform,platform"
	var out []config.Node
	for _, s := range specs {
		name, rest, _ := strings.Cut(s, "=")
		host, plats, _ := strings.Cut(rest, "|")
		n := config.Node{Name: name, Host: host}
		if plats != "" {
			n.Platforms = strings.Split(plats, ",")
		}
		out = append(out, n)
	}
	return out
}

func TestCheckNodes(t *testing.T) {
	amdArm := nodes("amd=tcp://a:1|linux/amd64", "arm=tcp://b:1|linux/arm64")
	tests := []struct {
		name    string
		cfg     config.Config
		wantErr string
	}{
		{"single daemon", config.Config{Nodes: nodes("d=tcp://a:1"), Image: config.Image{Platforms: []string{"linux/s390x"}}}, ""},
		{"pool without declared platforms", config.Config{Nodes: nodes("a=tcp://a:1", "b=tcp://b:1"), Image: config.Image{Platforms: []string{"linux/amd64", "linux/arm64"}}}, ""},
		{"split that pushes tags", config.Config{Nodes: amdArm, Image: config.Image{Platforms: []string{"linux/amd64", "linux/arm64"}, Tags: []string{"r/x:1"}, Push: true}}, ""},
		{"split without push", config.Config{Nodes: amdArm, Image: config.Image{Platforms: []string{"linux/amd64", "linux/arm64"}, Tags: []string{"r/x:1"}}}, "set push: true with tags"},
		{"split with an output", config.Config{Nodes: amdArm,
			Image: config.Image{Platforms: []string{"linux/amd64", "linux/arm64"}, Tags: []string{"r/x:1"}, Push: true, Outputs: []config.Attrs{{Type: "local", Attrs: map[string]string{"dest": "/tmp/x"}}}},
		}, "and no outputs"},
		{"one node builds both", config.Config{Nodes: nodes("both=tcp://a:1|linux/amd64,linux/arm64", "arm=tcp://b:1|linux/arm64"), Image: config.Image{Platforms: []string{"linux/amd64", "linux/arm64"}}}, ""},
		{"platform nobody declares", config.Config{Nodes: amdArm, Image: config.Image{Platforms: []string{"linux/amd64", "linux/s390x"}, Tags: []string{"r/x:1"}, Push: true}}, "no node in nodes declares linux/s390x"},
		{"an undeclared node may build it", config.Config{Nodes: nodes("amd=tcp://a:1|linux/amd64", "any=tcp://b:1"), Image: config.Image{Platforms: []string{"linux/s390x"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkNodes(&tt.cfg, solve.NewRequest(tt.cfg.Image))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkNodes() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitcode.Of(err) != exitcode.BadConfig {
				t.Fatalf("checkNodes() = %v (exit %d), want exit 2 containing %q", err, exitcode.Of(err), tt.wantErr)
			}
		})
	}
}

// testJob is a prepared job on cfg's daemons, dialled through f.
func testJob(cfg *config.Config, f *fakeDialer) *Job {
	return &Job{d: Deps{Dial: f.dial, Err: &bytes.Buffer{}, Out: &bytes.Buffer{}}, cfg: cfg, dial: &sharedDial{dial: f.dial}, checked: map[string]bool{}}
}

func TestRoute(t *testing.T) {
	pool := nodes("a=tcp://a:1", "b=tcp://b:1", "c=tcp://c:1")
	t.Run("single daemon", func(t *testing.T) {
		f := &fakeDialer{up: map[string]string{"tcp://a:1": "v0.34.2"}}
		cfg := &config.Config{Nodes: nodes("tcp://a:1=tcp://a:1"), Image: config.Image{Platforms: []string{"linux/amd64"}}}
		as, err := testJob(cfg, f).route(context.Background(), solve.NewRequest(cfg.Image))
		if err != nil || len(as) != 1 || as[0].Rank != 1 || !reflect.DeepEqual(as[0].Platforms, []string{"linux/amd64"}) {
			t.Fatalf("route() = %+v, %v", as, err)
		}
	})
	// Pools (bounded loads probe each member's build history) are tested against real
	// daemons: TestParallelNodesPool and TestFleetDNS* in tests/integration.
	t.Run("nodes split by platform", func(t *testing.T) {
		f := &fakeDialer{up: map[string]string{"tcp://a:1": "v", "tcp://b:1": "v"}}
		cfg := &config.Config{Nodes: nodes("amd=tcp://a:1|linux/amd64", "arm=tcp://b:1|linux/arm64"), Image: config.Image{Platforms: []string{"linux/amd64", "linux/arm64"}, Tags: []string{"r/x:1"}, Push: true}}
		as, err := testJob(cfg, f).route(context.Background(), solve.NewRequest(cfg.Image))
		if err != nil || len(as) != 2 {
			t.Fatalf("route() = %+v, %v", as, err)
		}
		got := map[string][]string{}
		for _, a := range as {
			got[a.Node.Name] = a.Platforms
		}
		if !reflect.DeepEqual(got, map[string][]string{"amd": {"linux/amd64"}, "arm": {"linux/arm64"}}) {
			t.Errorf("assignment %v", got)
		}
	})
	t.Run("no member answers", func(t *testing.T) {
		f := &fakeDialer{up: map[string]string{}}
		cfg := &config.Config{Nodes: pool, MaxLoadFactor: config.DefaultMaxLoadFactor}
		_, err := testJob(cfg, f).route(context.Background(), solve.NewRequest(cfg.Image))
		if exitcode.Of(err) != exitcode.Connect || len(f.dialed) != 3 {
			t.Errorf("err %v (exit %d), dialed %v; want exit 3 after trying all three", err, exitcode.Of(err), f.dialed)
		}
	})
}

func TestAssemble(t *testing.T) {
	f := &fakeDialer{up: map[string]string{"tcp://a:1": "v0.34.2", "tcp://b:1": "v0.34.2"}}
	ctx := context.Background()
	a, _ := f.dial(ctx, config.Node{Name: "amd", Host: "tcp://a:1"}, 0)
	b, _ := f.dial(ctx, config.Node{Name: "arm", Host: "tcp://b:1"}, 0)
	cfg := &config.Config{
		Image: config.Image{Tags: []string{"r/x:1", "r/x:latest"}, Push: true, Platforms: []string{"linux/amd64", "linux/arm64"}, Outputs: []config.Attrs{{Type: "image", Attrs: map[string]string{"name": "r/y:1", "push": "true"}}}},
	}
	req := solve.NewRequest(cfg.Image)

	one := assemble(req, true, []fleet.Assignment{{Connected: a}}, []*solve.Solved{{Digest: "sha256:1", Seconds: 2, Steps: 3, CachedSteps: 1, Exporter: map[string]any{"k": "v"}}}, nil)
	want := &solve.Result{Digest: "sha256:1", Tags: cfg.Tags, Platforms: cfg.Platforms, Host: "tcp://a:1", DaemonVersion: "v0.34.2", Node: "amd",
		Seconds: 2, Steps: 3, CachedSteps: 1, Exporter: map[string]any{"k": "v"}, Pushed: []string{"r/x:1@sha256:1", "r/x:latest@sha256:1", "r/y:1@sha256:1"}}
	if !reflect.DeepEqual(one, want) {
		t.Errorf("single:\n got %+v\nwant %+v", one, want)
	}

	ms := []solve.Manifest{{Platform: "linux/amd64", Digest: "sha256:a", Node: "amd"}, {Platform: "linux/arm64", Digest: "sha256:b", Node: "arm"}}
	split := assemble(req, false, []fleet.Assignment{{Connected: a}, {Connected: b}},
		[]*solve.Solved{{Digest: "sha256:a", Seconds: 5, Steps: 2}, {Digest: "sha256:b", Seconds: 7, Steps: 2, CachedSteps: 2}}, &index{digest: "sha256:i", manifests: ms})
	if split.Digest != "sha256:i" || split.Seconds != 7 || split.Steps != 4 || split.CachedSteps != 2 || split.Node != "" ||
		!reflect.DeepEqual(split.Manifests, ms) || split.Exporter["containerimage.digest"] != "sha256:i" || split.Pushed[0] != "r/x:1@sha256:i" {
		t.Errorf("split: %+v", split)
	}

	unpushed := assemble(solve.NewRequest(config.Image{Tags: []string{"r/x:1"}}), false, []fleet.Assignment{{Connected: a}}, []*solve.Solved{{Digest: "sha256:1"}}, nil)
	if len(unpushed.Pushed) != 0 {
		t.Errorf("push: false listed pushed refs %v", unpushed.Pushed)
	}
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := &prefixWriter{prefix: "[arm] ", w: &out, mu: &mu}
	w.Write([]byte("#1 [internal] load\n\n#1 DO"))
	w.Write([]byte("NE 0.0s\npartial"))
	w.Flush()
	if got, want := out.String(), "[arm] #1 [internal] load\n[arm] #1 DONE 0.0s\n[arm] partial\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Environment with certificates already in tls-dir and no bucket: exports
// the host and the TLS files, quoted for the shell.
func TestEnvironmentExports(t *testing.T) {
	home := t.TempDir()
	tlsDir := filepath.Join(home, ".buildkit")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tlsDir, "ca.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	d := Deps{Env: envOf(map[string]string{"HOME": home, "BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://127.0.0.1:1234", "tls-server-name": "it's"}`}),
		WorkDir: home, Out: &out, Err: &errOut, Now: time.Now}
	if err := Environment(context.Background(), d); err != nil {
		t.Fatalf("Environment() = %v; stderr %s", err, errOut.String())
	}
	for _, want := range []string{"export BUILDKIT_HOST='tcp://127.0.0.1:1234'\n", "export BUILDKIT_TLS_CA_CERT='" + filepath.Join(tlsDir, "ca.pem") + "'\n",
		`export BUILDKIT_TLS_SERVER_NAME='it'\''s'` + "\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("exports %q lack %q", out.String(), want)
		}
	}
	if strings.Contains(out.String(), "BUILDKIT_TLS_CERT=") {
		t.Errorf("CA only: no client certificate should be exported: %q", out.String())
	}
}

func TestCleanupRemovesOnlyMarkedDirs(t *testing.T) {
	mine, theirs := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(mine, registryauth.MarkerFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for dir, gone := range map[string]bool{mine: true, theirs: false} {
		var errOut bytes.Buffer
		if err := Cleanup(Deps{Env: envOf(map[string]string{"REMOTE_BUILDKIT_JOB_DOCKER_CONFIG": dir}), Err: &errOut}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); os.IsNotExist(err) != gone {
			t.Errorf("%s: removed = %v, want %v", dir, os.IsNotExist(err), gone)
		}
	}
}

// The job's context key: from the default daemon's client key, else none
// with one notice when an image wanted content-derived stats; context-key
// naming a variable the job lacks fails the step (exit 2).
func TestContextKey(t *testing.T) {
	tlsDir, noTLS := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(tlsDir, config.KeyFile), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	images := []*image{{opts: config.Image{ContextSync: config.ContextSync{Mode: "content"}}}}
	for _, tt := range []struct {
		name   string
		cfg    config.Config
		key    bool
		notice bool
		code   int
	}{
		{"the client key", config.Config{Nodes: []config.Node{{TLSDir: tlsDir}}}, true, false, 0},
		{"no TLS", config.Config{Nodes: []config.Node{{TLSDir: noTLS}}}, false, true, 0},
		{"context-key.env unset", config.Config{Nodes: []config.Node{{TLSDir: tlsDir}}, ContextKey: config.ContextKey{Env: "CTX"}}, false, false, exitcode.BadConfig},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			d := Deps{Env: envOf(nil), Err: &errOut}
			k, err := contextKey(context.Background(), d, &tt.cfg, images)
			if exitcode.Of(err) != tt.code || (k != nil) != tt.key {
				t.Fatalf("key %v, error %v (exit %d); want a key %v, exit %d", k, err, exitcode.Of(err), tt.key, tt.code)
			}
			if got := strings.Contains(errOut.String(), "no client key (TLS) and no context-key: sending real mtimes"); got != tt.notice || strings.Count(errOut.String(), "\n") > 1 {
				t.Errorf("notice %q, want one: %v", errOut.String(), tt.notice)
			}
		})
	}
}

// The note names what the daemon fetches; the warning names the context's
// paths that differ from the commit, leaving out what .dockerignore
// excludes and what is outside the context.
func TestNoteGitContext(t *testing.T) {
	dir, commit := gitcontexttest.New(t, 1700000000, map[string]string{"app/a.txt": "a\n", "app/b.txt": "b\n", "other/c.txt": "c\n"})
	g := &config.GitContext{Remote: "https://ci:s3cret@git.example/app.git", Commit: commit, Subdir: "app", Excludes: []string{"node_modules", "*.log"}, Root: dir}
	var out, errOut bytes.Buffer
	noteGitContext(&out, &errOut, g)
	if want := "git-context: the daemon fetches https://xxxxx:xxxxx@git.example/app.git#" + commit + ":app; nothing of the context or Dockerfile is uploaded\n"; out.String() != want {
		t.Errorf("note %q, want %q", out.String(), want)
	}
	if errOut.Len() != 0 {
		t.Errorf("a clean checkout warned: %s", errOut.String())
	}
	gitcontexttest.WriteFiles(t, dir, map[string]string{"app/a.txt": "changed\n", "app/gen/out.js": "x", "app/node_modules/m/i.js": "x",
		"app/debug.log": "x", "other/d.txt": "x"})
	if err := os.Remove(filepath.Join(dir, "app", "b.txt")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	noteGitContext(&out, &errOut, g)
	warning := errOut.String()
	if !strings.Contains(warning, "the build does not see 3 path(s) of the checkout that differ from commit "+commit+" or are not in it (app/a.txt, app/b.txt, app/gen/)") {
		t.Errorf("warning %q: want app/a.txt, app/b.txt and app/gen/ only", warning)
	}
}
