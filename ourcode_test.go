package remotebuildkit_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// Only code written for this project is in the tree: libraries come in as
// modules, unmodified — no copied packages, no replace directive — and the
// binary links buildx's bake package from the module cache.
func TestOnlyOurCode(t *testing.T) {
	if _, err := os.Stat(filepath.Join("internal", "third_party")); err == nil {
		t.Error("internal/third_party exists: use the library as a module instead of a copy")
	}
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf.Replace {
		t.Errorf("go.mod replaces %s with %s: libraries come in unmodified", r.Old.Path, r.New.Path)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not installed")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{with .Module}}{{.Dir}}{{end}}", "./cmd/remote-buildkit").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cache := strings.TrimSpace(string(modcache))
	for _, line := range strings.Split(string(out), "\n") {
		if pkg, dir, _ := strings.Cut(line, " "); pkg == "github.com/docker/buildx/bake" {
			if !strings.HasPrefix(dir, cache+string(filepath.Separator)) {
				t.Errorf("github.com/docker/buildx/bake comes from %s, not the module cache %s", dir, cache)
			}
			return
		}
	}
	t.Error("the binary does not link github.com/docker/buildx/bake: bake files are read with buildx's own package")
}
