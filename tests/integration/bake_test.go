package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// One step, three targets: base (two platforms), app (target + args), tool
// (inherits app, FROM base through a target: context). Every tag is in the
// registry with its content; the metadata file (bake's shape) matches.
func TestParallelBakeThreeTargets(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	bakeFile := `
variable "REPO" { default = "` + repo + `" }
group "default" { targets = ["base", "app", "tool"] }
target "base" {
  context   = "base"
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = ["${REPO}:base"]
}
target "app" {
  context = "app"
  target  = "runtime"
  args    = { GREETING = "hello from app" }
  tags    = ["${REPO}:app"]
}
target "tool" {
  inherits = ["app"]
  context  = "tool"
  contexts = { base = "target:base" }
  tags     = ["${REPO}:tool"]
}
`
	dir := writeFiles(t, map[string]string{
		"docker-bake.hcl":    bakeFile,
		"base/Dockerfile":    "FROM scratch\nCOPY base.txt /\n",
		"base/base.txt":      "the base\n",
		"app/Dockerfile":     "FROM " + s.BaseImage + " AS build\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\nFROM scratch AS runtime\nCOPY --from=build /greeting /greeting\nFROM scratch AS other\n",
		"tool/Dockerfile":    "FROM base AS runtime\nCOPY tool.txt /\n",
		"tool/tool.txt":      "the tool\n",
		"tool/.dockerignore": "",
		"app/.dockerignore":  "",
		"base/.dockerignore": "",
		"bake-results/.keep": "",
	})
	meta := filepath.Join(dir, "bake-results", "meta.json")
	r := s.run(t, dir, s.baseConfig(map[string]any{"bake": "docker-bake.hcl", "push": true, "metadata-file": meta}))
	if r.Code != 0 {
		t.Fatalf("bake failed: %s", r)
	}
	for _, prefix := range []string{"[base] ", "[app] ", "[tool] "} {
		if !strings.Contains(r.Stderr, prefix) {
			t.Errorf("no progress lines prefixed %q", prefix)
		}
	}
	m := readMetadata(t, meta)
	for _, target := range []string{"base", "app", "tool"} {
		entry, _ := m[target].(map[string]any)
		got, _ := entry["containerimage.digest"].(string)
		if d := s.descriptor(t, repo+":"+target).Digest.String(); got == "" || got != d {
			t.Errorf("%s: metadata digest %q, registry %s", target, got, d)
		}
	}
	if idx := s.descriptor(t, repo+":base"); !strings.Contains(string(idx.MediaType), "index") {
		t.Errorf("base is %s, want a two-platform index", idx.MediaType)
	}
	if got := s.imageFile(t, repo+":app", "greeting"); got != "hello from app\n" {
		t.Errorf("app /greeting = %q, want the build arg's text", got)
	}
	if got := s.imageFile(t, repo+":tool", "base.txt"); got != "the base\n" {
		t.Errorf("tool /base.txt = %q: the target:base context did not give it base's image", got)
	}
	if got := s.imageFile(t, repo+":tool", "tool.txt"); got != "the tool\n" {
		t.Errorf("tool /tool.txt = %q", got)
	}
}

func TestParallelBakeComposeTwoServices(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{
		"compose.yaml":   "services:\n  api:\n    image: " + repo + ":api\n    build: ./api\n  web:\n    image: " + repo + ":web\n    build:\n      context: ./web\n      args: {WHO: web}\n  db:\n    image: postgres\n",
		"api/Dockerfile": "FROM scratch\nCOPY Dockerfile /api\n",
		"web/Dockerfile": "FROM " + s.BaseImage + "\nARG WHO\nRUN echo $WHO > /who\n",
	})
	r := s.run(t, dir, s.baseConfig(map[string]any{"bake": "compose.yaml", "push": true}))
	if r.Code != 0 {
		t.Fatalf("compose bake failed: %s", r)
	}
	if got := s.imageFile(t, repo+":web", "who"); got != "web\n" {
		t.Errorf("web /who = %q", got)
	}
	if tags := s.tags(t, repo); len(tags) != 2 {
		t.Errorf("registry tags %v, want api and web", tags)
	}
}

func TestParallelBakeErrors(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{
		"bad.hcl":         "target \"x\" {\n  tags = [\n}\n",
		"docker-bake.hcl": "target \"api\" {}\ntarget \"web\" {}\n",
		"Dockerfile":      "FROM scratch\n",
	})
	cases := []struct {
		name string
		cfg  map[string]any
		want []string
	}{
		{"syntax error", map[string]any{"bake": "bad.hcl"}, []string{"bad.hcl:3"}},
		{"unknown target", map[string]any{"bake": "docker-bake.hcl", "targets": "nope"}, []string{"nope", "api", "web"}},
		{"image option beside bake", map[string]any{"bake": "docker-bake.hcl", "tags": []string{"r/x:1"}}, []string{"tags", "beside bake"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.run(t, dir, s.baseConfig(tc.cfg))
			if r.Code != 2 {
				t.Fatalf("want exit 2: %s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r)
				}
			}
		})
	}
}
