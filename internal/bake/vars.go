package bake

import (
	"path"
	"slices"
	"strings"
)

// DefaultRedactedVars are the agent's default redaction patterns (its
// --redacted-vars / BUILDKITE_REDACTED_VARS).
const DefaultRedactedVars = "*_PASSWORD,*_SECRET,*_TOKEN,*_PRIVATE_KEY,*_ACCESS_KEY,*_SECRET_KEY,*_CONNECTION_STRING"

// Vars is what bake and compose files may read of the job's environment
// (environ, NAME=VALUE): every variable except those matching the agent's
// redaction patterns (redacted: BUILDKITE_REDACTED_VARS, "" for the
// default), BUILDKITE_AGENT_ACCESS_TOKEN and the names in secret — unless
// the step passes them by name (pass: bake-env). Never nil: compose reads
// the process environment when it is.
func Vars(environ []string, redacted string, secret, pass []string) map[string]string {
	if strings.TrimSpace(redacted) == "" {
		redacted = DefaultRedactedVars
	}
	var patterns []string
	for _, p := range strings.FieldsFunc(redacted, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		patterns = append(patterns, strings.ToUpper(p))
	}
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
	up := strings.ToUpper(k)
	for _, p := range patterns {
		if ok, _ := path.Match(p, up); ok {
			return true
		}
	}
	return false
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
