package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// outputs: type=registry is sent as type=image,push=true and really pushes.
func TestRegistryOutputAlias(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	r := s.run(t, dir, s.baseConfig(map[string]any{
		"outputs": []string{"type=registry,name=" + repo + ":alias"},
	}))
	if r.Code != 0 {
		t.Fatalf("build failed: %s", r)
	}
	d := s.descriptor(t, repo+":alias")
	if got, printed := d.Digest.String(), lineValue(r.Stdout, "digest"); got != printed {
		t.Errorf("registry has %s, binary printed %s", got, printed)
	}
	if !strings.Contains(r.Stdout, "pushed: "+repo+":alias@") {
		t.Errorf("pushed reference not printed: %s", r)
	}
}

// The same daemon over its unix socket: no TLS, same build.
func TestUnixSocket(t *testing.T) {
	s := requireStack(t)
	sock := os.Getenv("STACK_BUILDKIT_UNIX_HOST")
	if sock == "" {
		t.Fatal("STACK_BUILDKIT_UNIX_HOST is unset: the stack's env file is out of date (re-run `make stack-up`)")
	}
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo via-unix > /u\n"})
	r := s.run(t, dir, map[string]any{"buildkit-host": sock, "tags": []string{s.repo(t) + ":unix"}, "push": true})
	if r.Code != 0 {
		t.Fatalf("build over %s failed: %s", sock, r)
	}
	if !strings.Contains(r.Stdout, "at "+sock+" (no TLS)") {
		t.Errorf("connection line does not show the unix socket without TLS: %s", r)
	}
}

// BUILDKIT_HOST is the default for buildkit-host, as with buildctl.
func TestBuildkitHostFromEnvironment(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	cfg := s.baseConfig(nil)
	delete(cfg, "buildkit-host")
	r := s.run(t, dir, cfg, "BUILDKIT_HOST="+s.BuildkitHost)
	if r.Code != 0 || !strings.Contains(r.Stdout, "at "+s.BuildkitHost+" (mTLS") {
		t.Fatalf("build with BUILDKIT_HOST failed or did not use mTLS: %s", r)
	}
}

// timeout: the build is stopped, exit 5, nothing pushed.
func TestTimeout(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo " + repo + " && sleep 60\n"})
	r := s.run(t, dir, s.baseConfig(map[string]any{"tags": []string{repo + ":slow"}, "push": true, "timeout": "3s"}))
	if r.Code != 5 || !strings.Contains(r.Stderr, "timeout option") {
		t.Fatalf("want exit 5 naming the timeout option: %s", r)
	}
	if r.Elapsed > 15*time.Second {
		t.Errorf("a 3s timeout took %s", r.Elapsed)
	}
	if !s.repoMissing(t, repo) {
		t.Errorf("a timed-out build pushed %s", repo)
	}
}

// SIGTERM (what the agent sends on cancel) stops the build: exit 130, "build cancelled".
func TestCancelOnSIGTERM(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo " + repo + " && sleep 120\n"})
	js, _ := json.Marshal(s.baseConfig(map[string]any{"tags": []string{repo + ":cancel"}, "push": true}))
	cmd := exec.Command(bin, "build")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "BUILDKITE=true",
		"DOCKER_CONFIG=" + s.DockerConfig, "BUILDKITE_PLUGIN_CONFIGURATION=" + string(js)}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the RUN step is running on the daemon.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "sleep 120") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	elapsed := time.Since(start)
	code := cmd.ProcessState.ExitCode()
	if code != 130 || !strings.Contains(stderr.String(), "remote-buildkit: error: build cancelled") {
		t.Fatalf("want exit 130 and 'build cancelled', got %d (%v)\n%s\n%s", code, err, stdout.String(), stderr.String())
	}
	if elapsed > 10*time.Second {
		t.Errorf("took %s to stop after SIGTERM", elapsed)
	}
	if !s.repoMissing(t, repo) {
		t.Errorf("a cancelled build pushed %s", repo)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
