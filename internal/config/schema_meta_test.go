package config

import (
	"strings"
	"testing"

	remotebuildkit "github.com/remote-buildkit/remote-buildkit"
)

// plugin.yml's configuration is a valid JSON Schema (draft 2020-12): the
// library checks it against the metaschema on every compile.
func TestPluginSchemaIsValidDraft2020(t *testing.T) {
	if _, _, err := compileSchema(remotebuildkit.PluginYAML); err != nil {
		t.Fatalf("plugin.yml's configuration is not a valid JSON Schema (draft 2020-12): %v", err)
	}
}

// The metaschema check catches an invalid schema.
func TestMetaValidationCatchesInvalidSchema(t *testing.T) {
	bad := []byte("configuration:\n  type: object\n  properties:\n    tags:\n      type: 5\n")
	if _, _, err := compileSchema(bad); err == nil || !strings.Contains(err.Error(), "plugin.yml") {
		t.Fatalf("compile = %v, want an error about plugin.yml", err)
	}
}

// Compiling plugin.yml's schema happens once per process (bench/ reports it).
func BenchmarkCompileSchema(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, _, err := compileSchema(remotebuildkit.PluginYAML); err != nil {
			b.Fatal(err)
		}
	}
}
