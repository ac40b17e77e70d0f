package remotebuildkit_test

import (
	"go/ast"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The step is read in one place: no package outside internal/config reads
// the raw plugin configuration — the variables holding it (looked up by
// name), the per-option variables the agent also exports, or the JSON of it
// through config's parsers. Everything else takes the typed *config.Config
// from config.Read. (bench/ and tests/ set these variables for the binary
// they run, as "NAME=value" strings: that is not reading them.)
func TestOnlyConfigReadsTheRawConfiguration(t *testing.T) {
	rawVars := map[string]bool{"BUILDKITE_PLUGIN_CONFIGURATION": true, "BUILDKITE_PLUGINS": true}
	parsers := map[string]bool{"Parse": true, "ParseForEnvironment": true, "SchemaProblems": true, "RawFromEnv": true, "PluginNames": true}
	var found []string
	notConfig := func(dir string) bool { return dir != filepath.Join("internal", "config") }
	walkModuleGo(t, notConfig, func(fset *token.FileSet, _ string, f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.BasicLit:
				s, err := strconv.Unquote(x.Value)
				if x.Kind == token.STRING && err == nil && (rawVars[s] || strings.HasPrefix(s, "BUILDKITE_PLUGIN_REMOTE_BUILDKIT_")) {
					found = append(found, fset.Position(x.Pos()).String()+": looks up "+s)
				}
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "config" && parsers[x.Sel.Name] {
					found = append(found, fset.Position(x.Pos()).String()+": config."+x.Sel.Name+" parses a raw configuration")
				}
			}
			return true
		})
	})
	if len(found) > 0 {
		t.Errorf("the raw plugin configuration is read outside internal/config: take the *config.Config of config.Read instead\n%s", strings.Join(found, "\n"))
	}
}
