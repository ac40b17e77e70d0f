// Command gen rewrites README.md's configuration table from plugin.yml
// (`go generate .` at the module root runs it).
package main

import (
	"fmt"
	"os"

	"github.com/remote-buildkit/remote-buildkit/internal/docgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

func run() error {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return fmt.Errorf("run from the module root: %w", err)
	}
	plugin, err := os.ReadFile("plugin.yml")
	if err != nil {
		return err
	}
	configuration, err := os.ReadFile("docs/configuration.md")
	if err != nil {
		return err
	}
	out, err := docgen.Generate(readme, plugin, configuration)
	if err != nil {
		return err
	}
	return os.WriteFile("README.md", out, 0o644)
}
