package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

type diagReport struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Found  string `json:"found"`
		Fix    string `json:"fix"`
		Millis int64  `json:"ms"`
	} `json:"checks"`
}

// diag runs `remote-buildkit diagnose --format json` and parses the report.
func diag(t *testing.T, s *stack, cfg map[string]any, env ...string) (diagReport, result) {
	t.Helper()
	js, _ := json.Marshal(cfg)
	cmd := exec.Command(bin, "diagnose", "--format", "json")
	cmd.Dir = t.TempDir()
	cmd.Env = mergeEnv([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"DOCKER_CONFIG=" + s.DockerConfig,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"BUILDKITE_PLUGIN_CONFIGURATION=" + string(js),
	}, env)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start), Code: cmd.ProcessState.ExitCode()}
	if err != nil && r.Code < 0 {
		t.Fatalf("diagnose: %v", err)
	}
	var rep diagReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("diagnose --format json is not JSON: %v\n%s", err, r)
	}
	return rep, r
}

// check returns the named check (with an optional node prefix).
func (d diagReport) check(t *testing.T, name string) (status, found, fix string) {
	t.Helper()
	for _, c := range d.Checks {
		if c.Name == name {
			return c.Status, c.Found, c.Fix
		}
	}
	t.Fatalf("no check %q in %+v", name, d.Checks)
	return
}

// A healthy stack: every check passes.
func TestDiagHealthyStack(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	b := newBucket(t, s3Client(a.Moto, "test", "test"))
	b.putSet("buildkit/", stackClientSet(t))
	repo := "diag-healthy"
	create := exec.Command("aws", "--endpoint-url", a.Moto, "--region", "us-east-1", "ecr", "create-repository", "--repository-name", repo)
	create.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true")
	if out, err := create.CombinedOutput(); err != nil && !strings.Contains(string(out), "AlreadyExists") {
		t.Fatalf("create ECR repository: %v\n%s", err, out)
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/v2/access-token"):
			fmt.Fprint(w, `{"uuid":"u","scopes":["read_agents","read_builds"]}`)
		case strings.HasSuffix(r.URL.Path, "/v2/organizations/e2e/agents") && r.URL.Query().Get("name") == "diag-agent":
			fmt.Fprint(w, `[{"name":"diag-agent","connection_state":"connected"}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	env := []string{
		"AWS_ENDPOINT_URL=" + a.Moto,
		"REMOTE_BUILDKIT_ECR_HOSTS=" + s.Registry + "=123456789012/us-east-1",
		"BUILDKITE_API_TOKEN=test-token", "BUILDKITE_API_URL=" + api.URL + "/",
		"BUILDKITE_ORGANIZATION_SLUG=e2e", "BUILDKITE_AGENT_NAME=diag-agent",
	}
	if agent := os.Getenv("STACK_BUILDKITE_AGENT"); agent != "" {
		env = append(env, "PATH="+filepath.Dir(agent)+":"+os.Getenv("PATH"))
	}
	cfg := map[string]any{
		"buildkit-host": s.BuildkitHost, "secrets-bucket": b.Name, "secrets-region": "us-east-1",
		"tags": []string{s.Registry + "/" + repo + ":1"}, "platforms": []string{"linux/amd64"},
	}
	// As on an agent after the plugin's environment hook ran.
	home := t.TempDir()
	env = append(env, "HOME="+home)
	js, _ := json.Marshal(cfg)
	install := exec.Command(bin, "environment")
	install.Env = mergeEnv(os.Environ(), append([]string{"BUILDKITE_PLUGIN_CONFIGURATION=" + string(js),
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}, env...))
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("remote-buildkit environment: %v\n%s", err, out)
	}
	rep, r := diag(t, s, cfg, env...)
	for _, c := range rep.Checks {
		t.Logf("%s %-16s %s", c.Status, c.Name, c.Found)
		if c.Status != "PASS" {
			t.Errorf("%s is %s on a healthy stack: %s — %s", c.Name, c.Status, c.Found, c.Fix)
		}
	}
	if !rep.OK || r.Code != 0 {
		t.Errorf("report not OK or exit %d", r.Code)
	}
	if r.Elapsed > 15*time.Second {
		t.Errorf("took %s", r.Elapsed)
	}
}

// Each failure, produced for real: the check, its fix, exit 1, < 15 s.
func TestDiagFailures(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	plain := os.Getenv("STACK_PLAIN_BUILDKIT_HOST")
	if plain == "" {
		t.Fatal("STACK_PLAIN_BUILDKIT_HOST is unset: re-run `make stack-up`")
	}
	// A port nobody listens on; a listener that accepts and never answers.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	faultkit.Hold(hole)

	ca := stackCA(t)
	tlsDir := func(set certSet, keyMode os.FileMode) string {
		d := t.TempDir()
		writeSet(t, d, set)
		os.Chmod(filepath.Join(d, "key.pem"), keyMode)
		return d
	}
	good := stackClientSet(t)
	expired := ca.issue(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	expired.CA = good.CA
	foreign := newCA(t, "other CA").valid(t, "agent")
	foreign.CA = good.CA
	b := newBucket(t, s3Client(a.Moto, "test", "test"))
	b.put("buildkit/ca.pem", good.CA)
	b.put("buildkit/cert.pem", good.Cert) // key.pem missing
	denied := startMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT=0")

	tests := []struct {
		name   string
		cfg    map[string]any
		env    []string
		check  string
		status string
		found  string
		fix    string
	}{
		{"daemon stopped", map[string]any{"buildkit-host": "tcp://" + closedAddr, "tls-dir": s.TLSDir}, nil,
			"tcp", "FAIL", "connection refused", "start buildkitd"},
		{"port black-holed", map[string]any{"buildkit-host": "tcp://" + hole.Addr().String(), "tls-dir": s.TLSDir}, nil,
			"tls-mode", "FAIL", "accepts TCP but does not answer", "journalctl"},
		{"plaintext client to the TLS daemon", map[string]any{"buildkit-host": s.BuildkitHost}, nil,
			"tls-mode", "FAIL", "error reading server preface", "ca.pem, cert.pem, key.pem"},
		{"TLS client to the plaintext daemon", map[string]any{"buildkit-host": plain, "tls-dir": s.TLSDir}, nil,
			"tls-mode", "FAIL", "does not speak TLS", "--tlscacert"},
		{"wrong server name", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir, "tls-server-name": "wrong.example"}, nil,
			"certificates", "FAIL", `does not cover "wrong.example"`, "tls-server-name"},
		{"expired client cert", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": tlsDir(expired, 0o600)}, nil,
			"certificates", "FAIL", "expired on", "upload a matching, current set"},
		{"client cert from another CA", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": tlsDir(foreign, 0o600)}, nil,
			"certificates", "FAIL", "not signed by the CA", "upload"},
		{"key file mode 0644", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": tlsDir(good, 0o644)}, nil,
			"certificates", "FAIL", "key.pem has mode 0644: the private key is readable by other users", "chmod 600"},
		{"missing bucket object", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir, "secrets-bucket": b.Name, "secrets-region": "us-east-1"},
			[]string{"AWS_ENDPOINT_URL=" + a.Moto}, "secrets-bucket", "FAIL", "missing in s3://" + b.Name + "/buildkit/: key.pem", "aws s3 cp"},
		{"ECR denied", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": tlsDir(good, 0o600), "tags": []string{s.Registry + "/diag-denied:1"}},
			[]string{"AWS_ENDPOINT_URL_ECR=" + denied, "REMOTE_BUILDKIT_ECR_HOSTS=" + s.Registry + "=123456789012/us-east-1"},
			"ecr", "FAIL", "GetAuthorizationToken", "ecr:GetAuthorizationToken"},
		{"platform the workers lack", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir, "platforms": []string{"linux/amd64", "linux/arm64"}}, nil,
			"platforms", "WARN", "not supported by the workers: linux/arm64", "binfmt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, r := diag(t, s, tt.cfg, tt.env...)
			status, found, fix := rep.check(t, tt.check)
			t.Logf("%s in %s: %s %s: %s — %s", tt.name, r.Elapsed.Round(time.Millisecond), status, tt.check, found, fix)
			if status != tt.status || !strings.Contains(found, tt.found) || !strings.Contains(fix, tt.fix) {
				t.Errorf("%s = %s %q (fix %q); want %s containing %q and fix %q", tt.check, status, found, fix, tt.status, tt.found, tt.fix)
			}
			wantCode := 1
			if tt.status == "WARN" {
				wantCode = 0
			}
			if r.Code != wantCode {
				t.Errorf("exit %d, want %d", r.Code, wantCode)
			}
			if r.Elapsed > 15*time.Second {
				t.Errorf("took %s, want < 15 s", r.Elapsed)
			}
		})
	}
}

// Version skew: diagnose warns (strict fails); the build warns and builds
// with warn, and stops before building with strict; an old buildctl on PATH
// is named.
func TestDiagVersionSkew(t *testing.T) {
	s := requireStack(t)
	old, oldCtl := os.Getenv("STACK_OLD_BUILDKIT_HOST"), os.Getenv("STACK_OLD_BUILDCTL")
	if old == "" || oldCtl == "" {
		t.Fatal("STACK_OLD_BUILDKIT_HOST/STACK_OLD_BUILDCTL unset: re-run `make stack-up`")
	}
	client := os.Getenv("STACK_BUILDKIT_VERSION") // the stack's default daemon runs the client library's version
	rep, _ := diag(t, s, map[string]any{"buildkit-host": old, "tls-dir": s.TLSDir})
	if st, found, _ := rep.check(t, "versions"); st != "WARN" || !strings.Contains(found, "v0.32.2") || !strings.Contains(found, client) {
		t.Errorf("versions = %s %q, want WARN naming v0.32.2 and %s", st, found, client)
	}
	rep, r := diag(t, s, map[string]any{"buildkit-host": old, "tls-dir": s.TLSDir, "version-check": "strict"})
	if st, _, _ := rep.check(t, "versions"); st != "FAIL" || r.Code != 1 {
		t.Errorf("strict: versions = %s, exit %d; want FAIL, 1", st, r.Code)
	}

	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	cfg := map[string]any{"buildkit-host": old, "tls-dir": s.TLSDir, "tags": []string{repo + ":warn"}, "push": true}
	br := s.run(t, dir, cfg)
	if br.Code != 0 || !strings.Contains(br.Stderr, "WARNING: BuildKit daemon and client versions differ (buildkitd v0.32.2, client library "+client+")") {
		t.Errorf("warn: want a build with the version warning: %s", br)
	}
	cfg["version-check"], cfg["tags"] = "strict", []string{repo + ":strict"}
	br = s.run(t, dir, cfg)
	if br.Code != 7 || !strings.Contains(br.Stderr, "version-check: strict") || strings.Contains(br.Stdout, "digest:") {
		t.Errorf("strict: want exit 7 before building: %s", br)
	}
	if tags := s.tags(t, repo); len(tags) != 1 || tags[0] != "warn" {
		t.Errorf("registry tags %v, want only the warn build's", tags)
	}

	// An old buildctl on PATH is reported against a current daemon.
	pathDir := t.TempDir()
	if err := os.Symlink(oldCtl, filepath.Join(pathDir, "buildctl")); err != nil {
		t.Fatal(err)
	}
	rep, _ = diag(t, s, map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir}, "PATH="+pathDir+":"+os.Getenv("PATH"))
	if st, found, _ := rep.check(t, "versions"); st != "WARN" || !strings.Contains(found, "buildctl v0.32.2") {
		t.Errorf("old buildctl: versions = %s %q", st, found)
	}
	br = s.run(t, dir, map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir}, "PATH="+pathDir+":"+os.Getenv("PATH"))
	if br.Code != 0 || !strings.Contains(br.Stderr, "the agent's buildctl differs from the daemon") {
		t.Errorf("old buildctl: want a build with the buildctl warning: %s", br)
	}
}

// diagnose: true makes the command run the report instead of a build; the
// text format prints one line per check.
func TestDiagFromThePipeline(t *testing.T) {
	s := requireStack(t)
	dir := t.TempDir() // no Dockerfile: nothing is built
	r := s.run(t, dir, map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir, "diagnose": true})
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) < 10 || lines[0] != "--- :stethoscope: remote-buildkit diagnose" {
		t.Fatalf("not a diagnose report: %s", r)
	}
	for _, l := range lines[1:] {
		st, _, _ := strings.Cut(l, " ")
		if st != "PASS" && st != "WARN" && st != "FAIL" && st != "SKIP" {
			t.Errorf("line %q does not start with a status", l)
		}
	}
	if strings.Contains(r.Stdout, "digest:") {
		t.Errorf("diagnose: true built something: %s", r)
	}
}

// tags lists a repository's tags in the stack's registry.
func (s *stack) tags(t *testing.T, repo string) []string {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r, s.auth())
	if err != nil && !s.repoMissing(t, repo) {
		t.Fatalf("list %s: %v", repo, err)
	}
	return tags
}
