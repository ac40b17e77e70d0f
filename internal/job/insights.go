package job

import (
	"bytes"
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
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/insights"
	"github.com/remote-buildkit/remote-buildkit/internal/redact"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
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
	on      bool             // the picture (the insights option)
	keep    bool             // the build record (insights: {record: true})
	red     *redact.Redactor // the step's secret values
	lane    string           // a bake target's name: its lanes and record file
	mu      sync.Mutex
	recs    []*insights.Recorder
	sources []insights.RecordSource
	record  string // the bundle file, once exported
	note    string // why there is no record
}

// watch prepares plan for one solve on c: a ref the record is found by, and
// the status watcher that records its steps in lane.
func (t *tracker) watch(plan *solve.Plan, c *client.Client, lane string) func(*client.SolveStatus) {
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
// one .dockerbuild bundle while their clients are still open, when the
// step asks for it. Best effort: a daemon without history is a note in the
// annotation, never a failure. The records' own fields are redacted; a
// bundle whose copied blobs (log, trace, attestations) still hold a secret
// value is not written at all.
func (t *tracker) exportRecord(ctx context.Context, d Deps) {
	t.mu.Lock()
	sources := append([]insights.RecordSource(nil), t.sources...)
	t.mu.Unlock()
	if !t.on || !t.keep || len(sources) == 0 {
		return
	}
	name := recordFile
	if t.lane != "" {
		name = "build-" + config.SafeFileName(t.lane) + ".dockerbuild"
	}
	path := filepath.Join(d.WorkDir, config.InsightsDir, name)
	// Through an os.Root on the checkout: a committed .remote-buildkit link
	// cannot take the write out of it.
	err := atomicfile.WriteIn(d.WorkDir, filepath.Join(config.InsightsDir, name), 0o644, func(w io.Writer) error { return t.publicRecord(ctx, sources, w) })
	var secret *secretInRecord
	switch {
	case errors.As(err, &secret):
		warnf(d.Err, "build record not uploaded: %v", secret)
		t.note = "The build record is not uploaded: " + secret.Error()
	case errors.Is(err, insights.ErrNoHistory):
		t.note = noHistoryNotes
	case err != nil:
		t.note = fmt.Sprintf("no build record: %v", err)
	default:
		t.record = path
	}
}

// secretInRecord: a bundle that can't be published as it is.
type secretInRecord struct{ what string }

func (e *secretInRecord) Error() string { return e.what }

// publicRecord exports the records redacted into w, or nothing (an error)
// when the bundle still holds a secret value or can't be checked.
func (t *tracker) publicRecord(ctx context.Context, sources []insights.RecordSource, w io.Writer) error {
	var buf bytes.Buffer
	if err := insights.ExportScrubbed(ctx, sources, &buf, t.red.String); err != nil {
		return err
	}
	name, err := insights.FindInBundle(buf.Bytes(), t.red.Find)
	switch {
	case err != nil:
		return &secretInRecord{fmt.Sprintf("it could not be checked for secret values (%v)", err)}
	case name != "":
		return &secretInRecord{fmt.Sprintf("its log, trace or attestations (copied from the daemon as they are) hold the value of %s; pass secrets with secrets:, never build-args", name)}
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// timeline renders the steps as the SVG picture; "" when there is none.
func (t *tracker) timeline(d Deps, title string) (string, error) {
	steps := t.steps()
	if !t.on || len(steps) == 0 {
		return "", nil
	}
	rel := filepath.Join(config.InsightsDir, timelineFile)
	svg := insights.RenderSVG(redactSteps(t.red, steps), insights.SVGOptions{Title: t.red.String(title)})
	return filepath.Join(d.WorkDir, rel), atomicfile.WriteFileIn(d.WorkDir, rel, []byte(t.red.String(string(svg))), 0o644)
}

// insightsOf is the metadata file's view of the steps.
func insightsOf(steps []insights.Step) *solve.Insights {
	s := insights.Summarize(steps)
	return &solve.Insights{Summary: s, Steps: steps}
}
