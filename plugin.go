// Package remotebuildkit holds the plugin's manifest, embedded so the binary
// validates its configuration against the same schema Buildkite's tooling reads.
package remotebuildkit

//go:generate go run ./internal/docgen/gen

import _ "embed"

// PluginYAML is plugin.yml: its `configuration` JSON schema is the single
// source of truth for the plugin's options.
//
//go:embed plugin.yml
var PluginYAML []byte
