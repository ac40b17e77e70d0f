package job

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

func TestBuildxMode(t *testing.T) {
	plugins := func(names ...string) string {
		var entries []string
		for _, n := range names {
			entries = append(entries, `{"github.com/buildkite-plugins/`+n+`-buildkite-plugin#v5.0.0": {}}`)
		}
		return "[" + strings.Join(entries, ",") + "]"
	}
	tests := []struct {
		name    string
		cfg     string
		command string
		plugins string
		want    int
		wantErr string
	}{
		{"no buildx: the plugin builds", `{"tags": ["r/a:1"]}`, "make", "", modeBuild, ""},
		{"buildx false", `{"buildx": false}`, "make", "", modeBuild, ""},
		{"buildx with a command", `{"buildx": true, "ecr": false}`, "docker buildx build .", "", modeCommand, ""},
		{"buildx with build options", `{"buildx": "ci", "tags": ["r/a:1"], "push": true}`, "", "", modeBuild, ""},
		{"both", `{"buildx": true, "tags": ["r/a:1"], "push": true}`, "docker build .", "", 0, "command and the plugin's build options (push, tags)"},
		{"neither", `{"buildx": true}`, "  ", "", 0, "no command and the plugin no build options"},
		{"diagnose", `{"buildx": true, "diagnose": true}`, "", "", modeBuild, ""},
		{"docker-compose runs the step", `{"buildx": true}`, "", plugins("docker-compose", "remote-buildkit"), modeOther, ""},
		{"docker-compose listed after", `{"buildx": true}`, "", plugins("remote-buildkit", "docker-compose"), 0, "list remote-buildkit after the docker-compose plugin"},
		{"docker-compose and build options", `{"buildx": true, "tags": ["r/a:1"]}`, "", plugins("docker-compose", "remote-buildkit"), 0, "would build a second time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": tt.cfg, "BUILDKITE_COMMAND": tt.command}
			if tt.plugins != "" {
				env["BUILDKITE_PLUGINS"] = tt.plugins
			}
			d := Deps{Env: envOf(env), WorkDir: t.TempDir()}
			cfg, err := config.Read(d.Env, d.WorkDir, config.Environment)
			if err != nil {
				t.Fatal(err)
			}
			mode, _, err := buildxMode(d, cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitcode.Of(err) != exitcode.BadConfig {
					t.Fatalf("buildxMode() = %v (exit %d), want exit 2 with %q", err, exitcode.Of(err), tt.wantErr)
				}
				return
			}
			if err != nil || mode != tt.want {
				t.Fatalf("buildxMode() = %d, %v; want %d", mode, err, tt.want)
			}
		})
	}
}

// The command as buildkite-agent's default command phase runs it.
func TestAgentCommand(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "ci"), 0o755)
	os.WriteFile(filepath.Join(dir, "ci", "build.sh"), []byte("#!/bin/sh\n"), 0o644)
	tests := []struct {
		name, command, shell, eval string
		want                       []string
		wantErr                    string
	}{
		{"default shell", "docker buildx build --push -t r/a:1 .", "", "", []string{"/bin/bash", "-e", "-c", "docker buildx build --push -t r/a:1 ."}, ""},
		{"multi-line", "docker build .\ndocker compose build", "", "", []string{"/bin/bash", "-e", "-c", "docker build .\ndocker compose build"}, ""},
		{"own shell", "make", `/usr/bin/env bash -e -o pipefail -c`, "", []string{"/usr/bin/env", "bash", "-e", "-o", "pipefail", "-c", "make"}, ""},
		{"quoted shell", "make", `"/opt/my shell/bash" -c`, "", []string{"/opt/my shell/bash", "-c", "make"}, ""},
		{"a script", "ci/build.sh", "", "", []string{"/bin/bash", "-e", "-c", "./ci/build.sh"}, ""},
		{"a script without eval", "ci/build.sh", "", "false", []string{"/bin/bash", "-e", "-c", "./ci/build.sh"}, ""},
		{"a command without eval", "make", "", "false", nil, "not allowed to evaluate console commands"},
		{"a script outside the checkout", "../x.sh", "", "false", nil, "not allowed to evaluate"},
		{"unparseable eval is not allowed", "make", "", "nope", nil, "not allowed to evaluate console commands"},
		{"empty eval is not allowed", "make", "", " ", nil, "not allowed to evaluate console commands"},
		{"bad shell", "make", `"/bin/bash -c`, "", nil, "BUILDKITE_SHELL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			if tt.shell != "" {
				env["BUILDKITE_SHELL"] = tt.shell
			}
			if tt.eval != "" {
				env["BUILDKITE_COMMAND_EVAL"] = tt.eval
			}
			got, err := agentCommand(Deps{Env: envOf(env), WorkDir: dir, Out: &bytes.Buffer{}}, tt.command)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("agentCommand() = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("agentCommand() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if fi, _ := os.Stat(filepath.Join(dir, "ci", "build.sh")); fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("the script was not made executable (mode %v), as the agent does with command eval", fi.Mode().Perm())
	}
}
