package config

import (
	"strings"
	"testing"

	remotebuildkit "github.com/remote-buildkit/remote-buildkit"
)

// The binary compiles plugin.yml without checking it against the 2020-12
// metaschema; this test is that check.
func TestPluginSchemaIsValidDraft2020(t *testing.T) {
	if _, _, err := compileSchema(remotebuildkit.PluginYAML, true); err != nil {
		t.Fatalf("plugin.yml's configuration is not a valid JSON Schema (draft 2020-12): %v", err)
	}
}

// The metaschema check still catches an invalid schema when it is on.
func TestMetaValidationCatchesInvalidSchema(t *testing.T) {
	bad := []byte("configuration:\n  type: object\n  properties:\n    tags:\n      type: 5\n")
	if _, _, err := compileSchema(bad, true); err == nil || !strings.Contains(err.Error(), "plugin.yml") {
		t.Fatalf("compile with the metaschema check = %v, want an error about plugin.yml", err)
	}
}

// Compiling plugin.yml's schema happens once per process (bench/ reports it).
func BenchmarkCompileSchema(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, _, err := compileSchema(remotebuildkit.PluginYAML, false); err != nil {
			b.Fatal(err)
		}
	}
}
