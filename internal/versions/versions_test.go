package versions

import (
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name                        string
		daemon, client, buildctl    string
		path                        string
		mismatch, buildctlMis, unkn bool
		problem                     string
	}{
		{"same", "v0.33.1", "v0.33.1", "v0.33.1", "/usr/bin/buildctl", false, false, false, ""},
		{"patch differs only", "v0.33.0", "v0.33.1", "", "", false, false, false, ""},
		{"minor skew", "v0.32.2", "v0.33.1", "", "", true, false, false, "daemon and client versions differ (buildkitd v0.32.2, client library v0.33.1)"},
		{"old buildctl", "v0.33.1", "v0.33.1", "v0.13.2", "/usr/local/bin/buildctl", false, true, false, "buildctl v0.13.2 (/usr/local/bin/buildctl)"},
		{"dev daemon is unknown, not a mismatch", "v0.0.0+unknown", "v0.33.1", "", "", false, false, true, "unknown"},
		{"empty", "", "v0.33.1", "", "", false, false, true, "buildkitd unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compare(tt.daemon, tt.client, tt.buildctl, tt.path)
			if r.Mismatch != tt.mismatch || r.BuildctlMismatch != tt.buildctlMis || r.Unknown != tt.unkn {
				t.Errorf("Compare = %+v", r)
			}
			p := r.Problem()
			if (tt.problem == "") != (p == "") || !strings.Contains(p, tt.problem) {
				t.Errorf("Problem() = %q, want %q", p, tt.problem)
			}
			if p != "" && tt.mismatch && !strings.Contains(p, "same BuildKit version") {
				t.Errorf("Problem() has no fix: %q", p)
			}
		})
	}
}

func TestLooksLikeSkew(t *testing.T) {
	for msg, want := range map[string]bool{
		"rpc error: code = Unimplemented desc = unknown method Status": true,
		"feature X is not supported by build server":                   true,
		"process \"/bin/sh -c false\" did not complete successfully":   false,
	} {
		if LooksLikeSkew(msg) != want {
			t.Errorf("LooksLikeSkew(%q) = %v", msg, !want)
		}
	}
}
