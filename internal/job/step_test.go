package job

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// stepDeps is a job in a fresh working directory with a Dockerfile and the
// given plugin configuration.
func stepDeps(t *testing.T, conf string, files map[string]string) Deps {
	t.Helper()
	wd := t.TempDir()
	for name, body := range map[string]string{"Dockerfile": "FROM scratch\n"} {
		files[name] = body
	}
	for name, body := range files {
		p := filepath.Join(wd, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := envOf(map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": conf, "HOME": wd, "BUILDKITE_PIPELINE_SLUG": "pipe", "BUILDKIT_HOST": "tcp://127.0.0.1:1"})
	return Deps{Env: env, WorkDir: wd, Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
}

const bakeHCL = `
group "default" { targets = ["a", "b"] }
target "a" { tags = ["r.example/a:1"] }
target "b" {
  tags = ["r.example/b:1"]
  contexts = { base = "target:a" }
}
`

func TestReadStep(t *testing.T) {
	tests := []struct {
		name, conf string
		files      map[string]string
		kind       Kind
		images     []string // names
		wantErr    string   // with exit 2
	}{
		{name: "single image", conf: `{"buildkit-host": "tcp://b:1", "tags": "r.example/x:1"}`, kind: SingleImage, images: []string{""}},
		{name: "diagnose needs no Dockerfile", conf: `{"diagnose": true, "dockerfile": "missing/Dockerfile"}`, kind: DiagnoseOnly},
		{name: "diagnose must be a boolean", conf: `{"diagnose": "yes"}`, wantErr: "diagnose"},
		{name: "not JSON", conf: `{not json`, wantErr: "not valid JSON"},
		{name: "bake", conf: `{"buildkit-host": "tcp://b:1", "bake": "docker-bake.hcl", "push": true}`, files: map[string]string{"docker-bake.hcl": bakeHCL},
			kind: BakeImages, images: []string{"a", "b"}},
		{name: "an image option beside bake", conf: `{"bake": "docker-bake.hcl", "tags": "r.example/x:1", "platforms": "linux/amd64"}`, files: map[string]string{"docker-bake.hcl": bakeHCL},
			wantErr: "platforms: set beside bake"},
		{name: "a bad target", conf: `{"bake": "docker-bake.hcl"}`, files: map[string]string{"docker-bake.hcl": `target "default" { platforms = ["plan9/pdp11"] }`},
			wantErr: "bake target default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.files == nil {
				tt.files = map[string]string{}
			}
			d := stepDeps(t, tt.conf, tt.files)
			step, err := ReadStep(context.Background(), d)
			if tt.wantErr != "" {
				if err == nil || exitcode.Of(err) != exitcode.BadConfig || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadStep() = %v (exit %d), want exit 2 with %q", err, exitcode.Of(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if step.Kind != tt.kind || len(step.Images) != len(tt.images) {
				t.Fatalf("kind %v with %d images, want %v with %d", step.Kind, len(step.Images), tt.kind, len(tt.images))
			}
			for i, im := range step.Images {
				if im.name != tt.images[i] || im.ins == nil || im.done == nil || im.opts.Dockerfile == "" {
					t.Errorf("image %d: %+v", i, im)
				}
			}
			// The step's own options carry no image: each image has its own.
			if step.Kind != DiagnoseOnly && !isZeroImage(step.Config.Image) {
				t.Errorf("step config has image options: %+v", step.Config.Image)
			}
		})
	}
}

func isZeroImage(i config.Image) bool {
	return i.Dockerfile == "" && i.ContextDir == "" && len(i.Tags) == 0 && len(i.Platforms) == 0
}

// A bake step routes by its bake files, a single image by its Dockerfile:
// both keyed by the pipeline.
func TestRouteKeys(t *testing.T) {
	d := stepDeps(t, `{"bake": "docker-bake.hcl", "push": true}`, map[string]string{"docker-bake.hcl": bakeHCL})
	bake, err := ReadStep(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	d2 := stepDeps(t, `{"tags": "r.example/x:1"}`, map[string]string{})
	single, err := ReadStep(context.Background(), d2)
	if err != nil {
		t.Fatal(err)
	}
	if bake.RouteKey == single.RouteKey || !strings.Contains(bake.RouteKey, "bake:docker-bake.hcl") || !strings.Contains(single.RouteKey, "Dockerfile") {
		t.Errorf("keys: bake %q, single %q", bake.RouteKey, single.RouteKey)
	}
	if bake.Images[1].needs["base"] != "a" {
		t.Errorf("b needs %v", bake.Images[1].needs)
	}
}

func TestValidate(t *testing.T) {
	for conf, want := range map[string]string{
		`{"tags": "r.example/x:1", "platforms": "linux/amd64"}`: "configuration valid: 1 daemon(s), 1 tag(s), 1 platform(s)",
		`{"bake": "docker-bake.hcl", "push": true}`:             "configuration valid: 1 daemon(s), bake of 2 target(s)",
		`{"diagnose": true}`:                                    "configuration valid: a diagnose step",
	} {
		d := stepDeps(t, conf, map[string]string{"docker-bake.hcl": bakeHCL})
		if err := Validate(context.Background(), d); err != nil {
			t.Fatalf("%s: %v", conf, err)
		}
		if got := d.Out.(*bytes.Buffer).String(); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", conf, got, want)
		}
	}
}
