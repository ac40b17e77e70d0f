// Command testsummary reads `go test -json` on stdin and prints what a
// person reads of a plain `go test`: each package's ok/FAIL line, the
// output of each failed test, the skipped tests with their reasons, and a
// last line "N passed, N failed, N skipped". It exits 1 when a test failed
// or the stream held a build failure, and with -noskip when one skipped:
// `make test` runs on the full stack, where a skip hides a missing feature.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type summary struct {
	passed, failed, skipped int
	out                     map[string]*strings.Builder // per test: its output, printed if it fails or skips
	skips                   []string
	broken                  bool // output outside any test that says a build failed
}

func main() {
	noskip := flag.Bool("noskip", false, "exit 1 when a test skipped")
	flag.Parse()
	s, err := read(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	for _, k := range s.skips {
		fmt.Println("skipped:", k)
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	switch {
	case s.failed > 0 || s.broken:
		os.Exit(1)
	case *noskip && s.skipped > 0:
		fmt.Println("testsummary: tests skipped on the full stack: each skip hides something untested (install what it names, or make it run)")
		os.Exit(1)
	}
}

// read consumes the event stream, writing package results and failed
// tests' output to w as they end.
func read(r io.Reader, w io.Writer) (*summary, error) {
	s := &summary{out: map[string]*strings.Builder{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(w, string(line)) // a build error or go vet output: not JSON
			s.broken = s.broken || len(line) > 0
			continue
		}
		s.handle(e, w)
	}
	return s, sc.Err()
}

func (s *summary) handle(e event, w io.Writer) {
	key := e.Package + " " + e.Test
	if e.Test == "" {
		// Package-level lines: ok/FAIL/no test files, and build output.
		if e.Action == "output" && !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "PASS") {
			fmt.Fprint(w, e.Output)
		}
		if e.Action == "fail" && s.failed == 0 {
			s.broken = true // a package failed without a failing test: a build or set-up failure
		}
		return
	}
	switch e.Action {
	case "output":
		if s.out[key] == nil {
			s.out[key] = &strings.Builder{}
		}
		s.out[key].WriteString(e.Output)
	case "pass":
		s.passed++
		delete(s.out, key)
	case "fail":
		s.failed++
		if b := s.out[key]; b != nil {
			fmt.Fprint(w, b.String())
		}
		delete(s.out, key)
	case "skip":
		s.skipped++
		s.skips = append(s.skips, e.Package+" "+e.Test+": "+skipReason(s.out[key]))
		delete(s.out, key)
	}
}

// skipReason is the last line a skipped test logged (its t.Skip message).
func skipReason(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	var last string
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "--- SKIP") {
			last = l
		}
	}
	return last
}
