package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Env looks up a variable of the job's environment (os.LookupEnv in the binary).
type Env func(key string) (string, bool)

// Get returns the variable's value, "" when unset.
func (e Env) Get(key string) string {
	v, _ := e(key)
	return v
}

// ErrNoConfiguration: the job has no configuration for this plugin (no
// BUILDKITE_PLUGIN_CONFIGURATION and no entry in BUILDKITE_PLUGINS).
var ErrNoConfiguration = errors.New("no plugin configuration")

// PluginName is the name Buildkite derives from this plugin's repository.
const PluginName = "remote-buildkit"

// rawFromEnv returns the plugin's configuration as JSON:
// BUILDKITE_PLUGIN_CONFIGURATION (set by the agent for the running plugin),
// else this plugin's entry in BUILDKITE_PLUGINS, and says where it came
// from (which variable, which BUILDKITE_PLUGINS entry). Read is its only
// caller: no other package reads the raw configuration.
func rawFromEnv(env Env) ([]byte, string, error) {
	if v, ok := env("BUILDKITE_PLUGIN_CONFIGURATION"); ok && strings.TrimSpace(v) != "" {
		return []byte(v), "BUILDKITE_PLUGIN_CONFIGURATION", nil
	}
	plugins, ok := env("BUILDKITE_PLUGINS")
	if !ok || strings.TrimSpace(plugins) == "" {
		return nil, "", fmt.Errorf("%w: neither BUILDKITE_PLUGIN_CONFIGURATION nor BUILDKITE_PLUGINS is set (run this from the plugin's hooks, or set BUILDKITE_PLUGIN_CONFIGURATION to the plugin's JSON config)", ErrNoConfiguration)
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(plugins), &entries); err != nil {
		return nil, "", fmt.Errorf("BUILDKITE_PLUGINS is not a JSON list of plugin entries: %w", err)
	}
	for _, entry := range entries {
		for source, cfg := range entry {
			if pluginNameFromSource(source) != PluginName {
				continue
			}
			if string(cfg) == "null" {
				cfg = []byte("{}")
			}
			return cfg, "BUILDKITE_PLUGINS (" + source + ")", nil
		}
	}
	return nil, "", fmt.Errorf("%w: BUILDKITE_PLUGINS has no %s entry: add the plugin to the step, or set BUILDKITE_PLUGIN_CONFIGURATION", ErrNoConfiguration, PluginName)
}

// pluginNameFromSource mirrors the agent's naming: the last path element of the
// plugin's location, without "#ref", ".git" and "-buildkite-plugin".
func pluginNameFromSource(source string) string {
	source, _, _ = strings.Cut(source, "#")
	source = strings.TrimRight(source, "/")
	name := strings.ToLower(path.Base(source)) // the agent lowercases before stripping suffixes
	name = strings.TrimSuffix(name, ".git")
	name = strings.TrimSuffix(name, "-buildkite-plugin")
	return strings.ToLower(name)
}

// pluginNames returns the names of the step's plugins in BUILDKITE_PLUGINS,
// in order, as the agent derives them ("docker-compose", "remote-buildkit").
func pluginNames(env Env) []string {
	var entries []map[string]json.RawMessage
	if json.Unmarshal([]byte(env.Get("BUILDKITE_PLUGINS")), &entries) != nil {
		return nil
	}
	var out []string
	for _, entry := range entries {
		for source := range entry {
			out = append(out, pluginNameFromSource(source))
		}
	}
	return out
}
