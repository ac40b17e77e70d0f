// Package faultkit is the fault-injection kit of the integration tests and
// the bench: real buildkitd, toxiproxy and faultproxy processes started on
// loopback ports, killed and restarted on demand, and a runner for the
// remote-buildkit binary that watches its output line by line.
//
// Everything here returns errors instead of taking a *testing.T, so that
// tests/integration and bench share it. Every process is started in its own
// process group and killed by that group's id: nothing else is touched.
package faultkit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a process started by the kit, with its output in a log file.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
}

// StartProc starts bin with args in its own process group, stdout and
// stderr appended to dir/<name>.log.
func StartProc(dir, name, bin string, env []string, args ...string) (*Proc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := &Proc{Name: name, LogPath: filepath.Join(dir, name+".log")}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// Pid is the process id (and its process group's id).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the process only (a crash: its children, such as
// runc containers, are left as they would be) and waits for it to exit.
func (p *Proc) Kill() error { return p.signal(p.Pid()) }

// KillGroup sends SIGKILL to the process's whole group (the process and
// every child it started, even after the process itself has exited) and
// waits for the process to exit.
func (p *Proc) KillGroup() error { return p.signal(-p.Pid()) }

func (p *Proc) signal(pid int) error {
	if pid > 0 && p.Exited() {
		return nil
	}
	// A group outlives its leader: its members are signalled even then.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (%d): %w", p.Name, pid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit 10s after SIGKILL", p.Name, p.Pid())
	}
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitListening waits until something accepts TCP connections at addr
// (host:port), failing early when p exits.
func WaitListening(p *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if Listening(addr) {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited before listening on %s:\n%s", p.Name, addr, p.Tail(30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %s", addr, timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Listening reports whether a TCP connection to addr succeeds.
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// Ports hands out loopback ports from a fixed range, each to one user at a
// time, skipping ports something else already listens on.
type Ports struct {
	mu     sync.Mutex
	lo, hi int
	taken  map[int]bool
}

// NewPorts is a range lo..hi (inclusive).
func NewPorts(lo, hi int) *Ports { return &Ports{lo: lo, hi: hi, taken: map[int]bool{}} }

// Take returns a port of the range that is free on ip (e.g. "127.0.0.1").
func (ps *Ports) Take(ip string) (int, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for p := ps.lo; p <= ps.hi; p++ {
		if ps.taken[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(p)))
		if err != nil {
			continue // in use by someone else
		}
		l.Close()
		ps.taken[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d on %s", ps.lo, ps.hi, ip)
}

// Release gives a port back.
func (ps *Ports) Release(p int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.taken, p)
}
