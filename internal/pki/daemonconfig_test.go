package pki

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

func daemonOptions(size string) DaemonOptions {
	return DaemonOptions{TLSDir: "/etc/buildkit/certs", Root: "/var/lib/buildkit", CacheSize: size, Addrs: []string{"tcp://0.0.0.0:1234"}}
}

func TestDaemonConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(o *DaemonOptions)
		want string
	}{
		{"no unit", func(o *DaemonOptions) { o.CacheSize = "100 parsecs" }, `--cache-size "100 parsecs" is not a size`},
		{"zero", func(o *DaemonOptions) { o.CacheSize = "0GB" }, "--cache-size"},
		{"over 100%", func(o *DaemonOptions) { o.CacheSize = "120%" }, "--cache-size"},
		{"0%", func(o *DaemonOptions) { o.CacheSize = "0%" }, "--cache-size"},
		{"empty", func(o *DaemonOptions) { o.CacheSize = "" }, "--cache-size"},
		{"relative tls-dir", func(o *DaemonOptions) { o.TLSDir = "certs" }, `--tls-dir "certs" must be an absolute path`},
		{"relative root", func(o *DaemonOptions) { o.Root = "state" }, `--root "state" must be an absolute path`},
		{"http addr", func(o *DaemonOptions) { o.Addrs = []string{"0.0.0.0:1234"} }, `--addr "0.0.0.0:1234" is not a tcp:// or unix:// address`},
		{"no addr", func(o *DaemonOptions) { o.Addrs = nil }, "--addr is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := daemonOptions("80%")
			tc.edit(&o)
			_, _, err := DaemonConfig(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.Of(err) != exitcode.BadConfig {
				t.Fatalf("err = %v (exit %d), want %q, exit 2", err, exitcode.Of(err), tc.want)
			}
		})
	}
}

func TestWriteDaemonConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var log bytes.Buffer
	if err := WriteDaemonConfig(daemonOptions("80%"), dir, &log); err != nil {
		t.Fatal(err)
	}
	unit, toml, _ := DaemonConfig(daemonOptions("80%"))
	for name, want := range map[string]string{"buildkitd.service": unit, "buildkitd.toml": toml} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %v, content differs from DaemonConfig", name, err)
		}
		if m := mode(t, filepath.Join(dir, name)); m != 0o644 {
			t.Errorf("%s mode %o, want 644", name, m)
		}
	}
	if !strings.Contains(log.String(), "systemctl enable --now buildkitd") {
		t.Errorf("no install steps printed:\n%s", log.String())
	}
	var printed bytes.Buffer
	if err := WriteDaemonConfig(daemonOptions("80%"), "", &printed); err != nil || printed.String() != unit+"\n"+toml {
		t.Errorf("printed output is not the unit and the toml: %v", err)
	}
}

// The rule for what the daemon keeps per pipeline grows with --cache-size:
// a fifth of it, at least 2GB (or 1 % of the disk), at most all of it.
func TestSourceCacheSizeScales(t *testing.T) {
	for size, want := range map[string]string{
		"10GB": "2GB", "20GB": "4GB", "100GB": "20GB", "500GB": "100GB", "1TB": "209715MB", "2TB": "419430MB",
		"5GB": "2GB", "1GB": "1GB", "100 GB": "20GB", "3000MB": "2GB", "30000MB": "6000MB", "12345678901": "2354MB", "123456789": "123456789",
		"80%": "16%", "100%": "20%", "50%": "10%", "4%": "1%", "1%": "1%",
	} {
		if got := SourceCacheSize(size); got != want {
			t.Errorf("SourceCacheSize(%q) = %q, want %q", size, got, want)
		}
	}
	_, toml, err := DaemonConfig(daemonOptions("100GB"))
	if err != nil || !strings.Contains(toml, "filters = [\"type==source.local\", \"type==exec.cachemount\", \"type==source.git.checkout\"]\n  keepDuration = \"48h\"\n  maxUsedSpace = \"20GB\"\n") {
		t.Errorf("the first policy is not capped at 20GB (%v):\n%s", err, toml)
	}
}

// The toml as text (the buildkitconfig-tagged tests decode it with BuildKit).
func TestDaemonConfigText(t *testing.T) {
	o := daemonOptions("100GB")
	o.Addrs = append(o.Addrs, "unix:///run/buildkit/buildkitd.sock")
	_, toml, err := DaemonConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`root = "/var/lib/buildkit"`,
		`address = ["tcp://0.0.0.0:1234", "unix:///run/buildkit/buildkitd.sock"]`,
		"[grpc.tls]\n  cert = \"/etc/buildkit/certs/server.pem\"\n  key = \"/etc/buildkit/certs/server-key.pem\"\n  ca = \"/etc/buildkit/certs/ca.pem\"\n",
		"[worker.oci]\n  enabled = true\n  gc = true\n",
		"[[worker.oci.gcpolicy]]\n  all = true\n  maxUsedSpace = \"100GB\"\n",
		"[worker.containerd]\n  enabled = false\n",
	} {
		if !strings.Contains(toml, line) {
			t.Errorf("toml has no %q:\n%s", line, toml)
		}
	}
	if n := strings.Count(toml, `maxUsedSpace = "100GB"`); n != 3 {
		t.Errorf("%d policies capped at 100GB, want 3", n)
	}
	for _, s := range []string{"100GB", "100 GB", "1.5TB", "512MiB", "80%", "100%", "123456789"} {
		if err := CheckCacheSize(s); err != nil {
			t.Errorf("%s rejected: %v", s, err)
		}
	}
	if tomlString(`a"b\c`) != `"a\"b\\c"` {
		t.Errorf("tomlString = %s", tomlString(`a"b\c`))
	}
}
