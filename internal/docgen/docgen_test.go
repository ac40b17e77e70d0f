package docgen

import (
	"strings"
	"testing"
)

const testManifest = `configuration:
  definitions:
    stringList:
      type: [string, array]
  properties:
    zeta:
      description: First in the file, so first in the table.
      $ref: "#/definitions/stringList"
    mode:
      description: "A | B."
      enum: [content, mtime]
    push:
      description: Push
        the tags.
      type: boolean
`

// The table keeps plugin.yml's order, names types as a reader says them,
// escapes pipes, joins wrapped descriptions and links documented options.
func TestTable(t *testing.T) {
	got, err := Table([]byte(testManifest), map[string]bool{"push": true})
	if err != nil {
		t.Fatal(err)
	}
	want := "| option | type | what it does |\n| --- | --- | --- |\n" +
		"| `zeta` | string or list | First in the file, so first in the table. |\n" +
		"| `mode` | `content` \\| `mtime` | A \\| B. |\n" +
		"| [`push`](docs/configuration.md#push) | boolean | Push the tags. |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTableNeedsDescriptions(t *testing.T) {
	_, err := Table([]byte("configuration:\n  properties:\n    bare:\n      type: string\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "option bare has no description") {
		t.Errorf("err = %v, want one naming the option without a description", err)
	}
}

// Splice replaces what is between the markers and nothing else, and is
// idempotent; without markers it says which are missing.
func TestSplice(t *testing.T) {
	readme := []byte("intro\n" + Begin + "\nold table\n" + End + "\nafter\n")
	once, err := Splice(readme, "| t |\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n" + Begin + "\n\n| t |\n\n" + End + "\nafter\n"; string(once) != want {
		t.Errorf("got %q, want %q", once, want)
	}
	twice, _ := Splice(once, "| t |\n")
	if string(twice) != string(once) {
		t.Errorf("not idempotent: %q", twice)
	}
	if _, err := Splice([]byte("no markers"), "x"); err == nil || !strings.Contains(err.Error(), "markers") {
		t.Errorf("err = %v, want one about the markers", err)
	}
}
