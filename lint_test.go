package remotebuildkit_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	remotebuildkit "github.com/remote-buildkit/remote-buildkit"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// What Buildkite's plugin linter checks, here: plugin.yml's fields, a strict
// schema, and README examples naming this plugin with a version.
func TestPluginManifestLint(t *testing.T) {
	var m struct {
		Name          string         `yaml:"name"`
		Description   string         `yaml:"description"`
		Author        string         `yaml:"author"`
		Requirements  []string       `yaml:"requirements"`
		Configuration map[string]any `yaml:"configuration"`
	}
	if err := yaml.Unmarshal(remotebuildkit.PluginYAML, &m); err != nil {
		t.Fatalf("plugin.yml: %v", err)
	}
	if m.Name != config.PluginName {
		t.Errorf("name = %q, want %q", m.Name, config.PluginName)
	}
	if m.Description == "" || m.Author == "" || len(m.Requirements) == 0 {
		t.Errorf("plugin.yml needs description, author and requirements: %+v", m)
	}
	if m.Configuration["type"] != "object" || m.Configuration["additionalProperties"] != false {
		t.Errorf("configuration must be an object schema with additionalProperties: false")
	}
	props, _ := m.Configuration["properties"].(map[string]any)
	for k, v := range props {
		if p, _ := v.(map[string]any); p["description"] == nil {
			t.Errorf("option %s has no description in plugin.yml", k)
		}
		if !regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(k) {
			t.Errorf("option %q is not kebab-case", k)
		}
	}
	if _, _, err := config.Schema(); err != nil {
		t.Errorf("the configuration schema does not compile: %v", err)
	}
	readme, _ := os.ReadFile("README.md")
	if !regexp.MustCompile(`- remote-buildkit#v\d+\.\d+\.\d+:`).Match(readme) {
		t.Errorf("README has no example using remote-buildkit#vX.Y.Z")
	}
	for _, hook := range []string{"environment", "command", "pre-exit"} {
		fi, err := os.Stat("hooks/" + hook)
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("hooks/%s missing or not executable", hook)
			continue
		}
		b, _ := os.ReadFile("hooks/" + hook)
		if !strings.HasPrefix(string(b), "#!/usr/bin/env bash\n") || !strings.Contains(string(b), "set -euo pipefail") {
			t.Errorf("hooks/%s must start with #!/usr/bin/env bash and set -euo pipefail", hook)
		}
	}
}

// docker-compose.yml does what the plugin directory's convention says and
// nothing else: `lint` runs buildkite-plugin-linter on this plugin, `tests`
// runs the hook tests on the checkout.
func TestComposeRunsLinterAndHookTests(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Image      string   `yaml:"image"`
			Entrypoint []string `yaml:"entrypoint"`
			Command    []string `yaml:"command"`
			WorkingDir string   `yaml:"working_dir"`
			Volumes    []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(must(os.ReadFile("docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) != 2 {
		t.Errorf("docker-compose.yml has services %v, want exactly lint and tests", c.Services)
	}
	lint, tests := c.Services["lint"], c.Services["tests"]
	if !strings.HasPrefix(lint.Image, "buildkite/plugin-linter") || strings.Join(lint.Command, " ") != "--id remote-buildkit/"+config.PluginName {
		t.Errorf("lint runs %s %v, want buildkite/plugin-linter --id remote-buildkit/%s", lint.Image, lint.Command, config.PluginName)
	}
	run := strings.Join(append(tests.Entrypoint, tests.Command...), " ")
	if !strings.HasPrefix(run, "bats ") || !strings.HasSuffix(run, " tests/hooks") || tests.WorkingDir != "/plugin" {
		t.Errorf("tests runs %q in %q, want bats … tests/hooks in /plugin", run, tests.WorkingDir)
	}
	for name, svc := range c.Services {
		if !slices.Contains(svc.Volumes, ".:/plugin:ro") {
			t.Errorf("%s does not mount the checkout at /plugin (read-only): %v", name, svc.Volumes)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// maxFuncLines is the longest a function may be, from its func line to its
// closing brace.
const maxFuncLines = 80

// No function in the module's non-test code is longer than maxFuncLines.
// There is no allow-list: split a function that grows past it.
func TestNoLongFunctions(t *testing.T) {
	var long []string
	walkModuleGo(t, func(path string) bool { return true }, func(fset *token.FileSet, path string, f *ast.File) {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
			if n := end.Line - start.Line + 1; n > maxFuncLines {
				long = append(long, fmt.Sprintf("%s:%d %s %d lines", path, start.Line, funcName(fn), n))
			}
		}
	})
	if len(long) > 0 {
		t.Errorf("%d functions are longer than %d lines: split them\n%s", len(long), maxFuncLines, strings.Join(long, "\n"))
	}
}

// walkModuleGo parses every non-test Go file of the module, in the
// directories enter accepts (and inModule), and hands each to fn.
func walkModuleGo(t *testing.T, enter func(dir string) bool, fn func(fset *token.FileSet, path string, f *ast.File)) {
	t.Helper()
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (!inModule(path, d.Name()) || !enter(path)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		fn(fset, path, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("only %d Go files found: run the test from the module root", files)
	}
}

// inModule reports whether the directory at path holds the module's code:
// not .git, testdata, node_modules, a directory the go command ignores
// (".x", "_x") or another module. Every other directory counts: the module
// holds only its own code.
func inModule(path, name string) bool {
	switch {
	case name == "testdata", name == "node_modules", strings.HasPrefix(name, "."), strings.HasPrefix(name, "_"):
		return false
	}
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err != nil
}

// funcName is fn's name as a reader looks it up: F, T.M or (*T).M.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	star := false
	if s, ok := typ.(*ast.StarExpr); ok {
		typ, star = s.X, true
	}
	switch x := typ.(type) { // drop type parameters: T[K] → T
	case *ast.IndexExpr:
		typ = x.X
	case *ast.IndexListExpr:
		typ = x.X
	}
	recv := "?"
	if id, ok := typ.(*ast.Ident); ok {
		recv = id.Name
	}
	if star {
		return "(*" + recv + ")." + fn.Name.Name
	}
	return recv + "." + fn.Name.Name
}

// parallelPathMarkers are what an integration test writes when it sets up a
// path whose builds run in parallel: a bake step, split nodes, a pool (a list
// of daemons) or a dns:// fleet.
var parallelPathMarkers = regexp.MustCompile(`"nodes"|nodes:|dns://|"bake"|buildkit-host.{0,5}\[|Pool|[fF]leet`)

// make test-race-fleet reruns the integration tests named TestParallel… with a
// race-detector binary. Every test that sets up a parallel path has the
// prefix (so a rename can't drop it from that pass), and every test with the
// prefix sets one up.
func TestRacePassSelectsEveryParallelPathTest(t *testing.T) {
	files, err := filepath.Glob("tests/integration/*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no integration tests found (%v): run from the module root", err)
	}
	fset := token.NewFileSet()
	prefixed := 0
	for _, path := range files {
		src := must(os.ReadFile(path))
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			body := src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset]
			parallel, named := parallelPathMarkers.Match(body), strings.HasPrefix(fn.Name.Name, "TestParallel")
			switch {
			case parallel && !named:
				t.Errorf("%s: %s sets up a parallel path (%s) but is not named TestParallel…: rename it so make test-race-fleet runs it with the race detector", path, fn.Name.Name, parallelPathMarkers.Find(body))
			case named && !parallel:
				t.Errorf("%s: %s is named TestParallel… but sets up no bake, nodes, pool or fleet: drop the prefix", path, fn.Name.Name)
			}
			if named {
				prefixed++
			}
		}
	}
	if prefixed == 0 {
		t.Error("no TestParallel… integration tests: make test-race-fleet would run nothing")
	}
}

// Only our own code in the tree: a build output committed by mistake (a
// binary built inside cmd/remote-buildkit once reached main, 59 MB) fails.
func TestNoBuildOutputsInTheTree(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: the tracked files can't be listed")
	}
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	magics := map[string]string{"\x7fELF": "an ELF executable", "\xcf\xfa\xed\xfe": "a Mach-O executable", "MZ": "a Windows executable"}
	for _, path := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		f, err := os.Open(path)
		if err != nil {
			continue // deleted in the work tree
		}
		head := make([]byte, 4)
		n, _ := f.Read(head)
		f.Close()
		for magic, what := range magics {
			if strings.HasPrefix(string(head[:n]), magic) {
				t.Errorf("%s is %s: build outputs don't belong in the tree (git rm --cached %s; .gitignore has bin/ and dist/)", path, what, path)
			}
		}
	}
}
