// Package dockerkit gives the integration tests the BuildKit endpoints that
// are reached through BuildKit's connection helpers, for real:
//
//   - docker-container://NAME: a buildkitd in a container of the stack's
//     own Docker engine (tests/stack/stack.sh up_docker), started from the
//     stack's buildkitd image; the helper runs `docker exec -i NAME buildctl
//     dial-stdio`, so the docker CLI must be on PATH and DOCKER_HOST must
//     name the engine.
//   - ssh://root@127.0.0.1:PORT: a buildkitd of the test's own behind an
//     sshd of the test's own; the helper runs `ssh -l root -p PORT --
//     127.0.0.1 buildctl [--addr unix://PATH] dial-stdio`, so the far side
//     needs buildctl on its PATH and the daemon's address in BUILDKIT_HOST
//     (or the socket in the URL's path).
package dockerkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Engine is the stack's Docker engine.
type Engine struct {
	Host   string   // unix://…/docker.sock: $STACK_DOCKER_HOST
	Image  string   // the buildkitd image: $STACK_DOCKER_BUILDKITD_IMAGE
	Flags  []string // how that image runs a working buildkitd here: $STACK_DOCKER_BUILDKITD_FLAGS
	config string   // DOCKER_CONFIG of the kit's CLI calls: the test's own, empty
}

// RequireEngine returns the stack's engine, or skips the test when the
// stack has none (STACK_DOCKER_HOST unset).
func RequireEngine(t testing.TB) *Engine {
	t.Helper()
	e := &Engine{
		Host:  os.Getenv("STACK_DOCKER_HOST"),
		Image: os.Getenv("STACK_DOCKER_BUILDKITD_IMAGE"),
		Flags: strings.Fields(os.Getenv("STACK_DOCKER_BUILDKITD_FLAGS")),
	}
	if e.Host == "" {
		t.Fatal("the stack's Docker engine is not running: STACK_DOCKER_HOST is unset (run `bash tests/stack/stack.sh up` and source its env file)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("STACK_DOCKER_HOST is set but the docker CLI is not on PATH (Debian docker.io ships it): %v", err)
	}
	e.config = t.TempDir()
	return e
}

// Env is what a process needs to reach the engine with the docker CLI.
func (e *Engine) Env() []string { return []string{"DOCKER_HOST=" + e.Host} }

// Docker runs the docker CLI against the engine and returns its standard
// output; the error holds its standard error.
func (e *Engine) Docker(args ...string) (string, error) {
	cmd := e.command("docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// command is bin with args and an environment that reaches the engine.
func (e *Engine) command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.Host, "DOCKER_CONFIG="+e.config)
	return cmd
}

// Container is a buildkitd in a container of the engine.
type Container struct {
	Name string
	Host string // docker-container://Name
	e    *Engine
}

// StartBuildkitd starts a buildkitd container named name on network ("host"
// shares the machine's loopback, so the daemon reaches the stack's registry;
// "none" reaches nothing) and waits until buildctl answers through the
// docker-container:// helper. The container and its volume are removed when
// the test ends.
func (e *Engine) StartBuildkitd(t testing.TB, name, network, buildctl string) *Container {
	t.Helper()
	if e.Image == "" || buildctl == "" {
		t.Fatal("STACK_DOCKER_BUILDKITD_IMAGE or STACK_BUILDCTL is unset: re-run `bash tests/stack/stack.sh up` and source its env file")
	}
	_, _ = e.Docker("rm", "-f", "-v", name) // a leftover of an interrupted run
	args := append([]string{"run", "-d", "--name", name, "--network", network}, e.Flags...)
	if _, err := e.Docker(append(args, e.Image)...); err != nil {
		t.Fatal(err)
	}
	c := &Container{Name: name, Host: "docker-container://" + name, e: e}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("buildkitd container %s:\n%s", name, c.Logs())
		}
		if _, err := e.Docker("rm", "-f", "-v", name); err != nil {
			t.Errorf("remove container: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := e.command(buildctl, "--addr", c.Host, "debug", "workers").CombinedOutput()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd in container %s does not answer through %s: %v\n%s\n%s", name, c.Host, err, out, c.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Logs is the container's output (buildkitd's log).
func (c *Container) Logs() string {
	out, err := c.e.command("docker", "logs", "--tail", "40", c.Name).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("docker logs %s: %v\n%s", c.Name, err, out)
	}
	return string(out)
}
