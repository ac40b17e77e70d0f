package remotebuildkit_test

import (
	"encoding/json"
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

// Every plugin entry in README's yaml examples validates against the schema.
func TestReadmeExamplesValidate(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	checked := 0
	for _, b := range blocks {
		var doc struct {
			Steps []struct {
				Plugins []map[string]any `yaml:"plugins"`
			} `yaml:"steps"`
		}
		if err := yaml.Unmarshal([]byte(b[1]), &doc); err != nil {
			t.Fatalf("README yaml example does not parse: %v\n%s", err, b[1])
		}
		for _, step := range doc.Steps {
			for _, p := range step.Plugins {
				for source, cfg := range p {
					if !strings.HasPrefix(source, "remote-buildkit#") {
						continue
					}
					js, _ := json.Marshal(cfg)
					// Only the schema matters here: paths need not exist.
					if problems := config.SchemaProblems(js); len(problems) > 0 {
						t.Errorf("README example fails the schema: %v\n%s", problems, b[1])
					}
					checked++
				}
			}
		}
	}
	if checked < 2 {
		t.Errorf("checked %d README examples, want at least 2", checked)
	}
}
