package markdown

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// hostile is text a pull request can put in a step name, an error or a log.
var hostile = []string{
	"[x](http://evil)", "![i](http://e/i.png)", "<img src=x>", "<a href=http://evil>x</a>",
	"a `tick` b", "``double``", "`", "ends with `", "a|b|c", "line\nbreak\r\nand\rmore",
	"**bold** _em_ ~~del~~", "&lt;img src=x&gt;", "http://evil.example/x", "```\n</code><img src=x>",
}

// codeBody is the literal text of a code span: between the fences, with the
// one padding space each side the renderer strips.
func codeBody(t *testing.T, span string) string {
	t.Helper()
	n := len(span) - len(strings.TrimLeft(span, "`"))
	fence := span[:n]
	if !strings.HasSuffix(span, fence) || len(span) < 2*n {
		t.Fatalf("%q is not one code span", span)
	}
	body := span[n : len(span)-n]
	if strings.Contains(body, fence) {
		t.Fatalf("%q: the fence %q occurs inside, ending the span early", span, fence)
	}
	if strings.HasPrefix(body, " ") && strings.HasSuffix(body, " ") && strings.Trim(body, " ") != "" {
		body = body[1 : len(body)-1]
	}
	return body
}

func TestCodeKeepsTextLiteral(t *testing.T) {
	for _, s := range hostile {
		t.Run(s, func(t *testing.T) {
			got := Code(s)
			if strings.ContainsAny(got, "\n\r") {
				t.Fatalf("Code(%q) = %q has a line break", s, got)
			}
			want := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
			if body := codeBody(t, got); body != want {
				t.Errorf("Code(%q) = %q renders %q", s, got, body)
			}
		})
	}
	if Code("") != "" {
		t.Errorf("Code(\"\") = %q", Code(""))
	}
}

func TestCellEscapesPipes(t *testing.T) {
	got := Cell("a|b `c`")
	if got != "`` a\\|b `c` ``" {
		t.Errorf("Cell = %q", got)
	}
	for _, s := range hostile {
		c := Cell(s)
		if strings.Contains(strings.ReplaceAll(c, `\|`, ""), "|") || strings.ContainsAny(c, "\n\r") {
			t.Errorf("Cell(%q) = %q ends the table cell", s, c)
		}
	}
}

// html is what a browser shows for escaped text: the entities decoded.
func html(s string) string {
	return regexp.MustCompile(`&#(\d+);`).ReplaceAllStringFunc(
		strings.NewReplacer("&lt;", "<", "&gt;", ">").Replace(s),
		func(e string) string {
			var n int
			fmt.Sscanf(e, "&#%d;", &n)
			return string(rune(n))
		})
}

func TestBlockIsOnePreBlock(t *testing.T) {
	got := Block(hostile)
	if !strings.HasPrefix(got, "<pre>\n") || !strings.HasSuffix(got, "\n</pre>\n") || strings.Count(got, "</pre>") != 1 {
		t.Fatalf("Block is not one <pre> block: %q", got)
	}
	for _, bad := range []string{"](http", "<img", "<a ", "</code>"} {
		if strings.Contains(got, bad) {
			t.Errorf("Block holds %q: %q", bad, got)
		}
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(got, "<pre>\n"), "\n</pre>\n")
	want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(strings.Join(hostile, "\n"))
	if shown := strings.ReplaceAll(html(inner), "&amp;", "&"); shown != want {
		t.Errorf("Block shows %q, want %q", shown, want)
	}
}

func TestInlineHasNoPunctuation(t *testing.T) {
	for _, s := range hostile {
		got := Inline(s)
		inner := strings.TrimSuffix(strings.TrimPrefix(got, "<code>"), "</code>")
		if strings.ContainsAny(strings.ReplaceAll(strings.ReplaceAll(inner, "&#", ""), ";", ""), "[]()<>`|*_~!:/.@\n\r&#") {
			t.Errorf("Inline(%q) = %q keeps punctuation", s, got)
		}
		want := strings.NewReplacer("\r\n", "  ", "\n", " ", "\r", " ").Replace(s)
		if shown := html(inner); shown != want {
			t.Errorf("Inline(%q) shows %q", s, shown)
		}
	}
}

func TestTextHasNothingActive(t *testing.T) {
	for _, s := range hostile {
		got := Text(s)
		if strings.ContainsAny(got, "[]()<>`|*_~!\n\r") {
			t.Errorf("Text(%q) = %q keeps a character Markdown acts on", s, got)
		}
	}
	if got := Text("Build <web>"); got != "Build &lt;web&gt;" {
		t.Errorf("Text = %q", got)
	}
}
