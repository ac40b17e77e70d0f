package faultkit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Line is one line a job printed, When counted from the job's start; Index
// is its place among all the lines the job printed (stdout and stderr).
type Line struct {
	Index  int
	When   time.Duration
	Stderr bool
	Text   string
}

// Job is a remote-buildkit process whose output is read as it comes.
type Job struct {
	Start time.Time
	cmd   *exec.Cmd
	mu    sync.Mutex
	cond  *sync.Cond
	lines []Line
	open  int // output streams still open
	done  chan struct{}
	err   error
	wall  time.Duration
}

// StartJob runs bin args in dir with exactly env (nothing is inherited).
func StartJob(bin, dir string, env []string, args ...string) (*Job, error) {
	j := &Job{cmd: exec.Command(bin, args...), done: make(chan struct{}), open: 2}
	j.cond = sync.NewCond(&j.mu)
	j.cmd.Dir, j.cmd.Env = dir, env
	stdout, err := j.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := j.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	j.Start = time.Now()
	if err := j.cmd.Start(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); j.read(stdout, false) }()
	go func() { defer wg.Done(); j.read(stderr, true) }()
	go func() {
		wg.Wait() // (Wait closes the pipes: read them to the end first)
		err := j.cmd.Wait()
		j.mu.Lock()
		j.err, j.wall = err, time.Since(j.Start)
		j.mu.Unlock()
		close(j.done)
	}()
	return j, nil
}

func (j *Job) read(r io.Reader, stderr bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		j.mu.Lock()
		j.lines = append(j.lines, Line{Index: len(j.lines), When: time.Since(j.Start), Stderr: stderr, Text: sc.Text()})
		j.cond.Broadcast()
		j.mu.Unlock()
	}
	io.Copy(io.Discard, r)
	j.mu.Lock()
	j.open--
	j.cond.Broadcast()
	j.mu.Unlock()
}

// WaitLine waits until a line matching re has been printed after the line
// with index from-1 (from 0: any line) and returns it; an error when the
// job's output ended or timeout passed first.
func (j *Job) WaitLine(re *regexp.Regexp, from int, timeout time.Duration) (Line, error) {
	timer := time.AfterFunc(timeout, func() { j.mu.Lock(); j.cond.Broadcast(); j.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	j.mu.Lock()
	defer j.mu.Unlock()
	for seen := from; ; {
		for _, l := range j.lines[min(seen, len(j.lines)):] {
			seen = l.Index + 1
			if re.MatchString(l.Text) {
				return l, nil
			}
		}
		if j.open == 0 {
			return Line{}, fmt.Errorf("no line matching %q: the job's output ended", re)
		}
		if time.Now().After(deadline) {
			return Line{}, fmt.Errorf("no line matching %q after %s", re, timeout)
		}
		j.cond.Wait()
	}
}

// Result is a finished job.
type Result struct {
	Code           int
	Stdout, Stderr string
	Lines          []Line
	Elapsed        time.Duration
}

// Wait waits for the job to end, at most timeout (then it is killed).
func (j *Job) Wait(timeout time.Duration) (Result, error) {
	select {
	case <-j.done:
	case <-time.After(timeout):
		j.cmd.Process.Kill()
		<-j.done
		return j.result(), fmt.Errorf("the job did not end within %s (killed)", timeout)
	}
	r := j.result()
	var exit *exec.ExitError
	if j.err != nil && !errors.As(j.err, &exit) {
		return r, j.err
	}
	return r, nil
}

func (j *Job) result() Result {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := Result{Code: j.cmd.ProcessState.ExitCode(), Lines: append([]Line{}, j.lines...), Elapsed: j.wall}
	var out, errs strings.Builder
	for _, l := range j.lines {
		if l.Stderr {
			errs.WriteString(l.Text + "\n")
		} else {
			out.WriteString(l.Text + "\n")
		}
	}
	r.Stdout, r.Stderr = out.String(), errs.String()
	return r
}

// Signal sends sig to the job's process (SIGTERM: what the agent sends on cancel).
func (j *Job) Signal(sig os.Signal) error { return j.cmd.Process.Signal(sig) }
