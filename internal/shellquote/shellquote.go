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

// Split splits s into words as a POSIX shell would (and as buildkite-agent
// splits BUILDKITE_SHELL): blanks separate words, single quotes keep
// everything, double quotes keep everything but a backslash before $, `,
// ", \ or a newline, and a backslash outside quotes keeps the next
// character.
func Split(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord, quote := false, rune(0)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune("$`\"\\\n", rs[i+1]):
				i++
				w.WriteRune(rs[i])
			default:
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\':
			if i+1 < len(rs) {
				i++
				w.WriteRune(rs[i])
			}
			inWord = true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
