package faultkit

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Daemon is a buildkitd of the kit's own: mTLS with the stack's server
// certificates (so the stack's client set in $STACK_TLS_DIR works), its own
// --root and a --config whose only setting is an OTEL socket inside that
// root (the default socket path is shared by every daemon on the machine:
// see up_extra_buildkitd in tests/stack/stack.sh). Restarts keep the root,
// as a restarted service would.
type Daemon struct {
	Bin  string // buildkitd ($STACK_BUILDKITD)
	Addr string // 127.0.0.1:PORT
	Host string // tcp://127.0.0.1:PORT
	Root string

	caDir  string // $STACK_CA_DIR: server/{ca,cert,key}.pem
	mu     sync.Mutex
	proc   *Proc
	procs  []*Proc // every instance started, for Stop
	starts int
}

// NewDaemon describes a daemon listening on addr with its state in root;
// nothing is started.
func NewDaemon(bin, caDir, root, addr string) (*Daemon, error) {
	if bin == "" || caDir == "" {
		return nil, fmt.Errorf("STACK_BUILDKITD or STACK_CA_DIR is unset: re-run `make stack-up` and source its env file")
	}
	d := &Daemon{Bin: bin, Addr: addr, Host: "tcp://" + addr, Root: root, caDir: caDir}
	conf := filepath.Join(root, "buildkitd.toml")
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, err
	}
	otel := fmt.Sprintf("[otel]\n  socketPath = %q\n", filepath.Join(root, "otel-grpc.sock"))
	if err := os.WriteFile(conf, []byte(otel), 0o644); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Daemon) args() []string {
	server := filepath.Join(d.caDir, "server")
	return []string{"--addr", d.Host, "--root", filepath.Join(d.Root, "state"),
		"--config", filepath.Join(d.Root, "buildkitd.toml"),
		"--tlscacert", filepath.Join(server, "ca.pem"), "--tlscert", filepath.Join(server, "cert.pem"),
		"--tlskey", filepath.Join(server, "key.pem")}
}

// Start starts the daemon and returns at once (it listens 0.2-0.6 s later).
func (d *Daemon) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil && !d.proc.Exited() {
		return fmt.Errorf("buildkitd at %s is already running (pid %d)", d.Host, d.proc.Pid())
	}
	d.starts++
	p, err := StartProc(d.Root, fmt.Sprintf("buildkitd-%d", d.starts), d.Bin, nil, d.args()...)
	if err != nil {
		return err
	}
	d.proc = p
	d.procs = append(d.procs, p)
	return nil
}

// WaitReady waits until the daemon accepts connections.
func (d *Daemon) WaitReady(timeout time.Duration) error {
	d.mu.Lock()
	p := d.proc
	d.mu.Unlock()
	if err := WaitListening(p, d.Addr, timeout); err != nil {
		return fmt.Errorf("buildkitd at %s: %w", d.Host, err)
	}
	return nil
}

// StartReady starts the daemon and waits until it listens.
func (d *Daemon) StartReady() error {
	if err := d.Start(); err != nil {
		return err
	}
	return d.WaitReady(30 * time.Second)
}

// Kill is kill -9 of the daemon alone: a crash, its containers orphaned.
func (d *Daemon) Kill() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return nil
	}
	return d.proc.Kill()
}

// Restart kills the daemon (-9), waits pause, starts it again on the same
// root and waits until it listens.
func (d *Daemon) Restart(pause time.Duration) error {
	if err := d.Kill(); err != nil {
		return err
	}
	time.Sleep(pause)
	return d.StartReady()
}

// Stop kills the daemon and everything it started (its process group) and
// every earlier instance's leftovers: the clean-up at the end of a test.
func (d *Daemon) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first error
	for _, p := range d.procs {
		if err := p.KillGroup(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Running reports whether the daemon's process is alive.
func (d *Daemon) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.proc != nil && !d.proc.Exited()
}

// Log is the tail of the current instance's log.
func (d *Daemon) Log(n int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return ""
	}
	return d.proc.Tail(n)
}

// Remove is Stop, then the root goes: what the killed instances left
// mounted below it (the snapshots of the containers they ran) is detached
// first.
func (d *Daemon) Remove() error {
	err := d.Stop()
	if f, ferr := os.Open("/proc/self/mountinfo"); ferr == nil {
		var mounts []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) > 4 && strings.HasPrefix(fs[4], d.Root+"/") {
				mounts = append(mounts, fs[4])
			}
		}
		f.Close()
		for i := len(mounts) - 1; i >= 0; i-- {
			syscall.Unmount(mounts[i], syscall.MNT_DETACH)
		}
	}
	if rerr := os.RemoveAll(d.Root); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
