package insights

import (
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// A cached vertex shared with an earlier build reports that build's start:
// the recorder keeps this solve's times.
func TestRecorderClampsToTheSolvesStart(t *testing.T) {
	since := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	before, after := since.Add(-time.Minute), since.Add(2*time.Second)
	r := &Recorder{Since: since}
	r.Update(&client.SolveStatus{Vertexes: []*client.Vertex{
		{Digest: digest.FromString("from"), Name: "[1/2] FROM base", Started: &before, Completed: &before, Cached: true},
		{Digest: digest.FromString("run"), Name: "[2/2] RUN true", Started: &since, Completed: &after},
	}})
	steps := r.Steps()
	if len(steps) != 2 || !steps[0].Start.Equal(since) || !steps[0].End.Equal(since) || steps[0].Seconds != 0 {
		t.Fatalf("steps %+v, want the shared FROM clamped to %s", steps, since)
	}
	if got := Summarize(steps).WallSeconds; got != 2 {
		t.Errorf("wall %v s, want 2 (this solve only)", got)
	}
}
