package initgc

import (
	"os"
	"runtime/debug"
	"strconv"
	"testing"
)

func TestCollectorOffUntilRestore(t *testing.T) {
	// The test binary links this package, and nothing has called Restore.
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("before Restore the GC percent is %d, want -1 (off)", got)
	}
	Restore()
	if got := debug.SetGCPercent(-1); got != int(saved) {
		t.Fatalf("after Restore the GC percent is %d, want GOGC's %d", got, saved)
	}
	Restore()
}

func TestSavedIsGOGC(t *testing.T) {
	want := 100
	switch v := os.Getenv("GOGC"); v {
	case "":
	case "off":
		want = -1
	default:
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Skipf("GOGC=%q is not a number", v)
		}
		want = n
	}
	if int(saved) != want {
		t.Fatalf("saved GC percent %d, want %d from GOGC=%q", saved, want, os.Getenv("GOGC"))
	}
}
