package dockerkit

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// SSHPorts are the loopback ports a test's sshd may take (the stack's own
// sshd is on 2220).
var SSHPorts = []int{2222, 2223, 2224, 2225, 2226, 2227, 2228, 2229}

// SSHD is an sshd of the test's own on a loopback port: its own host key and
// one authorized user key (ed25519, made by ssh-keygen), root logins by key
// only, and the environment its sessions get (SetEnv).
type SSHD struct {
	Port int
	Host string // ssh://root@127.0.0.1:Port
	// ClientPath is a directory whose `ssh` uses this sshd's client files
	// (identity, known_hosts) and nothing of root's ~/.ssh: put it first on
	// PATH. (ssh finds ~/.ssh through the passwd entry, not $HOME.)
	ClientPath string
	// Identity is the authorized user key's private half (for an ssh-agent).
	Identity string
	dir      string
	p        *faultkit.Proc
}

// StartSSHD starts sshd (absolute path: sshd re-executes itself) on the
// first free port of SSHPorts, with env (KEY=VALUE, no spaces) for its
// sessions, and waits until it greets; it stops when the test ends.
func StartSSHD(t testing.TB, sshd string, env ...string) *SSHD {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("ssh://root@127.0.0.1 needs an sshd that logs in as root: run the integration tests as root, as make test does")
	}
	s := &SSHD{dir: t.TempDir()}
	for _, k := range []string{"host_ed25519", "id_ed25519"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockerkit-"+k, "-f", filepath.Join(s.dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	s.copyFile(t, "id_ed25519.pub", "authorized_keys")
	s.Identity = filepath.Join(s.dir, "id_ed25519")
	// sshd's privilege-separation directory (the stack's up_sshd makes it too).
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, port := range SSHPorts {
		if err := s.start(sshd, port, env); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		t.Cleanup(func() { stop(s.p) })
		s.writeClient(t)
		return s
	}
	t.Fatalf("no sshd came up on ports %v:\n%s", SSHPorts, strings.Join(errs, "\n"))
	return nil
}

// start runs sshd on port and waits for its greeting (an sshd that cannot
// bind exits at once).
func (s *SSHD) start(sshd string, port int, env []string) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("port %d: %v", port, err)
	}
	l.Close()
	conf := filepath.Join(s.dir, fmt.Sprintf("sshd_config.%d", port))
	lines := []string{
		fmt.Sprintf("Port %d", port), "ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(s.dir, "host_ed25519"),
		"AuthorizedKeysFile " + filepath.Join(s.dir, "authorized_keys"),
		"AuthenticationMethods publickey", "PermitRootLogin prohibit-password",
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
		// The files are the test's, in a 0700 directory below the world-writable /tmp.
		"StrictModes no", "PidFile none", "PrintMotd no",
	}
	if len(env) > 0 {
		lines = append(lines, "SetEnv "+strings.Join(env, " "))
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	p, err := faultkit.StartProc(s.dir, fmt.Sprintf("sshd-%d", port), sshd, nil, "-D", "-e", "-f", conf)
	if err != nil {
		return err
	}
	if err := waitFor(p, 10*time.Second, func() error { return greets(port) }); err != nil {
		stop(p)
		return err
	}
	s.p, s.Port, s.Host = p, port, fmt.Sprintf("ssh://root@127.0.0.1:%d", port)
	return nil
}

// greets reports whether an SSH server answers on port.
func greets(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("no SSH greeting on port %d: %q %v", port, line, err)
	}
	return nil
}

// writeClient writes the client's known_hosts and config and the `ssh`
// wrapper that uses them.
func (s *SSHD) writeClient(t testing.TB) {
	t.Helper()
	pub, err := os.ReadFile(filepath.Join(s.dir, "host_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	known := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", s.Port, f[0], f[1])
	conf := strings.Join([]string{"Host 127.0.0.1",
		"  IdentityFile " + filepath.Join(s.dir, "id_ed25519"), "  IdentitiesOnly yes",
		"  UserKnownHostsFile " + filepath.Join(s.dir, "known_hosts"), "  GlobalKnownHostsFile /dev/null",
		"  StrictHostKeyChecking yes", "  BatchMode yes", "  ConnectTimeout 10", ""}, "\n")
	for name, content := range map[string]string{"known_hosts": known, "ssh_config": conf} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.ClientPath = ClientPath(t, filepath.Join(s.dir, "ssh_config"))
}

// ClientPath returns a new directory whose `ssh` runs the real client with
// -F config (and so none of root's ~/.ssh): put it first on PATH of a
// process whose ssh:// connection helper should use that config, e.g. the
// stack's $STACK_SSH_CONFIG.
func ClientPath(t testing.TB, config string) string {
	t.Helper()
	realSSH, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatalf("no ssh client on PATH: %v", err)
	}
	dir := t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -F %s \"$@\"\n", realSSH, config)
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (s *SSHD) copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, from))
	if err == nil {
		err = os.WriteFile(filepath.Join(s.dir, to), b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Log is the end of sshd's log.
func (s *SSHD) Log() string { return tail(s.p) }
