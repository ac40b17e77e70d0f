package shellquote

import (
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

// evalExport runs the export line through bash's eval and prints the value.
func evalExport(t testing.TB, value string) string {
	t.Helper()
	script := "eval \"$1\"; printf '%s' \"$V\""
	out, err := exec.Command("bash", "-c", script, "bash", Export("V", value)).Output()
	if err != nil {
		t.Fatalf("eval of %q failed: %v", Export("V", value), err)
	}
	return string(out)
}

func TestExportRoundTrips(t *testing.T) {
	for _, v := range []string{
		"", "plain", "it's", "'", "''", `"double"`, "$(touch /tmp/pwned)", "`id`", "$HOME", "a\nb\n",
		"\\", "tcp://10.0.0.1:1234", "back\\slash'quote", "semi;colon && rm -rf /", "tab\there", "*", "~",
	} {
		if got := evalExport(t, v); got != v {
			t.Errorf("round trip of %q gave %q", v, got)
		}
	}
}

func FuzzExportRoundTrips(f *testing.F) {
	for _, s := range []string{"it's", "$(id)", "`id`", "a\nb", "\"", "\\'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
			t.Skip("environment values cannot hold NUL; the agent's are UTF-8")
		}
		if got := evalExport(t, v); got != v {
			t.Errorf("round trip of %q gave %q", v, got)
		}
	})
}

func TestExportRejectsBadNames(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Export accepted the name \"A;B\"")
		}
	}()
	Export("A;B", "x")
}

// Split reads what bash would: each case's words are those of `printf '%s\n' CASE`.
func TestSplit(t *testing.T) {
	for _, s := range []string{
		"/bin/bash -e -c", "  /usr/bin/env  bash\t-c ", `"/opt/my shell/bash" -c`, `'it'\''s' x`,
		`a\ b "c \"d\" \$e \x" f`, `"" x`, `mixed"quo"'ted'`,
	} {
		got, err := Split(s)
		if err != nil {
			t.Errorf("Split(%q): %v", s, err)
			continue
		}
		out, err := exec.Command("bash", "-c", `for w in `+s+`; do printf '%s\0' "$w"; done`).Output()
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if len(out) == 0 {
			want = nil
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("Split(%q) = %q, bash reads %q", s, got, want)
		}
	}
	if _, err := Split(`"/bin/bash -c`); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}
