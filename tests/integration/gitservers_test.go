package integration

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext/gitcontexttest"
	"github.com/remote-buildkit/remote-buildkit/tests/dockerkit"
	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// gitServers serve the bare repositories in Dir to the daemon's git source
// three ways: git://, ssh:// (a key for an ssh-agent) and http:// with a
// token (user x-access-token, as BuildKit sends a GIT_AUTH_TOKEN secret).
// They are the stack's (STACK_GIT_* variables) when it runs them, else the
// test's own: a git daemon, an sshd and git http-backend behind a Go
// server that checks the token.
type gitServers struct {
	Dir       string // bare repositories: <Dir>/<name>.git
	URL       string // git://host:port
	SSHURL    string // ssh://user@host:port<Dir>
	SSHKey    string // private key the ssh server accepts
	HTTPURL   string // http://host:port/path
	HTTPToken string
}

func requireGitServers(t *testing.T) *gitServers {
	t.Helper()
	if d := os.Getenv("STACK_GIT_DIR"); d != "" {
		return &gitServers{Dir: d, URL: os.Getenv("STACK_GIT_URL"), SSHURL: os.Getenv("STACK_GIT_SSH_URL"),
			SSHKey: os.Getenv("STACK_GIT_SSH_KEY"), HTTPURL: os.Getenv("STACK_GIT_HTTP_URL"), HTTPToken: os.Getenv("STACK_GIT_HTTP_TOKEN")}
	}
	g := &gitServers{Dir: t.TempDir(), HTTPToken: fmt.Sprintf("tok-%d", rand.Int64())}
	g.URL = "git://" + startGitDaemon(t, g.Dir)
	sshd := os.Getenv("STACK_SSHD")
	if sshd == "" {
		t.Fatal("STACK_SSHD is unset: the stack's env file is out of date (re-run `make stack-up`)")
	}
	s := dockerkit.StartSSHD(t, sshd)
	g.SSHURL, g.SSHKey = s.Host+g.Dir, s.Identity
	g.HTTPURL = startGitHTTP(t, g.Dir, g.HTTPToken)
	return g
}

// startGitDaemon serves dir over git:// on a free loopback port until the
// test ends; it returns host:port.
func startGitDaemon(t *testing.T, dir string) string {
	t.Helper()
	port := freePort(t)
	p, err := faultkit.StartProc(t.TempDir(), "git-daemon", "git", nil, "daemon", "--reuseaddr", "--export-all",
		"--base-path="+dir, "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.KillGroup() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := faultkit.WaitListening(p, addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startGitHTTP serves dir with git http-backend to requests with the token;
// it returns the repositories' base URL.
func startGitHTTP(t *testing.T, dir, token string) string {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"}, Root: "/git",
		Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Authorization"), want) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/git"
}

// publish pushes checkout's HEAD to a new bare repository <name>.git on the
// servers (removed when the test ends) and returns name.
func (g *gitServers) publish(t *testing.T, checkout string) string {
	t.Helper()
	name := fmt.Sprintf("it-%s-%d", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), rand.IntN(1_000_000))
	bare := filepath.Join(g.Dir, name+".git")
	gitcontexttest.Git(t, g.Dir, nil, "init", "-q", "--bare", bare)
	t.Cleanup(func() { os.RemoveAll(bare) })
	gitcontexttest.Git(t, checkout, nil, "push", "-q", bare, "HEAD:refs/heads/main")
	return name
}

// sshAgent starts an ssh-agent holding keys until the test ends and
// returns its socket (SSH_AUTH_SOCK).
func sshAgent(t *testing.T, keys ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	p, err := faultkit.StartProc(t.TempDir(), "ssh-agent", "ssh-agent", nil, "-D", "-a", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, k := range keys {
		cmd := exec.Command("ssh-add", k)
		cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v\n%s", k, err, out)
		}
	}
	return sock
}

// byteCounter forwards TCP connections to a daemon and counts the bytes
// the clients send (everything: TLS, gRPC, the session's streams).
type byteCounter struct {
	Host   string // tcp://127.0.0.1:port, for buildkit-host
	up     atomic.Int64
	active atomic.Int64
}

func startByteCounter(t *testing.T, daemon string) *byteCounter {
	t.Helper()
	target := strings.TrimPrefix(daemon, "tcp://")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &byteCounter{Host: "tcp://" + l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.active.Add(1)
			go p.forward(c, target)
		}
	}()
	return p
}

func (p *byteCounter) forward(c net.Conn, target string) {
	defer p.active.Add(-1)
	defer c.Close()
	d, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer d.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(c, d)
		c.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(countingWriter{d, &p.up}, c)
	d.(*net.TCPConn).CloseWrite()
	<-done
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// Sent is how many bytes the clients sent to the daemon, once every
// connection has ended (the client has exited).
func (p *byteCounter) Sent(t *testing.T) int64 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); p.active.Load() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connection(s) to the daemon still open after the client exited", p.active.Load())
		}
	}
	return p.up.Load()
}

// Reset starts counting again from zero.
func (p *byteCounter) Reset() { p.up.Store(0) }
