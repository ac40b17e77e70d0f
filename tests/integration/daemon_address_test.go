package integration

// How the daemon is addressed: its unix socket, and BUILDKIT_HOST as the
// default of buildkit-host.

import (
	"os"
	"strings"
	"testing"
)

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
