package config_test

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// The options the binary accepts are exactly the ones plugin.yml documents:
// Buildkite's tooling and the README read the same file.
func TestSchemaKeysMatchPluginYML(t *testing.T) {
	sch, _, err := config.Schema()
	if err != nil {
		t.Fatalf("Schema() error = %v", err)
	}
	if sch == nil {
		t.Fatal("Schema() = nil schema")
	}

	b, err := os.ReadFile("../../plugin.yml")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Configuration struct {
			Properties map[string]any `yaml:"properties"`
		} `yaml:"configuration"`
	}
	if err := yaml.Unmarshal(b, &manifest); err != nil {
		t.Fatalf("plugin.yml: %v", err)
	}
	want := make([]string, 0, len(manifest.Configuration.Properties))
	for k := range manifest.Configuration.Properties {
		want = append(want, k)
	}
	sort.Strings(want)
	if len(want) == 0 {
		t.Fatal("plugin.yml has no configuration.properties")
	}

	got, err := config.Keys()
	if err != nil {
		t.Fatalf("Keys() error = %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Keys() = %q\nplugin.yml properties = %q", got, want)
	}

	// Keys returns a copy: callers cannot corrupt the schema's key list.
	got[0] = "mutated"
	if again, _ := config.Keys(); again[0] == "mutated" {
		t.Error("Keys() returns the package's own slice; want a copy")
	}
}

// Every option of plugin.yml is classified (scope) and nothing else is:
// a new option can't be forgotten by bake's check or the environment hook.
func TestEveryOptionHasAScope(t *testing.T) {
	keys, err := config.Keys()
	if err != nil {
		t.Fatal(err)
	}
	classified := config.ScopedKeys()
	if !slices.Equal(keys, classified) {
		t.Fatalf("plugin.yml options and config.scopes differ: add each new option to scopes in internal/config/options.go\nschema: %v\nscopes: %v", keys, classified)
	}
}
