// Package markdown is the one place text from a build (step names, errors,
// log lines, target names, references) is put into an annotation: always as
// code, so that no link, image, HTML or emphasis in it renders.
//
// A code span or a fenced block is literal in CommonMark and GFM: no inline
// parsing, no entity decoding, no autolinks. The only ways out are the
// closing backticks, which are chosen longer than any backtick run in the
// text, and (in a table) a pipe or a line break, which Cell escapes.
package markdown

import (
	"fmt"
	"strings"
)

// Code is s as one inline code span ("" for empty text). Line breaks become
// spaces: a code span can't hold them and they would end a table row.
func Code(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	if s == "" {
		return ""
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || allSpaces(s) {
		s = " " + s + " " // one space each side is stripped by the renderer
	}
	return fence + s + fence
}

// Cell is s as a code span inside a GFM table cell, where a pipe ends the
// cell even in code unless escaped.
func Cell(s string) string {
	return strings.ReplaceAll(Code(s), "|", `\|`)
}

// Block is lines as a fenced code block (ending with a newline), its fence
// longer than any backtick or tilde run in them.
func Block(lines []string) string {
	text := strings.Join(lines, "\n")
	text = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text)
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	return fence + "\n" + text + "\n" + fence + "\n"
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] != c {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return longest
}

func allSpaces(s string) bool {
	return strings.Trim(s, " ") == ""
}

// Text is s as plain Markdown text, for the plugin's own words (titles
// naming a Dockerfile): every character Markdown or HTML could act on is an
// entity, which renders as the character itself; line breaks are spaces.
// Text from the build goes through Code, Cell or Block instead.
func Text(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case strings.ContainsRune("[]()!*_`|\\~#{}\"'", r):
			fmt.Fprintf(&b, "&#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
