package remotebuildkit_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// README's configuration reference has one heading per schema option, and
// nothing else.
func TestReadmeDocumentsEverySchemaKey(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := config.Keys()
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("(?m)^### `([a-z0-9-]+)` \\(optional, [^)]+\\)$")
	documented := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	for _, k := range keys {
		if !documented[k] {
			t.Errorf("plugin.yml option %q has no \"### `%s` (optional, …)\" heading in README.md", k, k)
		}
		delete(documented, k)
	}
	var extra []string
	for k := range documented {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("README.md documents options plugin.yml does not have: %v", extra)
	}
}

// linterExample is how buildkite-plugin-linter finds README examples
// (lib/linters/example-linter.js: /```ya?ml\n+(.*?)\n+```/gs): from a
// ```yaml or ```yml fence to the first "```" right after a newline — a
// closing fence at column 0. The closing fence of an indented block is not
// one, so such a block runs on into the text after it.
var linterExample = regexp.MustCompile("(?s)```ya?ml\n+(.*?)\n+```")

// pluginEntries returns the configuration of every remote-buildkit#v…
// plugin entry of one example, as the linter collects them: examples that
// do not mention the plugin are skipped; the others must parse, as a
// pipeline ({steps: [...]}) or a list of steps, with plugins as a list.
func pluginEntries(example string) ([]any, error) {
	if !regexp.MustCompile(`remote-buildkit#v.+`).MatchString(example) {
		return nil, nil
	}
	var doc any
	if err := yaml.Unmarshal([]byte(example), &doc); err != nil {
		return nil, err
	}
	steps, _ := doc.([]any)
	if m, ok := doc.(map[string]any); ok {
		steps, _ = m["steps"].([]any)
	}
	entry := regexp.MustCompile(`^remote-buildkit#v.+$`)
	var configs []any
	for _, st := range steps {
		step, _ := st.(map[string]any)
		if step["plugins"] == nil {
			continue
		}
		plugins, ok := step["plugins"].([]any)
		if !ok {
			return nil, fmt.Errorf("plugins is a map, not a list")
		}
		for _, p := range plugins {
			if s, ok := p.(string); ok && entry.MatchString(s) {
				configs = append(configs, nil)
			}
			m, _ := p.(map[string]any)
			for name, cfg := range m {
				if entry.MatchString(name) {
					configs = append(configs, cfg)
				}
			}
		}
	}
	return configs, nil
}

// The extraction finds what the linter finds: an indented block swallows the
// text after it and no longer parses.
func TestLinterExampleExtraction(t *testing.T) {
	const entry = "steps:\n  - plugins:\n      - remote-buildkit#v0.1.0:\n          push: true\n"
	tests := []struct {
		name, md string
		configs  int
		wantErr  bool
	}{
		{"column 0", "text\n\n```yaml\n" + entry + "```\n\nmore text: with a colon\n", 1, false},
		{"yml fence", "```yml\n" + entry + "```\n", 1, false},
		{"indented", "- item\n\n  ```yaml\n  " + strings.ReplaceAll(entry, "\n", "\n  ") + "```\n- next: item\n\n```sh\nmake\n```\n", 0, true},
		{"not the plugin", "```yaml\nsteps:\n  - command: make\n```\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			var err error
			for _, m := range linterExample.FindAllStringSubmatch(tt.md, -1) {
				var cs []any
				cs, err = pluginEntries(m[1])
				n += len(cs)
			}
			if n != tt.configs || (err != nil) != tt.wantErr {
				t.Errorf("found %d configs, err %v; want %d, error %v", n, err, tt.configs, tt.wantErr)
			}
		})
	}
}

// README passes buildkite-plugin-linter's example check: every yaml example
// parses as the linter cuts it, and every remote-buildkit entry validates
// against plugin.yml's schema.
func TestReadmeExamplesValidate(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range linterExample.FindAllStringSubmatch(string(readme), -1) {
		configs, err := pluginEntries(m[1])
		if err != nil {
			t.Errorf("README example does not parse as buildkite-plugin-linter reads it (is a fence indented?): %v\n%s", err, m[1])
			continue
		}
		for _, cfg := range configs {
			js, _ := json.Marshal(cfg)
			// Only the schema matters here: paths need not exist.
			if problems := config.SchemaProblems(js); len(problems) > 0 {
				t.Errorf("README example fails the schema: %v\n%s", problems, m[1])
			}
			checked++
		}
	}
	if checked < 9 {
		t.Errorf("checked %d README examples, want at least 9", checked)
	}
	if n := regexp.MustCompile("(?m)^[ \t]+```ya?ml").FindAllIndex(readme, -1); len(n) > 0 {
		t.Errorf("README has %d indented yaml examples: put their ``` fences at column 0", len(n))
	}
}
