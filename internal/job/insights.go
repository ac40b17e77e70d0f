package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"

	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/insights"
)

// Where the job writes the timeline picture and the build record before
// uploading them as artifacts (relative to the working directory).
const (
	timelineFile   = "timeline.svg"
	recordFile     = "build.dockerbuild"
	noHistoryNotes = "the daemon has no build history API (BuildKit older than v0.13): no build record for this build; upgrade buildkitd to get one"
)

// tracker gathers one job's build insights: the steps of every solve (for
// the metadata file and the annotation's text) and, with insights on, the
// daemon's history records of the last attempt (the .dockerbuild bundle).
type tracker struct {
	on      bool   // picture and record (the insights option)
	lane    string // a bake target's name: its lanes and record file
	mu      sync.Mutex
	recs    []*insights.Recorder
	sources []insights.RecordSource
	record  string // the bundle file, once exported
	note    string // why there is no record
}

// watch prepares plan for one solve on c: a ref the record is found by, and
// the status watcher that records its steps in lane.
func (t *tracker) watch(plan *builder.Plan, c *client.Client, lane string) func(*client.SolveStatus) {
	plan.Opt.Ref = identity.NewID()
	if t.lane != "" {
		lane = strings.TrimSpace(t.lane + " " + lane)
	}
	rec := &insights.Recorder{Lane: lane, Since: time.Now()}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recs = append(t.recs, rec)
	t.sources = append(t.sources, insights.RecordSource{Client: c, Ref: plan.Opt.Ref})
	return rec.Update
}

// retry forgets a failed attempt: the next one is the build that counts.
func (t *tracker) retry() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recs, t.sources = nil, nil
}

// drop forgets the records on a client whose connection was lost.
func (t *tracker) drop(c *client.Client) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.sources[:0]
	for _, s := range t.sources {
		if s.Client != c {
			kept = append(kept, s)
		}
	}
	t.sources = kept
}

// steps are every recorded step, in start order.
func (t *tracker) steps() []insights.Step {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []insights.Step
	for _, r := range t.recs {
		out = append(out, r.Steps()...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// exportRecord writes the daemons' history records of this attempt into
// one .dockerbuild bundle while their clients are still open. Best effort:
// a daemon without history is a note in the annotation, never a failure.
func (t *tracker) exportRecord(ctx context.Context, d Deps) {
	t.mu.Lock()
	sources := append([]insights.RecordSource(nil), t.sources...)
	t.mu.Unlock()
	if !t.on || len(sources) == 0 {
		return
	}
	name := recordFile
	if t.lane != "" {
		name = "build-" + config.SafeFileName(t.lane) + ".dockerbuild"
	}
	path := filepath.Join(d.WorkDir, config.InsightsDir, name)
	// Through an os.Root on the checkout: a committed .remote-buildkit link
	// cannot take the write out of it.
	err := atomicfile.WriteIn(d.WorkDir, filepath.Join(config.InsightsDir, name), 0o644, func(w io.Writer) error { return insights.ExportRecords(ctx, sources, w) })
	switch {
	case errors.Is(err, insights.ErrNoHistory):
		t.note = noHistoryNotes
	case err != nil:
		t.note = fmt.Sprintf("no build record: %v", err)
	default:
		t.record = path
	}
}

// timeline renders the steps as the SVG picture; "" when there is none.
func (t *tracker) timeline(d Deps, title string) (string, error) {
	steps := t.steps()
	if !t.on || len(steps) == 0 {
		return "", nil
	}
	rel := filepath.Join(config.InsightsDir, timelineFile)
	svg := insights.RenderSVG(steps, insights.SVGOptions{Title: title})
	return filepath.Join(d.WorkDir, rel), atomicfile.WriteFileIn(d.WorkDir, rel, svg, 0o644)
}

// insightsOf is the metadata file's view of the steps.
func insightsOf(steps []insights.Step) *builder.Insights {
	s := insights.Summarize(steps)
	return &builder.Insights{Summary: s, Steps: steps}
}
