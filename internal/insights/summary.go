package insights

import (
	"cmp"
	"slices"
	"time"
)

// ContextStep is the name BuildKit gives the transfer of the build context.
const ContextStep = "[internal] load build context"

// SlowestCount is how many of the slowest steps Summarize keeps.
const SlowestCount = 5

// Summary is what the annotation and the metadata file say about a build's
// steps. Durations are in seconds.
type Summary struct {
	WallSeconds     float64 `json:"wall_seconds"` // first start to last end
	Steps           int     `json:"steps"`
	CachedSteps     int     `json:"cached_steps"`
	CachedSeconds   float64 `json:"cached_seconds"`   // sum over cached steps
	ExecutedSeconds float64 `json:"executed_seconds"` // sum over steps that ran
	ContextBytes    int64   `json:"context_bytes"`    // build context transferred, all lanes
	Slowest         []Step  `json:"slowest"`          // up to SlowestCount, longest first
	Failed          string  `json:"failed,omitempty"` // the first failed step's name
}

// Summarize adds up the steps. Steps that never started count in Steps only.
func Summarize(steps []Step) Summary {
	s := Summary{Slowest: []Step{}}
	var first, last time.Time
	var timed []Step
	for _, st := range steps {
		s.Steps++
		if st.Cached {
			s.CachedSteps++
		}
		if st.Name == ContextStep {
			s.ContextBytes += st.Bytes
		}
		if st.Failed() && s.Failed == "" {
			s.Failed = st.Name
		}
		if st.Start.IsZero() {
			continue
		}
		if first.IsZero() || st.Start.Before(first) {
			first = st.Start
		}
		if end := st.End; end.After(last) {
			last = end
		} else if st.Start.After(last) {
			last = st.Start
		}
		d := st.Duration().Seconds()
		if st.Cached {
			s.CachedSeconds += d
		} else {
			s.ExecutedSeconds += d
		}
		timed = append(timed, st)
	}
	s.WallSeconds = last.Sub(first).Seconds()
	s.Slowest = slowest(timed, SlowestCount)
	return s
}

// slowest returns the n longest steps, longest first (ties: earlier first).
func slowest(steps []Step, n int) []Step {
	out := slices.Clone(steps)
	slices.SortStableFunc(out, func(a, b Step) int {
		return cmp.Compare(b.Duration(), a.Duration())
	})
	if len(out) > n {
		out = out[:n]
	}
	return append([]Step{}, out...)
}
