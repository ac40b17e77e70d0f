// Package versions compares the BuildKit versions on both ends of a build:
// the daemon, the client library linked into this binary, and the agent's
// own buildctl. Skew between them is the guide's "Version mismatch".
package versions

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
)

// Policy is the version-check option.
type Policy string

// Policies.
const (
	Off    Policy = "off"
	Warn   Policy = "warn"
	Strict Policy = "strict"
)

// Version is a parsed vMAJOR.MINOR.PATCH; Known is false for dev builds.
type Version struct {
	Raw          string
	Major, Minor int
	Known        bool
}

var semver = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$`)

// Parse reads a version string; "v0.0.0+unknown", "dev" and "" are unknown.
func Parse(s string) Version {
	v := Version{Raw: s}
	m := semver.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || (m[1] == "0" && m[2] == "0" && m[3] == "0") {
		return v
	}
	fmt.Sscan(m[1], &v.Major)
	fmt.Sscan(m[2], &v.Minor)
	v.Known = true
	return v
}

func (v Version) String() string {
	if !v.Known {
		if v.Raw == "" {
			return "unknown"
		}
		return v.Raw + " (unknown)"
	}
	return v.Raw
}

// Same reports whether a and b share major.minor (both known).
func Same(a, b Version) bool { return a.Known && b.Known && a.Major == b.Major && a.Minor == b.Minor }

// Report is the outcome of a comparison.
type Report struct {
	Daemon, Client, Buildctl Version
	BuildctlPath             string
	Mismatch                 bool // daemon and client major.minor differ
	BuildctlMismatch         bool // the agent's buildctl differs from the daemon
	Unknown                  bool // a version could not be read
}

// Compare compares the daemon with this binary's client library and, when
// buildctl is on PATH, with it too.
func Compare(daemon, client, buildctl, buildctlPath string) Report {
	r := Report{Daemon: Parse(daemon), Client: Parse(client), BuildctlPath: buildctlPath}
	if buildctlPath != "" {
		r.Buildctl = Parse(buildctl)
	}
	r.Unknown = !r.Daemon.Known || !r.Client.Known
	r.Mismatch = r.Daemon.Known && r.Client.Known && !Same(r.Daemon, r.Client)
	r.BuildctlMismatch = buildctlPath != "" && r.Daemon.Known && r.Buildctl.Known && !Same(r.Daemon, r.Buildctl)
	return r
}

// Fix is the guide's advice.
const Fix = "run the same BuildKit version on the agents and the builder: upgrade or pin buildkitd, the agents' buildctl and this plugin together"

// Summary names every version in one line.
func (r Report) Summary() string {
	s := fmt.Sprintf("buildkitd %s, client library %s", r.Daemon, r.Client)
	if r.BuildctlPath != "" {
		s += fmt.Sprintf(", buildctl %s (%s)", r.Buildctl, r.BuildctlPath)
	}
	return s
}

// Problem returns the one-line warning or error text, "" when all agree.
func (r Report) Problem() string {
	switch {
	case r.Mismatch && r.BuildctlMismatch:
		return fmt.Sprintf("BuildKit versions differ (%s): %s", r.Summary(), Fix)
	case r.Mismatch:
		return fmt.Sprintf("BuildKit daemon and client versions differ (%s): %s", r.Summary(), Fix)
	case r.BuildctlMismatch:
		return fmt.Sprintf("the agent's buildctl differs from the daemon (%s): builds through this plugin are fine, but your own buildctl commands may fail; %s", r.Summary(), Fix)
	case r.Unknown:
		return fmt.Sprintf("a BuildKit version is unknown (%s): cannot check parity; build buildkitd with its version set (-X github.com/moby/buildkit/version.Version=...)", r.Summary())
	}
	return ""
}

// BuildctlVersion runs `buildctl --version` from PATH, if there is one:
// "buildctl github.com/moby/buildkit v0.33.1 <rev>".
func BuildctlVersion(ctx context.Context, lookPath func(string) (string, error)) (version, path string) {
	p, err := lookPath("buildctl")
	if err != nil {
		return "", ""
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "--version").Output()
	if err != nil {
		return "", p
	}
	f := strings.Fields(string(out))
	if len(f) >= 3 {
		return f[2], p
	}
	return "", p
}

// ClientVersion is the version of github.com/moby/buildkit linked into this binary.
func ClientVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/moby/buildkit" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

// LooksLikeSkew reports whether a build error is the kind version skew causes.
func LooksLikeSkew(msg string) bool {
	for _, s := range []string{"code = Unimplemented", "unknown method", "not supported by build server", "unknown service", "not implemented", "unsupported frontend capability", "unknown exporter"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
