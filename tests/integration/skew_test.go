package integration

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// The stack's default daemon runs the client library's version (v0.34.2):
// no warning. A v0.33.1 daemon (older than the client) and a v0.33.1
// buildctl beside a v0.34.2 daemon (older than the daemon) each warn,
// naming both versions; strict refuses a v0.32.2 daemon before building.
func TestVersionSkewBothDirections(t *testing.T) {
	s := requireStack(t)
	client, mid, midVer, midCtl := os.Getenv("STACK_BUILDKIT_VERSION"), os.Getenv("STACK_MID_BUILDKIT_HOST"),
		os.Getenv("STACK_MID_BUILDKIT_VERSION"), os.Getenv("STACK_MID_BUILDCTL")
	if mid == "" || midCtl == "" {
		t.Fatal("STACK_MID_BUILDKIT_HOST/STACK_MID_BUILDCTL unset: re-run `make stack-up`")
	}
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	emptyPath := "PATH=" + t.TempDir() + ":/usr/bin:/bin" // no buildctl: only daemon and library compared

	same := s.run(t, dir, map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir}, emptyPath)
	if same.Code != 0 || strings.Contains(same.Stderr, "WARNING") || !strings.Contains(same.Stdout, "Connected to BuildKit "+client) {
		t.Errorf("same version: want a clean build on %s: %s", client, same)
	}

	older := s.run(t, dir, map[string]any{"buildkit-host": mid, "tls-dir": s.TLSDir}, emptyPath)
	want := "WARNING: BuildKit daemon and client versions differ (buildkitd " + midVer + ", client library " + client + ")"
	if older.Code != 0 || !strings.Contains(older.Stderr, want) {
		t.Errorf("older daemon: want exit 0 with %q: %s", want, older)
	}

	pathDir := t.TempDir()
	if err := os.Symlink(midCtl, filepath.Join(pathDir, "buildctl")); err != nil {
		t.Fatal(err)
	}
	olderCtl := s.run(t, dir, map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir}, "PATH="+pathDir+":/usr/bin:/bin")
	if olderCtl.Code != 0 || !strings.Contains(olderCtl.Stderr, "buildctl "+midVer) || !strings.Contains(olderCtl.Stderr, client) {
		t.Errorf("older buildctl: want a warning naming buildctl %s and %s: %s", midVer, client, olderCtl)
	}

	strict := s.run(t, dir, map[string]any{"buildkit-host": os.Getenv("STACK_OLD_BUILDKIT_HOST"), "tls-dir": s.TLSDir, "version-check": "strict"}, emptyPath)
	if strict.Code != 7 || !strings.Contains(strict.Stderr, "v0.32.2") || !strings.Contains(strict.Stderr, client) || strings.Contains(strict.Stderr, "#1 ") {
		t.Errorf("strict against v0.32.2: want exit 7 naming both versions before any build step: %s", strict)
	}
}

// A nodes set that cannot build the request is a configuration error found
// before anything is dialled: the listeners standing in for the nodes see
// no connection at all.
func TestParallelNodesMisconfiguredNoDial(t *testing.T) {
	s := requireStack(t)
	var conns atomic.Int32
	listen := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		faultkit.Serve(l, func(net.Conn) { conns.Add(1) })
		return "tcp://" + l.Addr().String()
	}
	amd, arm := listen(), listen()
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	nodes := []map[string]any{{"name": "amd", "host": amd, "platforms": []string{"linux/amd64"}}, {"name": "arm", "host": arm, "platforms": []string{"linux/arm64"}}}
	cases := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"platform no node declares", map[string]any{"nodes": nodes, "platforms": []string{"linux/amd64", "linux/s390x"}, "tags": []string{s.Registry + "/it/nodial:1"}, "push": true},
			"no node in nodes declares linux/s390x"},
		{"split without push", map[string]any{"nodes": nodes, "platforms": []string{"linux/amd64", "linux/arm64"}, "tags": []string{s.Registry + "/it/nodial:1"}},
			"set push: true with tags"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.run(t, dir, tc.cfg)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("want exit 2 naming %q: %s", tc.want, r)
			}
		})
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d TCP connection(s) reached the nodes; want none before the configuration is rejected", n)
	}
}
