package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"

	remotebuildkit "github.com/remote-buildkit/remote-buildkit"
)

// Problem is one thing wrong with the configuration, at a key path such as
// "cache-from[1].type" ("" for the document itself).
type Problem struct {
	Key string
	Msg string
}

// String renders the problem on one line, whatever the values in it hold.
func (p Problem) String() string {
	msg := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(p.Msg)
	if p.Key == "" {
		return msg
	}
	return p.Key + ": " + msg
}

// Error lists every problem found in a configuration.
type Error struct {
	Source   string
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaKeys []string
	schemaErr  error
)

// Schema returns the compiled `configuration` schema of the embedded plugin.yml.
func Schema() (*jsonschema.Schema, []string, error) {
	schemaOnce.Do(func() {
		schema, schemaKeys, schemaErr = compileSchema(remotebuildkit.PluginYAML)
	})
	return schema, schemaKeys, schemaErr
}

// Keys returns the option names the schema defines, sorted.
func Keys() ([]string, error) {
	_, keys, err := Schema()
	return append([]string(nil), keys...), err
}

// compileSchema compiles plugin.yml's configuration as a draft 2020-12
// schema; the library checks it against the draft's metaschema first.
func compileSchema(pluginYAML []byte) (*jsonschema.Schema, []string, error) {
	var manifest struct {
		Configuration any `yaml:"configuration"`
	}
	if err := yaml.Unmarshal(pluginYAML, &manifest); err != nil {
		return nil, nil, fmt.Errorf("plugin.yml: %w", err)
	}
	// Round-trip through JSON so the schema holds only JSON types.
	js, err := json.Marshal(manifest.Configuration)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin.yml configuration: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, nil, fmt.Errorf("plugin.yml configuration: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("plugin.yml", doc); err != nil {
		return nil, nil, fmt.Errorf("plugin.yml configuration: %w", err)
	}
	sch, err := c.Compile("plugin.yml")
	if err != nil {
		return nil, nil, fmt.Errorf("plugin.yml configuration: %w", err)
	}
	keys := make([]string, 0, len(sch.Properties))
	for k := range sch.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return sch, keys, nil
}

var printer = message.NewPrinter(language.English)

// validateSchema checks a decoded JSON document against the schema and returns
// every problem, one per offending value, sorted by key.
func validateSchema(doc any) ([]Problem, error) {
	sch, keys, err := Schema()
	if err != nil {
		return nil, err
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil, nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil, err
	}
	seen := map[string]bool{}
	var problems []Problem
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		for _, p := range describe(e, keys) {
			if !seen[p.String()] {
				seen[p.String()] = true
				problems = append(problems, p)
			}
		}
	}
	walk(verr)
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Key < problems[j].Key })
	return problems, nil
}

func describe(e *jsonschema.ValidationError, keys []string) []Problem {
	key := keyPath(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		var out []Problem
		for _, name := range k.Properties {
			p := Problem{Key: joinKey(key, name), Msg: "unknown option"}
			if len(e.InstanceLocation) == 0 {
				if s := closest(name, keys); s != "" {
					p.Msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					p.Msg += "; see the configuration reference in the plugin's README"
				}
			} else {
				p.Msg += "; remove it"
			}
			out = append(out, p)
		}
		return out
	case *kind.Type:
		return []Problem{{Key: key, Msg: fmt.Sprintf("must be %s, got %s", orList(k.Want), k.Got)}}
	case *kind.Required:
		var out []Problem
		for _, m := range k.Missing {
			out = append(out, Problem{Key: joinKey(key, m), Msg: "is required"})
		}
		return out
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return []Problem{{Key: key, Msg: fmt.Sprintf("must be one of %s, got %v", strings.Join(want, ", "), k.Got)}}
	case *kind.Pattern:
		return []Problem{{Key: key, Msg: fmt.Sprintf("%q has the wrong form (want %s)", k.Got, patternHint(k.Want))}}
	case *kind.MinLength:
		return []Problem{{Key: key, Msg: "must not be empty"}}
	case *kind.ExclusiveMinimum:
		return []Problem{{Key: key, Msg: fmt.Sprintf("must be more than %s, got %s", ratString(k.Want), ratString(k.Got))}}
	}
	return []Problem{{Key: key, Msg: e.ErrorKind.LocalizedString(printer)}}
}

func ratString(r *big.Rat) string {
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func patternHint(pattern string) string {
	switch {
	case strings.Contains(pattern, "ns|us"):
		return `a duration such as "90s" or "10m", or a number of seconds`
	case strings.HasPrefix(pattern, "^[^=]+"):
		return `"KEY=value"`
	case strings.HasPrefix(pattern, "^[A-Za-z_]"):
		return "an environment variable name such as REGISTRY_PASSWORD"
	case strings.HasPrefix(pattern, "^[^/]"):
		return "a key prefix without leading or trailing /"
	case strings.HasPrefix(pattern, `^[^\s:]`):
		return "host:port, e.g. 127.0.0.1:5353"
	case strings.HasPrefix(pattern, "^arn:"):
		return "an IAM role ARN, arn:aws:iam::123456789012:role/name"
	}
	return "pattern " + pattern
}

func orList(types []string) string {
	if len(types) == 1 {
		return article(types[0])
	}
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = article(t)
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

func article(t string) string {
	switch t {
	case "object", "array", "integer":
		return "an " + map[string]string{"object": "object (map)", "array": "array (list)", "integer": "integer"}[t]
	}
	return "a " + t
}

func keyPath(loc []string) string {
	var b strings.Builder
	for _, seg := range loc {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

func joinKey(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// closest returns the known key nearest to name, if it is near enough to be a typo.
func closest(name string, keys []string) string {
	best, bestD := "", 1<<30
	for _, k := range keys {
		if d := levenshtein(strings.ToLower(name), k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= 2 || (bestD <= 4 && bestD*3 <= len(name)) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// SchemaProblems validates a JSON configuration against the schema only
// (no environment or file checks): for docs and linting.
func SchemaProblems(js []byte) []Problem {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return []Problem{{Msg: err.Error()}}
	}
	problems, err := validateSchema(doc)
	if err != nil {
		return []Problem{{Msg: err.Error()}}
	}
	return problems
}
