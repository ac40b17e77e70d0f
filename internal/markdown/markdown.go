// Package markdown is the one place text from a build (step names, errors,
// log lines, target names) is put into an annotation, so that nothing in it
// renders as a link, an image, HTML or emphasis: it always shows as code.
//
//   - Free text from the build goes in as HTML, every character HTML or
//     Markdown could act on written as an entity: Block, a <pre> block (an
//     HTML block, which Markdown leaves alone: no links, no autolinks), and
//     Inline, a <code> element whose text holds no ASCII punctuation at all
//     (nothing for a Markdown or autolink rule to start on; entities never
//     make structure). The rendered text is the original; the annotation's
//     source holds no "](http" or "<img" of the build's.
//   - Values the plugin has validated (image references, digests,
//     platforms) and its own words go in as code spans (Code, Cell), whose
//     backtick fence is longer than any backtick run inside, or as entity-
//     escaped text (Text).
package markdown

import (
	"fmt"
	"strings"
	"unicode"
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

// Block is lines as a <pre> block (an HTML block of its own lines, ending
// with a newline): &, <, > and the link brackets are entities, so neither
// HTML nor Markdown in them acts and "</pre>" can't end it early.
func Block(lines []string) string {
	text := strings.Join(lines, "\n")
	text = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text)
	return "<pre>\n" + blockEscaper.Replace(text) + "\n</pre>\n"
}

var blockEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "[", "&#91;", "]", "&#93;", "(", "&#40;", ")", "&#41;")

// Inline is s as a <code> element for running text or a table cell: every
// ASCII punctuation character is a numeric entity, line breaks are spaces.
func Inline(s string) string {
	var b strings.Builder
	b.WriteString("<code>")
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r < 0x80 && unicode.IsPunct(r) || r < 0x80 && unicode.IsSymbol(r):
			fmt.Fprintf(&b, "&#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString("</code>")
	return b.String()
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
