package insights

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// Step is one BuildKit vertex of a build: what ran, when, and how.
type Step struct {
	Lane    string    `json:"lane,omitempty"`
	Name    string    `json:"name"`
	Digest  string    `json:"digest"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Seconds float64   `json:"seconds"`
	Cached  bool      `json:"cached"`
	Error   string    `json:"error,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
}

// Duration is how long the step ran; 0 when it never started or finished.
func (s Step) Duration() time.Duration {
	if s.Start.IsZero() || s.End.IsZero() || s.End.Before(s.Start) {
		return 0
	}
	return s.End.Sub(s.Start)
}

// Failed reports a step that ended with its own error (not one cancelled
// because another step failed).
func (s Step) Failed() bool { return s.Error != "" && !s.Cancelled() }

// Cancelled reports a step stopped because the build was cancelled or
// another step failed.
func (s Step) Cancelled() bool { return strings.Contains(s.Error, "context canceled") }

// Recorder collects the steps of one solve from its status stream. Set Lane
// (a platform or bake target) before the first Update; the zero value is
// ready to use. Update and Steps may be called from different goroutines.
type Recorder struct {
	Lane string
	// Since is when the solve started (zero: unknown). A vertex another
	// build on the daemon started earlier (a shared, cached FROM) reports
	// that build's times: they are clamped to Since, so the timeline and
	// the wall time are this build's.
	Since time.Time

	mu    sync.Mutex
	steps map[digest.Digest]*Step
	order []digest.Digest // first seen
}

// Update records one status update of the solve.
func (r *Recorder) Update(st *client.SolveStatus) {
	if st == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.steps == nil {
		r.steps = map[digest.Digest]*Step{}
	}
	for _, v := range st.Vertexes {
		r.vertex(v)
	}
	for _, s := range st.Statuses {
		if !strings.HasPrefix(s.ID, "transferring ") {
			continue
		}
		if step := r.steps[s.Vertex]; step != nil && s.Current > step.Bytes {
			step.Bytes = s.Current
		}
	}
}

func (r *Recorder) vertex(v *client.Vertex) {
	s := r.steps[v.Digest]
	if s == nil {
		s = &Step{Digest: v.Digest.String(), Lane: joinLane(r.Lane, platformOf(v.Name))}
		r.steps[v.Digest] = s
		r.order = append(r.order, v.Digest)
	}
	s.Name = v.Name
	if v.Started != nil && (s.Start.IsZero() || v.Started.Before(s.Start)) {
		s.Start = r.clamp(*v.Started)
	}
	if v.Completed != nil {
		if end := r.clamp(*v.Completed); end.After(s.End) {
			s.End = end
		}
		s.Cached = v.Cached
	}
	if v.Error != "" {
		s.Error = v.Error
	}
	s.Seconds = s.Duration().Seconds()
}

// clamp moves a time from before the solve to its start.
func (r *Recorder) clamp(t time.Time) time.Time {
	if !r.Since.IsZero() && t.Before(r.Since) {
		return r.Since
	}
	return t
}

// Steps returns a copy of the steps recorded so far, by start time (steps
// that never started last, in the order they were seen).
func (r *Recorder) Steps() []Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Step, 0, len(r.order))
	for _, d := range r.order {
		out = append(out, *r.steps[d])
	}
	slices.SortStableFunc(out, byStart)
	return out
}

func byStart(a, b Step) int {
	switch {
	case a.Start.Equal(b.Start):
		return 0
	case a.Start.IsZero():
		return 1
	case b.Start.IsZero():
		return -1
	}
	return a.Start.Compare(b.Start)
}

// platformOf returns the platform a multi-platform Dockerfile build puts in
// front of a step's name ("[linux/arm64 build 2/3] RUN …"), or "".
func platformOf(name string) string {
	rest, ok := strings.CutPrefix(name, "[")
	if !ok {
		return ""
	}
	word, _, _ := strings.Cut(rest, " ")
	word = strings.TrimSuffix(word, "]")
	osName, _, ok := strings.Cut(word, "/")
	if !ok {
		return ""
	}
	switch osName {
	case "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "illumos", "solaris", "wasip1":
		return word
	}
	return ""
}

// joinLane names a lane from the caller's lane and the step's platform.
func joinLane(lane, platform string) string {
	switch {
	case platform == "" || platform == lane:
		return lane
	case lane == "":
		return platform
	}
	return lane + " " + platform
}
