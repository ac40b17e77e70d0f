package integration

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// Bad input: one line naming the option, exit 2, and nothing pushed.
func TestBadInput(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	good := func() string {
		return writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	}
	tests := []struct {
		name    string
		dir     string
		cfg     map[string]any
		wantKey string
		wantMsg string
	}{
		{"unknown key", good(), map[string]any{"tag": []string{repo + ":x"}}, "tag", `did you mean "tags"`},
		{"wrong type", good(), map[string]any{"push": "yes"}, "push", "must be a boolean"},
		{"invalid platform", good(), map[string]any{"platforms": []string{"linux/amd64", "linux/sparc99"}}, "platforms[1]", "not a known platform"},
		{"invalid tag", good(), map[string]any{"tags": []string{repo + ":ok", "Not A Ref!"}}, "tags[1]", "not a valid image reference"},
		{"missing Dockerfile", good(), map[string]any{"dockerfile": "nope/Dockerfile"}, "dockerfile", "does not exist"},
		{"missing context", good(), map[string]any{"context": "no-such-dir"}, "context", "does not exist"},
		{"bad secret spec", good(), map[string]any{"secrets": []string{"id=tok,envv=TOKEN"}}, "secrets[0]", `unknown key "envv"`},
		{"secret env unset", good(), map[string]any{"secrets": []string{"id=tok,env=NO_SUCH_VAR_X"}}, "secrets[0]", "NO_SUCH_VAR_X is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.baseConfig(map[string]any{"tags": []string{repo + ":x"}, "push": true})
			for k, v := range tt.cfg {
				cfg[k] = v
			}
			r := s.run(t, tt.dir, cfg)
			if r.Code != 2 {
				t.Fatalf("want exit 2: %s", r)
			}
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			var found string
			for _, l := range lines {
				if strings.HasPrefix(l, "remote-buildkit: configuration error: "+tt.wantKey+": ") {
					found = l
				}
			}
			if found == "" || !strings.Contains(found, tt.wantMsg) {
				t.Fatalf("no line naming %q with %q: %s", tt.wantKey, tt.wantMsg, r)
			}
			if len(lines) > 2 { // "^^^ +++" plus the one problem
				t.Errorf("want one error line, got %d: %s", len(lines), r)
			}
			if r.Elapsed > 5*time.Second {
				t.Errorf("config error took %s", r.Elapsed)
			}
		})
	}
	if !s.repoMissing(t, repo) {
		t.Errorf("bad input pushed %s", repo)
	}
}

// Runtime failures: a clear one-line message, exit ≠ 0, bounded time.
func TestRuntimeFailures(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN true\n"})

	// A listener that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	faultkit.Hold(silent)
	// A port nobody listens on.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	emptyTLS := t.TempDir()
	badAuth := t.TempDir()
	if err := os.WriteFile(filepath.Join(badAuth, "config.json"),
		[]byte(`{"auths":{"`+s.Registry+`":{"auth":"Y2k6d3JvbmctcGFzc3dvcmQ="}}}`), 0o600); err != nil { // ci:wrong-password
		t.Fatal(err)
	}
	repo := s.repo(t)
	scratchDir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})

	tests := []struct {
		name     string
		dir      string
		cfg      map[string]any
		env      []string
		wantCode int
		want     string
		within   time.Duration
	}{
		// Nothing listening: waited out within connect-timeout, then run once more (retries: 1).
		{"unreachable host", "", map[string]any{"buildkit-host": "tcp://" + closedAddr, "connect-timeout": "2s"}, nil,
			3, "nothing is listening at tcp://" + closedAddr, 10 * time.Second},
		{"silent host hits connect-timeout", "", map[string]any{"buildkit-host": "tcp://" + silent.Addr().String(), "connect-timeout": "3s"}, nil,
			3, "within 3s (connect-timeout)", 10 * time.Second},
		{"TLS files missing", "", map[string]any{"tls-dir": emptyTLS}, nil,
			3, "TLS files missing in " + emptyTLS, 5 * time.Second},
		{"plaintext client to the TLS daemon", "", map[string]any{"tls-dir": nil}, nil,
			3, "expects TLS", 30 * time.Second},
		{"wrong server name", "", map[string]any{"tls-server-name": "wrong.example"}, nil,
			3, "set tls-server-name", 30 * time.Second},
		{"registry auth denied on pull", "", map[string]any{"tags": []string{repo + ":denied"}, "push": true}, []string{"DOCKER_CONFIG=" + badAuth},
			4, "registry " + s.Registry + " refused the credentials", 60 * time.Second},
		{"registry auth denied on push", scratchDir, map[string]any{"tags": []string{repo + ":denied"}, "push": true}, []string{"DOCKER_CONFIG=" + badAuth},
			4, "registry " + s.Registry + " refused the credentials", 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.baseConfig(nil)
			for k, v := range tt.cfg {
				if v == nil {
					delete(cfg, k)
					continue
				}
				cfg[k] = v
			}
			d := dir
			if tt.dir != "" {
				d = tt.dir
			}
			r := s.run(t, d, cfg, tt.env...)
			if r.Code != tt.wantCode {
				t.Fatalf("want exit %d: %s", tt.wantCode, r)
			}
			var errLines []string
			for _, l := range strings.Split(r.Stderr, "\n") {
				if strings.HasPrefix(l, "remote-buildkit: error: ") {
					errLines = append(errLines, l)
				}
			}
			if len(errLines) != 1 || !strings.Contains(errLines[0], tt.want) {
				t.Fatalf("want one error line containing %q, got %q: %s", tt.want, errLines, r)
			}
			if r.Elapsed > tt.within {
				t.Errorf("took %s, want < %s", r.Elapsed, tt.within)
			}
			t.Logf("%s in %s: %s", tt.name, r.Elapsed.Round(time.Millisecond), errLines[0])
		})
	}
	if !s.repoMissing(t, repo) {
		t.Errorf("a denied push left %s in the registry", repo)
	}
}
