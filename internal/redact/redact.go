// Package redact keeps secret values out of everything the plugin publishes
// (annotations, artifacts, meta-data, the build record) with the rules the
// Buildkite agent applies to its own log: a variable whose name matches a
// pattern of BUILDKITE_REDACTED_VARS (path.Match globs, comma-separated;
// the agent's defaults when unset) has a secret value, and so has a build
// arg whose name matches. Values shorter than MinLength are not secrets
// (the agent's rule: "none" or "false" would be blanked everywhere).
package redact

import (
	"bytes"
	"encoding/json"
	"html"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Replacement is what a secret value becomes.
const Replacement = "[REDACTED]"

// MinLength is the shortest value treated as a secret, as the agent does.
const MinLength = 6

// DefaultPatterns are the agent's default redacted-vars.
var DefaultPatterns = []string{"*_PASSWORD", "*_SECRET", "*_TOKEN", "*_PRIVATE_KEY", "*_ACCESS_KEY", "*_SECRET_KEY", "*_CONNECTION_STRING"}

// Patterns are the job's redaction patterns: BUILDKITE_REDACTED_VARS, or
// the defaults when it is unset or empty.
func Patterns(getenv func(string) string) []string {
	var out []string
	for _, p := range strings.Split(getenv("BUILDKITE_REDACTED_VARS"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return DefaultPatterns
	}
	return out
}

// Matches reports whether name matches any pattern, ignoring case (a
// malformed pattern matches nothing, as path.Match has it).
func Matches(patterns []string, name string) bool {
	name = strings.ToUpper(name)
	for _, p := range patterns {
		if ok, err := path.Match(strings.ToUpper(p), name); err == nil && ok {
			return true
		}
	}
	return false
}

// Redactor replaces secret values, also in the escaped forms they take in
// JSON, Go-quoted strings and HTML/SVG text. The zero value and nil redact
// nothing. Safe for concurrent use once built.
type Redactor struct {
	values   map[string]string // secret value → the name it came from
	short    []string          // names that matched with a value too short to redact
	replacer *strings.Replacer
}

// New is the redactor of a job: environ ("NAME=value" entries) and the
// build args of every image, judged by patterns.
func New(patterns []string, environ []string, buildArgs ...map[string]string) *Redactor {
	r := &Redactor{values: map[string]string{}}
	for _, args := range buildArgs { // first: a value is named after its build arg
		for _, name := range slices.Sorted(maps.Keys(args)) {
			r.consider(patterns, "build arg "+name, args[name])
		}
	}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		r.consider(patterns, name, value)
	}
	r.build()
	return r
}

func (r *Redactor) consider(patterns []string, name, value string) {
	if !Matches(patterns, strings.TrimPrefix(name, "build arg ")) || value == "" {
		return
	}
	if len(value) < MinLength {
		r.short = append(r.short, name)
		return
	}
	if _, seen := r.values[value]; !seen {
		r.values[value] = name
	}
}

// build makes the replacer: every form of every value, longest first so a
// secret holding another is replaced whole.
func (r *Redactor) build() {
	var needles []string
	for v := range r.values {
		needles = append(needles, forms(v)...)
	}
	sort.Slice(needles, func(i, j int) bool {
		if len(needles[i]) != len(needles[j]) {
			return len(needles[i]) > len(needles[j])
		}
		return needles[i] < needles[j]
	})
	needles = slices.Compact(needles)
	var oldnew []string
	for _, n := range needles {
		oldnew = append(oldnew, n, Replacement)
	}
	if len(oldnew) > 0 {
		r.replacer = strings.NewReplacer(oldnew...)
	}
}

// forms are the ways v is written in what the plugin publishes.
func forms(v string) []string {
	out := []string{v}
	q := strconv.Quote(v)
	out = append(out, q[1:len(q)-1])
	if b, err := json.Marshal(v); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	out = append(out, html.EscapeString(v))
	return out
}

// String is s with every secret value replaced.
func (r *Redactor) String(s string) string {
	if r == nil || r.replacer == nil {
		return s
	}
	return r.replacer.Replace(s)
}

// Strings redacts each of ss into a new slice.
func (r *Redactor) Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.String(s)
	}
	return out
}

// Find names the first secret whose value (in any form) is in b, "" when
// there is none: for content that can't be rewritten and must not leave.
func (r *Redactor) Find(b []byte) string {
	if r == nil {
		return ""
	}
	for _, v := range slices.Sorted(maps.Keys(r.values)) {
		for _, f := range forms(v) {
			if bytes.Contains(b, []byte(f)) {
				return r.values[v]
			}
		}
	}
	return ""
}

// Values are the secret values, sorted (for buildkite-agent redactor add).
func (r *Redactor) Values() []string {
	if r == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(r.values))
}

// Short names the variables and build args that match the patterns but
// whose values are too short to be redacted.
func (r *Redactor) Short() []string {
	if r == nil {
		return nil
	}
	return r.short
}
