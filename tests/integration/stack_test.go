// Package integration runs the real remote-buildkit binary against the local
// stack started by tests/stack/stack.sh: a mTLS buildkitd v0.34.2 (plus v0.33.1 and v0.32.2 for skew tests) and an
// htpasswd-protected registry. `make test-integration` starts the stack and
// exports its env file; without it every test here skips, saying so.
package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// stack is the local test stack, read from the variables of its env file.
type stack struct {
	BuildkitHost string // tcp://127.0.0.1:1234, mTLS
	TLSDir       string // client ca.pem cert.pem key.pem
	Registry     string // 127.0.0.1:5000
	User, Pass   string
	DockerConfig string // dir whose config.json holds the registry's credentials
	Buildctl     string
	BaseImage    string
}

var bin string // the remote-buildkit binary under test

func TestMain(m *testing.M) {
	if p := os.Getenv("REMOTE_BUILDKIT_BIN"); p != "" {
		bin = p
	} else if os.Getenv("STACK_BUILDKIT_HOST") != "" {
		dir, err := os.MkdirTemp("", "remote-buildkit-it-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "remote-buildkit")
		cmd := exec.Command("go", "build", "-o", bin, "../../cmd/remote-buildkit")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

func requireStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{
		BuildkitHost: os.Getenv("STACK_BUILDKIT_HOST"),
		TLSDir:       os.Getenv("STACK_TLS_DIR"),
		Registry:     os.Getenv("STACK_REGISTRY"),
		User:         os.Getenv("STACK_REGISTRY_USER"),
		Pass:         os.Getenv("STACK_REGISTRY_PASSWORD"),
		DockerConfig: os.Getenv("STACK_DOCKER_CONFIG"),
		Buildctl:     os.Getenv("STACK_BUILDCTL"),
		BaseImage:    os.Getenv("STACK_BASE_IMAGE"),
	}
	if s.BuildkitHost == "" || s.Registry == "" {
		t.Skip("local stack not running: STACK_BUILDKIT_HOST is unset (run `make test-integration`, which starts it)")
	}
	return s
}

// repo returns a fresh repository name in the stack's registry.
func (s *stack) repo(t *testing.T) string {
	base := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	return fmt.Sprintf("%s/it/%s-%d", s.Registry, base, rand.IntN(1_000_000))
}

// baseConfig is the connection part every build test shares.
func (s *stack) baseConfig(extra map[string]any) map[string]any {
	cfg := map[string]any{
		"buildkit-host": s.BuildkitHost,
		"tls-dir":       s.TLSDir,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

type result struct {
	Stdout, Stderr string
	Code           int
	Elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\n--- stdout\n%s\n--- stderr\n%s", r.Code, r.Elapsed.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// run executes `remote-buildkit build` in dir with cfg as the plugin
// configuration, a job-like environment and its own HOME.
func (s *stack) run(t *testing.T, dir string, cfg map[string]any, env ...string) result {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "build")
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"BUILDKITE=true",
		"DOCKER_CONFIG=" + s.DockerConfig,
		"BUILDKITE_PLUGIN_CONFIGURATION=" + string(js),
	}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return r
}

// writeFiles creates a build context from name → content.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// lineValue returns the value of the first "key: value" line in out.
func lineValue(out, key string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func readMetadata(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("metadata file: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("metadata file is not JSON: %v\n%s", err, b)
	}
	return m
}

// Registry access through go-containerregistry, as an independent client.

func (s *stack) ref(t *testing.T, r string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (s *stack) auth() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: s.User, Password: s.Pass})
}

// descriptor fetches the manifest (or index) a reference points at.
func (s *stack) descriptor(t *testing.T, r string) *remote.Descriptor {
	t.Helper()
	d, err := remote.Get(s.ref(t, r), s.auth())
	if err != nil {
		t.Fatalf("registry: get %s: %v", r, err)
	}
	return d
}

// repoMissing reports whether the registry has no tags for repository repo.
func (s *stack) repoMissing(t *testing.T, repo string) bool {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r, s.auth())
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == 404 {
		return true
	}
	if err != nil {
		t.Fatalf("registry: list %s: %v", repo, err)
	}
	return len(tags) == 0
}

// layerFiles returns every file path → content in the image's layers.
func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(h.Name, "./")] = b
		}
		rc.Close()
	}
	return files
}

// rawLayers returns the compressed and uncompressed bytes of every layer.
func rawLayers(t *testing.T, img v1.Image) [][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range layers {
		for _, open := range []func() (io.ReadCloser, error){l.Compressed, l.Uncompressed} {
			rc, err := open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			out = append(out, b)
		}
	}
	return out
}
