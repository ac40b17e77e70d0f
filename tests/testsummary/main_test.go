package main

import (
	"strings"
	"testing"
)

// The summary counts each test once by its end event, prints only a failed
// test's output, and names a skipped test with its reason.
func TestRead(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: quiet\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:5: chromium is not installed\n"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"--- SKIP: TestC (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`{"Action":"fail","Package":"p"}`,
	}, "\n")
	var out strings.Builder
	s, err := read(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if s.passed != 1 || s.failed != 1 || s.skipped != 1 || s.broken {
		t.Errorf("counts %d/%d/%d broken %v", s.passed, s.failed, s.skipped, s.broken)
	}
	if got := out.String(); !strings.Contains(got, "boom") || strings.Contains(got, "quiet") || !strings.Contains(got, "FAIL\tp") {
		t.Errorf("output:\n%s", got)
	}
	if len(s.skips) != 1 || s.skips[0] != "p TestC: c_test.go:5: chromium is not installed" {
		t.Errorf("skips %q", s.skips)
	}
}

// A package that fails without a failing test (it did not build) fails
// the run even with no test counted.
func TestReadBuildFailure(t *testing.T) {
	s, err := read(strings.NewReader("# p\n./x.go:1: syntax error\n"+`{"Action":"fail","Package":"p"}`), &strings.Builder{})
	if err != nil || !s.broken {
		t.Errorf("broken %v, err %v", s.broken, err)
	}
}
