package dockerkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// Daemon is a buildkitd of the test's own on a unix socket, without TLS:
// its own --root and a --config whose only setting is an OTEL socket inside
// that root (the default socket path is shared by every daemon on the
// machine: see up_extra_buildkitd in tests/stack/stack.sh).
type Daemon struct {
	Socket string // the socket's path
	Host   string // unix://Socket
	Root   string
	p      *faultkit.Proc
}

// StartDaemon starts buildkitd (the stack's, $STACK_BUILDKITD) and waits
// until buildctl answers through its socket; it stops when the test ends.
func StartDaemon(t testing.TB, buildkitd, buildctl string) *Daemon {
	t.Helper()
	if buildkitd == "" || buildctl == "" {
		t.Fatal("STACK_BUILDKITD or STACK_BUILDCTL is unset: re-run `bash tests/stack/stack.sh up` and source its env file")
	}
	// Not t.TempDir: a socket path must stay short (108 bytes), and test names are long.
	root, err := os.MkdirTemp("", "rbk-bk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	conf := filepath.Join(root, "buildkitd.toml")
	otel := fmt.Sprintf("[otel]\n  socketPath = %q\n", filepath.Join(root, "otel-grpc.sock"))
	if err := os.WriteFile(conf, []byte(otel), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Socket: filepath.Join(root, "buildkitd.sock"), Root: root}
	d.Host = "unix://" + d.Socket
	d.p, err = faultkit.StartProc(root, "buildkitd", buildkitd, nil,
		"--addr", d.Host, "--root", filepath.Join(root, "state"), "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(d.p) })
	err = waitFor(d.p, 30*time.Second, func() error {
		out, err := exec.Command(buildctl, "--addr", d.Host, "debug", "workers").CombinedOutput()
		if err != nil {
			return fmt.Errorf("buildctl debug workers: %v: %s", err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Log is the daemon's output so far.
func (d *Daemon) Log() string { return tail(d.p) }
