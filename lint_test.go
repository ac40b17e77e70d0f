package remotebuildkit_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
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

// docker-compose.yml mirrors the native stack: same BuildKit version, ports
// and certificate layout as tests/stack/stack.sh.
func TestComposeMatchesNativeStack(t *testing.T) {
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	stack, err := os.ReadFile("tests/stack/stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	def := func(re string) string {
		m := regexp.MustCompile(re).FindSubmatch(stack)
		if m == nil {
			t.Fatalf("stack.sh has no match for %s", re)
		}
		return string(m[1])
	}
	bkVersion := def(`(?m)^BK_VERSION=(v[0-9.]+)$`)
	ports := map[string]string{
		"buildkitd": def(`STACK_BUILDKIT_PORT:-(\d+)`),
		"registry":  def(`STACK_REGISTRY_PORT:-(\d+)`),
		"s3":        def(`STACK_MOTO_PORT:-(\d+)`),
	}
	for _, svc := range []string{"buildkitd", "registry", "s3", "tests"} {
		if _, ok := c.Services[svc]; !ok {
			t.Errorf("docker-compose.yml has no %s service", svc)
		}
	}
	if img := c.Services["buildkitd"].Image; img != "moby/buildkit:"+bkVersion {
		t.Errorf("buildkitd image %s, native stack runs %s", img, bkVersion)
	}
	if !strings.Contains(string(must(os.ReadFile("go.mod"))), "github.com/moby/buildkit "+bkVersion) {
		t.Errorf("go.mod does not pin github.com/moby/buildkit %s", bkVersion)
	}
	for svc, port := range ports {
		found := false
		for _, p := range c.Services[svc].Ports {
			if strings.HasPrefix(p, "127.0.0.1:"+port+":") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: compose ports %v do not publish 127.0.0.1:%s like the native stack", svc, c.Services[svc].Ports, port)
		}
	}
	// buildkitd reads the same certificate files as the native daemon:
	// --tlsX "$CERTS/<path>" in stack.sh ↔ --tlsX=/certs/<path> in compose.
	cmd := strings.Join(c.Services["buildkitd"].Command, " ")
	native := regexp.MustCompile(`(--tls(?:cacert|cert|key)) "\$CERTS/([^"]+)"`).FindAllSubmatch(stack, -1)
	if len(native) < 3 {
		t.Fatalf("stack.sh starts buildkitd without --tlscacert/--tlscert/--tlskey under $CERTS")
	}
	for _, m := range native {
		if want := string(m[1]) + "=/certs/" + string(m[2]); !strings.Contains(cmd, want) {
			t.Errorf("compose buildkitd lacks %s (the native daemon uses %s \"$CERTS/%s\"): %s", want, m[1], m[2], cmd)
		}
	}
	if want := "--addr=tcp://0.0.0.0:" + ports["buildkitd"]; !strings.Contains(cmd, want) {
		t.Errorf("compose buildkitd lacks %s: %s", want, cmd)
	}
	vols := strings.Join(c.Services["buildkitd"].Volumes, " ")
	if !strings.Contains(vols, "${REMOTE_BUILDKIT_STACK_DIR:-~/.cache/remote-buildkit/stack}/certs:/certs:ro") {
		t.Errorf("compose buildkitd does not mount the native stack's certs dir ($STATE/certs) at /certs: %v", vols)
	}
	if def(`STATE=\$\{REMOTE_BUILDKIT_STACK_DIR:-(\$CACHE/stack)\}`) != "$CACHE/stack" || !strings.Contains(string(stack), `CERTS=$STATE/certs`) {
		t.Errorf("stack.sh's state or certs dir moved: update docker-compose.yml's volumes")
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
	fset := token.NewFileSet()
	var long []string
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && !inModule(path, d.Name()) {
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
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no Go files found: run the test from the module root")
	}
	if len(long) > 0 {
		t.Errorf("%d functions are longer than %d lines: split them\n%s", len(long), maxFuncLines, strings.Join(long, "\n"))
	}
}

// inModule reports whether the directory at path holds the module's code:
// not .git, testdata, node_modules, a directory the go command ignores
// (".x", "_x") or another module.
func inModule(path, name string) bool {
	switch {
	case name == "testdata", name == "node_modules", strings.HasPrefix(name, "."), strings.HasPrefix(name, "_"):
		return false
	case path == filepath.Join("internal", "third_party"): // copies of other projects' code, kept close to upstream
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
