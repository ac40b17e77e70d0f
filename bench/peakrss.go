package main

// --- peak RSS of one command ---------------------------------------------------
//
// A command started by the bench can't report its own peak resident set: Go
// starts commands with vfork (CLONE_VM), and Linux carries the parent's
// high-water RSS into the child's ru_maxrss at exec (`true` started by a Go
// program holding 200 MB reports 207 MB). Every command the bench ran
// reported at least the bench's own peak: 109 MB for remote-buildkit and
// buildctl alike in 2026-12-06's first full run. So the command is started
// by a small copy of the bench (`bench peak-rss CMD ARGS…`), whose own few MB
// are all it passes on; that floor is measured with `true` and reported
// beside the numbers.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// peakRSSArg as the first argument makes the bench the small helper.
const peakRSSArg = "peak-rss"

// peakRSSChild runs args[0] with args[1:] (standard streams, environment and
// directory inherited), writes its ru_maxrss in KB to file descriptor 3, and
// exits with its exit code.
func peakRSSChild(args []string) {
	report := os.NewFile(3, "peak-rss")
	syscall.CloseOnExec(3)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "bench peak-rss: %v\n", err)
		os.Exit(1)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		fmt.Fprintf(report, "%d\n", ru.Maxrss)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}

// runPeak is run for a command whose peak RSS matters: it goes through
// peakRSSChild, and sample.maxRS is the command's own peak (KB).
func runPeak(env []string, dir string, name string, args ...string) sample {
	self, err := os.Executable()
	must(err)
	r, w, err := os.Pipe()
	must(err)
	defer r.Close()
	cmd := command(env, dir, self, append([]string{peakRSSArg, name}, args...)...)
	cmd.ExtraFiles = []*os.File{w}
	wall := timed(cmd, name, args)
	w.Close()
	b, err := io.ReadAll(r)
	must(err)
	kb, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		fail("peak RSS of %s: the helper reported %q", name, b)
	}
	return sample{wall, kb, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}
