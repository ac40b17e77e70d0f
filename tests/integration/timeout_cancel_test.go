package integration

// A build stopped by the timeout option or by the agent's cancel: the exit
// code, the message, the time it takes, and nothing pushed.

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
