// Package initgc turns the garbage collector off while the binary's
// packages initialise and gives the setting back in main.
//
// Every hook starts the binary, and the packages it links (the AWS SDK,
// BuildKit, buildx's bake parser) allocate about 4.5 MB in their init
// functions: with the default 4 MB heap goal that is two collections before
// main runs, about 5 ms of a 65 ms start on a 2-core agent. The package
// imports nothing, so the Go runtime initialises it first (packages are
// initialised in import-path order once their imports are done).
package initgc

import _ "unsafe" // for go:linkname

// setGCPercent is runtime/debug.SetGCPercent without runtime/debug's
// imports; the runtime provides it under this name.
//
//go:linkname setGCPercent runtime/debug.setGCPercent
func setGCPercent(int32) int32

// saved is the percentage the runtime read from GOGC (100 by default).
var saved = setGCPercent(-1)

// Restore gives the collector the GOGC setting back; main calls it first.
// Calling it again is harmless.
func Restore() {
	setGCPercent(saved)
}
