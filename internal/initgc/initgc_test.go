package initgc

import (
	"runtime/debug"
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

func TestRestoreKeepsGOGCFromTheEnvironment(t *testing.T) {
	if saved != 100 && saved != -1 && saved <= 0 {
		t.Fatalf("saved GC percent %d is not a GOGC value", saved)
	}
}
