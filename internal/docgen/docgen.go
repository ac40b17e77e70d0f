// Package docgen writes README's configuration table from plugin.yml, the
// single source of truth for the plugin's options: one row per property of
// the configuration schema, in plugin.yml's order, with its type and
// description, linked to its section in docs/configuration.md when it has one.
package docgen

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// The markers around the generated table in README.md.
const (
	Begin = "<!-- BEGIN CONFIGURATION TABLE: generated from plugin.yml by `go generate .`; do not edit by hand -->"
	End   = "<!-- END CONFIGURATION TABLE -->"
)

// Command is what regenerates the table, for messages.
const Command = "go generate ."

type property struct {
	Description string   `yaml:"description"`
	Type        any      `yaml:"type"`
	Ref         string   `yaml:"$ref"`
	Enum        []string `yaml:"enum"`
}

type manifest struct {
	Configuration struct {
		Definitions map[string]property `yaml:"definitions"`
		Properties  yaml.Node           `yaml:"properties"`
	} `yaml:"configuration"`
}

// Table renders the Markdown table of plugin.yml's options. documented holds
// the options that have a "## `name`" section in docs/configuration.md.
func Table(pluginYAML []byte, documented map[string]bool) (string, error) {
	var m manifest
	if err := yaml.Unmarshal(pluginYAML, &m); err != nil {
		return "", fmt.Errorf("plugin.yml: %w", err)
	}
	props := m.Configuration.Properties
	if props.Kind != yaml.MappingNode || len(props.Content) == 0 {
		return "", fmt.Errorf("plugin.yml: configuration.properties is not a map of options")
	}
	var b strings.Builder
	b.WriteString("| option | type | what it does |\n| --- | --- | --- |\n")
	for i := 0; i+1 < len(props.Content); i += 2 {
		name := props.Content[i].Value
		var p property
		if err := props.Content[i+1].Decode(&p); err != nil {
			return "", fmt.Errorf("plugin.yml: option %s: %w", name, err)
		}
		if p.Description == "" {
			return "", fmt.Errorf("plugin.yml: option %s has no description", name)
		}
		cell := "`" + name + "`"
		if documented[name] {
			cell = "[" + cell + "](docs/configuration.md#" + name + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", cell, typeOf(p, m.Configuration.Definitions), escape(p.Description))
	}
	return b.String(), nil
}

// typeOf names an option's JSON types as a reader says them: "string or
// list", or its enum's values.
func typeOf(p property, defs map[string]property) string {
	if len(p.Enum) > 0 {
		return "`" + strings.Join(p.Enum, "` \\| `") + "`"
	}
	if p.Type == nil && p.Ref != "" {
		if d, ok := defs[strings.TrimPrefix(p.Ref, "#/definitions/")]; ok {
			return typeOf(d, defs)
		}
	}
	var types []string
	switch t := p.Type.(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			types = append(types, fmt.Sprint(x))
		}
	}
	for i, t := range types {
		if t == "array" {
			types[i] = "list"
		}
	}
	if len(types) == 0 {
		return "any"
	}
	if len(types) == 1 {
		return types[0]
	}
	return strings.Join(types[:len(types)-1], ", ") + " or " + types[len(types)-1]
}

func escape(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", "\\|")
}

var sectionHeading = regexp.MustCompile("(?m)^## `([a-z0-9-]+)`$")

// Sections returns the options docs/configuration.md has a "## `name`"
// section for.
func Sections(configurationMD []byte) map[string]bool {
	out := map[string]bool{}
	for _, m := range sectionHeading.FindAllSubmatch(configurationMD, -1) {
		out[string(m[1])] = true
	}
	return out
}

// Splice puts table between README's markers, replacing what was there.
func Splice(readme []byte, table string) ([]byte, error) {
	i := bytes.Index(readme, []byte(Begin))
	j := bytes.Index(readme, []byte(End))
	if i < 0 || j < i {
		return nil, fmt.Errorf("README.md has no %q … %q markers around the configuration table", Begin, End)
	}
	var out bytes.Buffer
	out.Write(readme[:i+len(Begin)])
	out.WriteString("\n\n" + table + "\n")
	out.Write(readme[j:])
	return out.Bytes(), nil
}

// Generate returns README with its configuration table rendered from
// plugin.yml and docs/configuration.md.
func Generate(readme, pluginYAML, configurationMD []byte) ([]byte, error) {
	table, err := Table(pluginYAML, Sections(configurationMD))
	if err != nil {
		return nil, err
	}
	return Splice(readme, table)
}
