package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/dockerkit"
)

// The endpoint schemes that BuildKit's connection helpers reach, for real:
// docker-container://NAME (a buildkitd in a container of the stack's Docker
// engine) and ssh://root@127.0.0.1:PORT (a buildkitd of the test's own behind
// an sshd of the test's own). On each, `remote-buildkit build` pushes to the
// stack's registry and `remote-buildkit diagnose` passes.

func TestDockerContainerEndpoint(t *testing.T) {
	s := requireStack(t)
	e := dockerkit.RequireEngine(t)
	// --network host: the daemon in the container reaches the registry on 127.0.0.1:5000.
	c := e.StartBuildkitd(t, fmt.Sprintf("rbk-it-dc-%d", rand.IntN(1_000_000)), "host", s.Buildctl)
	t.Run("build and push", func(t *testing.T) { endpointPush(t, s, c.Host, e.Env()...) })
	t.Run("diagnose", func(t *testing.T) { endpointDiagnose(t, s, c.Host, e.Env()...) })
	t.Run("network none: OCI output to the client", func(t *testing.T) {
		// A daemon that reaches nothing still builds: the image comes back through the session.
		none := e.StartBuildkitd(t, fmt.Sprintf("rbk-it-dcn-%d", rand.IntN(1_000_000)), "none", s.Buildctl)
		dir := writeFiles(t, map[string]string{
			"Dockerfile": "FROM scratch\nCOPY hello.txt /\n",
			"hello.txt":  "hello from a container without a network\n",
		})
		dest := filepath.Join(t.TempDir(), "image.tar")
		r := s.run(t, dir, map[string]any{"buildkit-host": none.Host, "outputs": []string{"type=oci,dest=" + dest}}, e.Env()...)
		if r.Code != 0 {
			t.Fatalf("build through %s failed: %s", none.Host, r)
		}
		if fi, err := os.Stat(dest); err != nil || fi.Size() == 0 {
			t.Fatalf("no OCI tarball at %s (%v): %s", dest, err, r)
		}
	})
}

func TestSSHEndpoint(t *testing.T) {
	s := requireStack(t)
	sshd := os.Getenv("STACK_SSHD")
	if sshd == "" {
		t.Fatal("STACK_SSHD is unset: the stack's env file is out of date: re-run `bash tests/stack/stack.sh up` (it installs openssh-server) and source its env file")
	}
	d := dockerkit.StartDaemon(t, os.Getenv("STACK_BUILDKITD"), s.Buildctl)
	remotePath := "PATH=" + filepath.Dir(s.Buildctl) + ":/usr/local/bin:/usr/bin:/bin"
	// The far side's buildctl finds the daemon in BUILDKIT_HOST.
	srv := dockerkit.StartSSHD(t, sshd, "BUILDKIT_HOST="+d.Host, remotePath)
	env := []string{"PATH=" + srv.ClientPath + ":" + os.Getenv("PATH")}
	before := rootSSHDir(t)
	t.Run("build and push", func(t *testing.T) {
		endpointPush(t, s, srv.Host, env...)
		// The build ran on the test's daemon, the one behind sshd.
		out, err := exec.Command(s.Buildctl, "--addr", d.Host, "du").CombinedOutput()
		if err != nil || len(strings.Split(strings.TrimSpace(string(out)), "\n")) < 2 {
			t.Errorf("the daemon behind sshd has no build records (buildctl du: %v):\n%s", err, out)
		}
	})
	t.Run("diagnose", func(t *testing.T) { endpointDiagnose(t, s, srv.Host, env...) })
	t.Run("socket in the URL path", func(t *testing.T) {
		// No BUILDKIT_HOST on this side: the helper passes the path as buildctl's --addr.
		bare := dockerkit.StartSSHD(t, sshd, remotePath)
		env := []string{"PATH=" + bare.ClientPath + ":" + os.Getenv("PATH")}
		endpointPush(t, s, bare.Host+d.Socket, env...)
	})
	t.Run("stack sshd", func(t *testing.T) {
		// tests/stack/stack.sh up_sshd: in front of the stack's buildkitd (its unix socket).
		host, config := os.Getenv("STACK_SSH_HOST"), os.Getenv("STACK_SSH_CONFIG")
		if host == "" || config == "" {
			t.Fatal("STACK_SSH_HOST or STACK_SSH_CONFIG is unset: the stack's env file is out of date: re-run `bash tests/stack/stack.sh up` and source its env file")
		}
		endpointPush(t, s, host, "PATH="+dockerkit.ClientPath(t, config)+":"+os.Getenv("PATH"))
	})
	if t.Failed() {
		t.Logf("sshd:\n%s\nbuildkitd:\n%s", srv.Log(), d.Log())
	}
	if after := rootSSHDir(t); after != before {
		t.Errorf("the ssh client wrote into root's ~/.ssh: before %q, after %q", before, after)
	}
}

// endpointPush builds an image with a RUN step through host and pushes it;
// the registry serves the digest the binary printed.
func endpointPush(t *testing.T, s *stack, host string, env ...string) {
	t.Helper()
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo " + strings.SplitN(host, ":", 2)[0] + " > /endpoint.txt\n",
	})
	r := s.run(t, dir, map[string]any{"buildkit-host": host, "tags": []string{repo + ":1"}, "push": true}, env...)
	if r.Code != 0 {
		t.Fatalf("build through %s failed: %s", host, r)
	}
	printed := lineValue(r.Stdout, "digest")
	if !strings.HasPrefix(printed, "sha256:") {
		t.Fatalf("no digest line in the output: %s", r)
	}
	if got := s.descriptor(t, repo+":1").Digest.String(); got != printed {
		t.Errorf("registry has %s for %s:1, the binary printed %s", got, repo, printed)
	}
	t.Logf("%s: built and pushed %s@%s in %s", host, repo, printed, r.Elapsed.Round(time.Millisecond))
}

// endpointDiagnose runs diagnose against host: exit 0, no check fails, and
// the daemon answered.
func endpointDiagnose(t *testing.T, s *stack, host string, env ...string) {
	t.Helper()
	rep, r := diag(t, s, map[string]any{"buildkit-host": host, "platforms": []string{"linux/amd64"}}, env...)
	for _, c := range rep.Checks {
		t.Logf("%s %-16s %s", c.Status, c.Name, c.Found)
	}
	if r.Code != 0 || !rep.OK {
		t.Fatalf("diagnose on %s: exit %d, ok %v\n%s", host, r.Code, rep.OK, r)
	}
	if st, found, _ := rep.check(t, "grpc"); st != "PASS" {
		t.Errorf("grpc check: %s %s", st, found)
	}
}

// rootSSHDir lists root's real ~/.ssh (the passwd entry's, which ssh uses
// whatever HOME says), names and sizes.
func rootSSHDir(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("/root/.ssh")
	if os.IsNotExist(err) {
		return "(none)"
	}
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, e := range entries {
		info, _ := e.Info()
		list = append(list, fmt.Sprintf("%s:%d", e.Name(), info.Size()))
	}
	return strings.Join(list, " ")
}
