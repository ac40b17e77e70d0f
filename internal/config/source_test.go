package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// envOf builds a config.Env from a map: a key absent from the map is unset.
func envOf(m map[string]string) config.Env {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}

func TestRawFromEnv(t *testing.T) {
	const cfg = `{"tags":["app"]}`
	tests := []struct {
		name       string
		env        map[string]string
		wantJSON   string
		wantSource string
		wantErr    []string // substrings of the error; nil: no error
	}{
		{
			name: "BUILDKITE_PLUGIN_CONFIGURATION wins over BUILDKITE_PLUGINS",
			env: map[string]string{
				"BUILDKITE_PLUGIN_CONFIGURATION": cfg,
				"BUILDKITE_PLUGINS":              `[{"github.com/org/remote-buildkit-buildkite-plugin#v1.2.3":{"tags":["other"]}}]`,
			},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGIN_CONFIGURATION",
		},
		{
			name: "blank BUILDKITE_PLUGIN_CONFIGURATION falls back to BUILDKITE_PLUGINS",
			env: map[string]string{
				"BUILDKITE_PLUGIN_CONFIGURATION": "  \n",
				"BUILDKITE_PLUGINS":              `[{"remote-buildkit#main":` + cfg + `}]`,
			},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (remote-buildkit#main)",
		},
		{
			name:       "full GitHub source with -buildkite-plugin suffix",
			env:        map[string]string{"BUILDKITE_PLUGINS": `[{"github.com/org/remote-buildkit-buildkite-plugin#v1.2.3":` + cfg + `}]`},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (github.com/org/remote-buildkit-buildkite-plugin#v1.2.3)",
		},
		{
			name:       "shorthand name",
			env:        map[string]string{"BUILDKITE_PLUGINS": `[{"remote-buildkit#main":` + cfg + `}]`},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (remote-buildkit#main)",
		},
		{
			name:       "local file URL",
			env:        map[string]string{"BUILDKITE_PLUGINS": `[{"file:///abs/path/remote-buildkit#abc":` + cfg + `}]`},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (file:///abs/path/remote-buildkit#abc)",
		},
		{
			name:       "local path with trailing slash",
			env:        map[string]string{"BUILDKITE_PLUGINS": `[{"/abs/path/remote-buildkit/":` + cfg + `}]`},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (/abs/path/remote-buildkit/)",
		},
		{
			name:       "https git URL with .git",
			env:        map[string]string{"BUILDKITE_PLUGINS": `[{"https://github.com/x/remote-buildkit.git#v1":` + cfg + `}]`},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (https://github.com/x/remote-buildkit.git#v1)",
		},
		{
			name:       "ssh git URL with both suffixes",
			env:        map[string]string{"BUILDKITE_PLUGINS": `[{"ssh://git@github.com/x/remote-buildkit-buildkite-plugin.git#v1":` + cfg + `}]`},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (ssh://git@github.com/x/remote-buildkit-buildkite-plugin.git#v1)",
		},
		{
			// The agent lowercases the name before stripping the suffix.
			name:       "mixed-case repository name",
			env:        map[string]string{"BUILDKITE_PLUGINS": `[{"github.com/Org/Remote-Buildkit-Buildkite-Plugin#v1":` + cfg + `}]`},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (github.com/Org/Remote-Buildkit-Buildkite-Plugin#v1)",
		},
		{
			name: "other plugins are ignored, in any position",
			env: map[string]string{"BUILDKITE_PLUGINS": `[` +
				`{"docker-compose#v5":{"run":"app"}},` +
				`{"github.com/org/remote-buildkit-extra-buildkite-plugin#v1":{"x":1}},` +
				`{"github.com/org/remote-buildkit-buildkite-plugin#v1.2.3":` + cfg + `},` +
				`{"ecr#v2":{"login":true}}]`},
			wantJSON:   cfg,
			wantSource: "BUILDKITE_PLUGINS (github.com/org/remote-buildkit-buildkite-plugin#v1.2.3)",
		},
		{
			name:       "null config becomes an empty object",
			env:        map[string]string{"BUILDKITE_PLUGINS": `[{"remote-buildkit#v1":null}]`},
			wantJSON:   `{}`,
			wantSource: "BUILDKITE_PLUGINS (remote-buildkit#v1)",
		},
		{
			name:    "neither variable set",
			env:     map[string]string{},
			wantErr: []string{"BUILDKITE_PLUGIN_CONFIGURATION", "BUILDKITE_PLUGINS"},
		},
		{
			name:    "BUILDKITE_PLUGINS empty",
			env:     map[string]string{"BUILDKITE_PLUGINS": " "},
			wantErr: []string{"BUILDKITE_PLUGIN_CONFIGURATION", "BUILDKITE_PLUGINS"},
		},
		{
			name:    "no entry for this plugin",
			env:     map[string]string{"BUILDKITE_PLUGINS": `[{"docker-compose#v5":{"run":"app"}}]`},
			wantErr: []string{"BUILDKITE_PLUGINS has no remote-buildkit entry", "BUILDKITE_PLUGIN_CONFIGURATION"},
		},
		{
			name:    "BUILDKITE_PLUGINS is not JSON",
			env:     map[string]string{"BUILDKITE_PLUGINS": `[{"remote-buildkit#v1":`},
			wantErr: []string{"BUILDKITE_PLUGINS", "JSON"},
		},
		{
			name:    "BUILDKITE_PLUGINS is JSON but not a list of entries",
			env:     map[string]string{"BUILDKITE_PLUGINS": `{"remote-buildkit#v1":{}}`},
			wantErr: []string{"BUILDKITE_PLUGINS", "JSON list"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, source, err := config.RawFromEnvWithSource(envOf(tt.env))
			if js2, err2 := config.RawFromEnv(envOf(tt.env)); string(js2) != string(js) || fmt.Sprint(err2) != fmt.Sprint(err) {
				t.Errorf("RawFromEnv() = %s, %v; want %s, %v as with its source", js2, err2, js, err)
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("RawFromEnv() = %s, %q, nil; want an error mentioning %q", js, source, tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("RawFromEnv() error = %q; want it to mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("RawFromEnv() error = %v", err)
			}
			if string(js) != tt.wantJSON {
				t.Errorf("RawFromEnv() JSON = %s; want %s", js, tt.wantJSON)
			}
			if source != tt.wantSource {
				t.Errorf("RawFromEnv() source = %q; want %q", source, tt.wantSource)
			}
		})
	}
}
