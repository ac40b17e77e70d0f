// Package shellquote renders values the hooks `eval`: every value becomes a
// single-quoted POSIX shell word that evaluates to exactly itself.
package shellquote

import (
	"fmt"
	"regexp"
	"strings"
)

// Quote returns s as one single-quoted shell word ('it'\”s').
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var name = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Export returns an `export NAME='value'` line. It panics on a bad name:
// names are constants of this program, never user input.
func Export(key, value string) string {
	if !name.MatchString(key) {
		panic(fmt.Sprintf("shellquote: invalid variable name %q", key))
	}
	return "export " + key + "=" + Quote(value) + "\n"
}
