package dockerkit

import (
	"fmt"
	"syscall"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// stop ends a daemon of the kit's own: SIGTERM (buildkitd unmounts, sshd
// closes its port), then after 10 s SIGKILL to its process group.
func stop(p *faultkit.Proc) {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(p.Pid(), syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if p.Exited() {
			return
		}
	}
	_ = p.KillGroup()
}

// waitFor polls ready every 100 ms until it returns nil, p exits or timeout
// passes; the error holds the last failure and the end of p's log.
func waitFor(p *faultkit.Proc, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited: %v\nlast lines of %s:\n%s", p.Name, err, p.LogPath, p.Tail(30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v\nlast lines of %s:\n%s", p.Name, timeout, err, p.LogPath, p.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tail is the end of p's log, for failure messages.
func tail(p *faultkit.Proc) string {
	return fmt.Sprintf("last lines of %s (%s):\n%s", p.Name, p.LogPath, p.Tail(30))
}
