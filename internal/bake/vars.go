package bake

import (
	"slices"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/redact"
)

// Vars is what bake and compose files may read of the job's environment
// (environ, NAME=VALUE): every variable except those matching the agent's
// redaction patterns (redact.Patterns: BUILDKITE_REDACTED_VARS or the
// agent's defaults), BUILDKITE_AGENT_ACCESS_TOKEN and the names in secret — unless
// the step passes them by name (pass: bake-env). Never nil: compose reads
// the process environment when it is.
func Vars(environ []string, patterns []string, secret, pass []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if slices.Contains(pass, k) || !hidden(k, patterns, secret) {
			out[k] = v
		}
	}
	return out
}

// hidden says whether the variable k looks secret.
func hidden(k string, patterns, secret []string) bool {
	if k == "BUILDKITE_AGENT_ACCESS_TOKEN" || slices.Contains(secret, k) {
		return true
	}
	return redact.Matches(patterns, k)
}

// Hidden names the variables of environ that vars leaves out.
func Hidden(environ []string, vars map[string]string) []string {
	var out []string
	for _, kv := range environ {
		if k, _, ok := strings.Cut(kv, "="); ok && k != "" {
			if _, seen := vars[k]; !seen {
				out = append(out, k)
			}
		}
	}
	return out
}
