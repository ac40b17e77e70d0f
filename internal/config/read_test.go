package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// Read is the one reader: its phases and modes, table by table.
func TestRead(t *testing.T) {
	wd := t.TempDir() // no Dockerfile
	tests := []struct {
		name     string
		env      map[string]string
		phase    config.Phase
		opts     []config.ReadOption
		wantCfg  bool     // a Config comes back
		wantErr  []string // every one in the error; none = no error
		wantHost string
	}{
		{name: "build checks the checkout", env: map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1"}`},
			phase: config.Build, wantErr: []string{"dockerfile: file"}},
		{name: "the command hook's diagnose step needs no Dockerfile", env: map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1", "diagnose": true}`},
			phase: config.Command, wantCfg: true, wantHost: "tcp://b:1"},
		{name: "the command hook's bake step: its targets are checked", env: map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1", "bake": "x.hcl"}`},
			phase: config.Command, wantCfg: true, wantHost: "tcp://b:1"},
		{name: "the command hook's buildx command", env: map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1", "buildx": true}`, "BUILDKITE_COMMAND": "make"},
			phase: config.Command, wantCfg: true, wantHost: "tcp://b:1"},
		{name: "the command hook's own build checks the checkout", env: map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1", "tags": ["r.example/a:1"]}`},
			phase: config.Command, wantErr: []string{"dockerfile: file"}},
		{name: "buildx with build options builds here", env: map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1", "buildx": true, "tags": ["r.example/a:1"]}`},
			phase: config.Command, wantErr: []string{"dockerfile: file"}},
		{name: "no configuration", env: map[string]string{}, phase: config.Environment, wantErr: []string{"no plugin configuration"}},
		{name: "no configuration reads as {} for environment --buildx", env: map[string]string{"BUILDKIT_HOST": "tcp://env:1"},
			phase: config.Environment, opts: []config.ReadOption{config.EmptyIfAbsent}, wantCfg: true, wantHost: "tcp://env:1"},
		{name: "keep going without a configuration: the defaults and why", env: map[string]string{"BUILDKIT_HOST": "tcp://env:1"},
			phase: config.Environment, opts: []config.ReadOption{config.KeepGoing}, wantCfg: true, wantHost: "tcp://env:1", wantErr: []string{"no plugin configuration"}},
		{name: "every problem, and no config", env: map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1", "pushh": true, "connect-timeout": "soon", "ecr": {"region": 5}}`},
			phase: config.Environment, wantErr: []string{"pushh: unknown option", "connect-timeout:", "ecr.region:"}},
		{name: "keep going: every problem, and the options that passed", env: map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1", "pushh": true, "connect-timeout": "soon", "ecr": {"region": 5}}`},
			phase: config.Environment, opts: []config.ReadOption{config.KeepGoing}, wantCfg: true, wantHost: "tcp://b:1",
			wantErr: []string{"pushh: unknown option", "connect-timeout:", "ecr.region:"}},
		{name: "the step's plugins", env: map[string]string{"BUILDKITE_PLUGINS": `[{"github.com/buildkite-plugins/docker-compose-buildkite-plugin#v5": {}}, {"github.com/acme/remote-buildkit-buildkite-plugin#v1": {"buildkit-host": "tcp://b:1"}}]`},
			phase: config.Environment, wantCfg: true, wantHost: "tcp://b:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Read(envOf(tt.env), wd, tt.phase, tt.opts...)
			if (cfg != nil) != tt.wantCfg {
				t.Fatalf("Read() = %+v, %v; want a config: %v", cfg, err, tt.wantCfg)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Read() error = %v; want it to hold %q", err, want)
				}
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Read() error = %v", err)
			}
			if cfg != nil && cfg.Default().Host != tt.wantHost {
				t.Errorf("host = %q, want %q", cfg.Default().Host, tt.wantHost)
			}
		})
	}
}

// The names of the step's plugins come with the config (buildx decides
// who runs the step's command by them).
func TestReadPlugins(t *testing.T) {
	env := envOf(map[string]string{"BUILDKITE_PLUGINS": `[{"github.com/buildkite-plugins/docker-compose-buildkite-plugin#v5": {}}, {"github.com/acme/remote-buildkit-buildkite-plugin#v1": null}]`})
	cfg, err := config.Read(env, t.TempDir(), config.Environment)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"docker-compose", "remote-buildkit"}; !slices.Equal(cfg.Plugins, want) {
		t.Errorf("Plugins = %v, want %v", cfg.Plugins, want)
	}
	if _, err := config.Read(envOf(map[string]string{"BUILDKITE_PLUGINS": `[]`}), t.TempDir(), config.Environment); !errors.Is(err, config.ErrNoConfiguration) {
		t.Errorf("no entry: %v, want ErrNoConfiguration", err)
	}
}

// A bake target's options merge over the step's (without bake, targets,
// set) and are checked as a single image's.
func TestForTarget(t *testing.T) {
	wd := t.TempDir()
	os.WriteFile(filepath.Join(wd, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	env := envOf(map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host": "tcp://b:1", "bake": ["x.hcl"], "targets": "a", "set": ["*.no-cache=true"], "push": true, "retries": 3}`})
	step, err := config.Read(env, wd, config.Command)
	if err != nil {
		t.Fatal(err)
	}
	b := step.Bake
	if b == nil || !slices.Equal(b.Files, []string{"x.hcl"}) || !slices.Equal(b.Targets, []string{"a"}) || !slices.Equal(b.Set, []string{"*.no-cache=true"}) {
		t.Errorf("Bake = %+v", b)
	}
	cfg, err := step.Target(map[string]any{"tags": []string{"r.example/a:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Retries != 3 || !cfg.Push || !slices.Equal(cfg.Tags, []string{"r.example/a:1"}) || slices.Contains(cfg.Options, "bake") {
		t.Errorf("target config: retries %d push %v tags %v options %v", cfg.Retries, cfg.Push, cfg.Tags, cfg.Options)
	}
	if _, err := step.Target(map[string]any{"platforms": []string{"plan9/pdp11"}}); err == nil || !strings.Contains(err.Error(), "platforms") {
		t.Errorf("a bad target: %v", err)
	}
}

// The user's git attributes file comes from the job's environment:
// $XDG_CONFIG_HOME/git/attributes, else ~/.config/git/attributes.
func TestGitAttributesFromTheJobsEnvironment(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/a"}, "/xdg/git/attributes"},
		{map[string]string{"HOME": "/home/a"}, "/home/a/.config/git/attributes"},
		{map[string]string{}, ""},
	} {
		tt.env["BUILDKITE_PLUGIN_CONFIGURATION"] = `{"buildkit-host": "tcp://b:1"}`
		cfg, err := config.Read(envOf(tt.env), t.TempDir(), config.Environment)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ContextSync.GitAttributes != tt.want {
			t.Errorf("%v: GitAttributes = %q, want %q", tt.env, cfg.ContextSync.GitAttributes, tt.want)
		}
	}
}
