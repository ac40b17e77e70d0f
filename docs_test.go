package remotebuildkit_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"

	remotebuildkit "github.com/remote-buildkit/remote-buildkit"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/docgen"
)

// README's configuration table is what `go generate .` writes from
// plugin.yml: an option added to the schema without regenerating fails here.
func TestReadmeConfigurationTableMatchesPluginYML(t *testing.T) {
	readme := must(os.ReadFile("README.md"))
	want, err := docgen.Generate(readme, remotebuildkit.PluginYAML, must(os.ReadFile("docs/configuration.md")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readme, want) {
		t.Errorf("README.md's configuration table does not match plugin.yml (or docs/configuration.md's sections): run `%s` at the module root and commit README.md", docgen.Command)
	}
	keys, err := config.Keys()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.Contains(string(readme), "`"+k+"`") {
			t.Errorf("plugin.yml option %q is not in README.md's configuration table: run `%s`", k, docgen.Command)
		}
	}
}

// docs/configuration.md documents only options plugin.yml has.
func TestConfigurationGuideNamesOnlySchemaOptions(t *testing.T) {
	keys, err := config.Keys()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
	}
	var extra []string
	for k := range docgen.Sections(must(os.ReadFile("docs/configuration.md"))) {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("docs/configuration.md has sections for options plugin.yml does not have: %v", extra)
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

// README and the guides in docs/ pass buildkite-plugin-linter's example
// check: every yaml example parses as the linter cuts it, and every
// remote-buildkit entry validates against plugin.yml's schema.
func TestDocumentedExamplesValidate(t *testing.T) {
	guides, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	for _, path := range append([]string{"README.md"}, guides...) {
		md := must(os.ReadFile(path))
		for _, m := range linterExample.FindAllStringSubmatch(string(md), -1) {
			configs, err := pluginEntries(m[1])
			if err != nil {
				t.Errorf("%s: example does not parse as buildkite-plugin-linter reads it (is a fence indented?): %v\n%s", path, err, m[1])
				continue
			}
			for _, cfg := range configs {
				js, _ := json.Marshal(cfg)
				// Only the schema matters here: paths need not exist.
				if problems := config.SchemaProblems(js); len(problems) > 0 {
					t.Errorf("%s: example fails the schema: %v\n%s", path, problems, m[1])
				}
				checked[path]++
			}
		}
		if n := regexp.MustCompile("(?m)^[ \t]+```ya?ml").FindAllIndex(md, -1); len(n) > 0 {
			t.Errorf("%s has %d indented yaml examples: put their ``` fences at column 0", path, len(n))
		}
	}
	if checked["README.md"] < 8 {
		t.Errorf("checked %d README examples, want at least 8", checked["README.md"])
	}
	total := 0
	for _, n := range checked {
		total += n
	}
	if total < 20 {
		t.Errorf("checked %d examples in README.md and docs/, want at least 20", total)
	}
}

// markdownLink is an inline link [text](target) whose target is in this
// repository: not a URL, not an image of the build page.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every link between README, the guides, CONTRIBUTING and bench/README
// points at a file that exists and, with a #fragment, at one of its headings.
func TestDocumentationLinksResolve(t *testing.T) {
	pages, _ := filepath.Glob("docs/*.md")
	pages = append(pages, "README.md", "CONTRIBUTING.md", "CHANGELOG.md", "bench/README.md")
	for _, page := range pages {
		for _, m := range markdownLink.FindAllStringSubmatch(string(must(os.ReadFile(page))), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s: %v", page, target, err)
				continue
			}
			if frag != "" && !headingAnchors(path)[frag] {
				t.Errorf("%s links to %s: %s has no heading with anchor #%s", page, target, path, frag)
			}
		}
	}
}

// headingAnchors returns the anchors GitHub gives the Markdown headings of
// path: lower case, punctuation dropped, spaces as dashes.
func headingAnchors(path string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(must(os.ReadFile(path))), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}
