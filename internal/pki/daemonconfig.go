package pki

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	units "github.com/docker/go-units"
)

// Where builder-config's files go on the builder host.
const (
	UnitPath   = "/etc/systemd/system/buildkitd.service"
	ConfigPath = "/etc/buildkit/buildkitd.toml"
	Buildkitd  = "/usr/local/bin/buildkitd"
)

// DaemonOptions are the inputs of DaemonConfig.
type DaemonOptions struct {
	TLSDir    string   // where DIR/daemon's files are on the builder
	Root      string   // buildkitd's state and cache
	CacheSize string   // build cache cap: "100GB" or "80%" of the disk holding Root
	Addrs     []string // listen addresses (tcp://0.0.0.0:1234)
}

// sizeRE accepts what BuildKit's DiskSpace parses: a percentage, or a size
// in docker/go-units' RAMInBytes syntax (binary units: 1GB = 1024³ bytes).
var sizeRE = regexp.MustCompile(`^(?:(\d+)%|\d+(?:\.\d+)? ?[kKmMgGtTpP]?[iI]?[bB]?)$`)

// CheckCacheSize validates --cache-size.
func CheckCacheSize(s string) error {
	m := sizeRE.FindStringSubmatch(s)
	bad := m == nil || strings.Trim(s, "0.%BbKkMmGgTtPpIi ") == "" // no digit other than 0
	if !bad && m[1] != "" {
		n, err := strconv.Atoi(m[1])
		bad = err != nil || n < 1 || n > 100
	}
	if bad {
		return usageError("--cache-size %q is not a size: give bytes with a unit, e.g. --cache-size 100GB, or a share of the disk holding --root, e.g. --cache-size 80%%", s)
	}
	return nil
}

// The GC rule for build contexts, cache mounts and git checkouts gets
// 1/sourceShare of --cache-size, at least sourceFloor bytes (or 1 % of the
// disk) and at most the whole cap.
const (
	sourceShare = 5
	sourceFloor = 2 << 30 // 2GB as BuildKit reads it: four times its default 512MB
)

// SourceCacheSize is the GC cap for what the daemon keeps per pipeline
// (source.local, exec.cachemount, source.git.checkout), derived from a
// valid --cache-size: a share of it, with a floor, in a form BuildKit's
// DiskSpace parses.
func SourceCacheSize(cacheSize string) string {
	if pct, ok := strings.CutSuffix(cacheSize, "%"); ok {
		n, _ := strconv.Atoi(pct)
		return fmt.Sprintf("%d%%", max(1, n/sourceShare))
	}
	total, err := units.RAMInBytes(cacheSize)
	if err != nil {
		return cacheSize // CheckCacheSize rejects it first
	}
	n := min(total, max(total/sourceShare, sourceFloor))
	if n < total {
		n -= n % (1 << 20) // whole megabytes
	}
	for _, u := range []struct {
		unit string
		size int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}} {
		if n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.unit)
		}
	}
	return strconv.FormatInt(n, 10)
}

var unitTmpl = template.Must(template.New("unit").Parse(`# {{.UnitPath}}, written by remote-buildkit builder-config
[Unit]
Description=BuildKit daemon for Buildkite (remote-buildkit plugin)
Documentation=https://github.com/moby/buildkit
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={{.Buildkitd}} --config {{.ConfigPath}}
Restart=always
RestartSec=5
Delegate=yes
KillMode=mixed
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
`))

var tomlTmpl = template.Must(template.New("toml").Funcs(template.FuncMap{"q": tomlString}).Parse(`# {{.ConfigPath}}, written by remote-buildkit builder-config:
# buildkitd --config {{.ConfigPath}} needs no other flag.
root = {{q .Root}}

[grpc]
  address = [{{range $i, $a := .Addrs}}{{if $i}}, {{end}}{{q $a}}{{end}}]

# mTLS: only clients with a certificate from this CA may connect. The files
# are DIR/daemon/ of remote-buildkit certs init (0600, root-owned).
[grpc.tls]
  cert = {{q .Cert}}
  key = {{q .Key}}
  ca = {{q .CA}}

[worker.oci]
  enabled = true
  gc = true

# Build cache garbage collection, capped at --cache-size {{.CacheSize}}
# (a percentage is of the disk holding root): BuildKit's default policies
# with that cap. The first keeps what the daemon holds per pipeline — the
# build contexts each pipeline's next upload is diffed against, RUN cache
# mounts, git context checkouts — within {{.SourceShare}} of the cap
# ({{.SourceCacheSize}}; BuildKit's default is 512MB): size --cache-size so that
# share holds every pipeline's context and cache mounts (the plugin's
# docs/build-context.md, "What the daemon keeps").
[[worker.oci.gcpolicy]]
  filters = ["type==source.local", "type==exec.cachemount", "type==source.git.checkout"]
  keepDuration = "48h"
  maxUsedSpace = {{q .SourceCacheSize}}

[[worker.oci.gcpolicy]]
  keepDuration = "1440h"
  maxUsedSpace = {{q .CacheSize}}

[[worker.oci.gcpolicy]]
  maxUsedSpace = {{q .CacheSize}}

[[worker.oci.gcpolicy]]
  all = true
  maxUsedSpace = {{q .CacheSize}}

[worker.containerd]
  enabled = false
`))

// DaemonConfig returns a systemd unit and a buildkitd.toml for a builder
// host that serves mTLS with the daemon set of certs init.
func DaemonConfig(o DaemonOptions) (unit, toml string, err error) {
	for flag, p := range map[string]string{"--tls-dir": o.TLSDir, "--root": o.Root} {
		if !filepath.IsAbs(p) {
			return "", "", usageError("%s %q must be an absolute path (buildkitd runs from /), e.g. %s /etc/buildkit/certs", flag, p, flag)
		}
	}
	if len(o.Addrs) == 0 {
		return "", "", usageError("--addr is required: the address buildkitd listens on, e.g. --addr tcp://0.0.0.0:1234")
	}
	for _, a := range o.Addrs {
		if !strings.HasPrefix(a, "tcp://") && !strings.HasPrefix(a, "unix://") {
			return "", "", usageError("--addr %q is not a tcp:// or unix:// address: e.g. --addr tcp://0.0.0.0:1234", a)
		}
	}
	if err := CheckCacheSize(o.CacheSize); err != nil {
		return "", "", err
	}
	data := map[string]any{
		"UnitPath": UnitPath, "ConfigPath": ConfigPath, "Buildkitd": Buildkitd,
		"Root": o.Root, "Addrs": o.Addrs, "CacheSize": o.CacheSize,
		"SourceCacheSize": SourceCacheSize(o.CacheSize), "SourceShare": fmt.Sprintf("1/%d", sourceShare),
		"Cert": filepath.Join(o.TLSDir, ServerFile), "Key": filepath.Join(o.TLSDir, ServerKey), "CA": filepath.Join(o.TLSDir, CAFile),
	}
	var u, t strings.Builder
	if err := unitTmpl.Execute(&u, data); err != nil {
		return "", "", err
	}
	if err := tomlTmpl.Execute(&t, data); err != nil {
		return "", "", err
	}
	return u.String(), t.String(), nil
}

// tomlString quotes s as a TOML basic string: JSON's escapes are TOML's.
func tomlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// WriteDaemonConfig prints the unit and the config, or with dir writes
// them to dir/buildkitd.service and dir/buildkitd.toml.
func WriteDaemonConfig(o DaemonOptions, dir string, out io.Writer) error {
	unit, toml, err := DaemonConfig(o)
	if err != nil {
		return err
	}
	if dir == "" {
		_, err := fmt.Fprintf(out, "%s\n%s", unit, toml)
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageError("--write %s: %v", dir, err)
	}
	files := []file{{filepath.Join(dir, filepath.Base(UnitPath)), []byte(unit)}, {filepath.Join(dir, filepath.Base(ConfigPath)), []byte(toml)}}
	if err := writeFiles(files); err != nil {
		return usageError("--write %s: %v", dir, err)
	}
	for _, f := range files {
		if err := os.Chmod(f.path, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "wrote %s and %s; on the builder host:\n", files[0].path, files[1].path)
	fmt.Fprintf(out, "  sudo install -D -m 0644 %s %s && sudo install -D -m 0644 %s %s\n", files[0].path, UnitPath, files[1].path, ConfigPath)
	fmt.Fprintf(out, "  sudo install -d -m 0700 %s && sudo install -m 0600 DIR/daemon/* %s/   # DIR from remote-buildkit certs init\n", o.TLSDir, o.TLSDir)
	fmt.Fprintf(out, "  sudo systemctl daemon-reload && sudo systemctl enable --now buildkitd\n")
	return nil
}
