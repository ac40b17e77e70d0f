package config

import (
	"testing"

	remotebuildkit "github.com/remote-buildkit/remote-buildkit"
)

// Compiling plugin.yml's schema happens once per process (bench/ reports it).
func BenchmarkCompileSchema(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, _, err := compileSchema(remotebuildkit.PluginYAML); err != nil {
			b.Fatal(err)
		}
	}
}
