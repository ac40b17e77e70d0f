package insights

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"google.golang.org/grpc"
)

// A daemon that serves none of the control API (as one before the history
// API answers those calls): ErrNoHistory, and nothing written.
func TestExportRecordNoHistory(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "bk.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	go srv.Serve(l)
	t.Cleanup(srv.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, "unix://"+sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	err = ExportRecord(ctx, c, "ref123", &out)
	if !errors.Is(err, ErrNoHistory) {
		t.Fatalf("got %v, want ErrNoHistory", err)
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes written", out.Len())
	}
	t.Logf("the error reads: %v", err)
}

func TestExportRecordsArguments(t *testing.T) {
	if err := ExportRecords(context.Background(), nil, &bytes.Buffer{}); err == nil {
		t.Fatal("no sources: want an error")
	}
	if err := ExportRecord(context.Background(), nil, "", &bytes.Buffer{}); err == nil || errors.Is(err, ErrNoHistory) {
		t.Fatalf("no ref: got %v", err)
	}
}

// BenchmarkRecorderAndRender is one build's insights: ~50 vertices and
// ~2000 status updates through the Recorder, then the summary, the SVG and
// the annotation.
func BenchmarkRecorderAndRender(b *testing.B) {
	sts := stream(exampleSteps(50), 2000)
	b.ReportAllocs()
	for b.Loop() {
		r := &Recorder{Lane: "linux/amd64"}
		for _, st := range sts {
			r.Update(st)
		}
		steps := r.Steps()
		_ = Summarize(steps)
		_ = RenderSVG(steps, SVGOptions{Title: "bench"})
		_ = Markdown("bench", steps, "timeline.svg", nil)
	}
	b.ReportMetric(float64(len(sts)), "updates/op")
}

// BenchmarkRecorderUpdate is the cost the status goroutine pays per update.
func BenchmarkRecorderUpdate(b *testing.B) {
	sts := stream(exampleSteps(50), 2000)
	r := &Recorder{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Update(sts[i%len(sts)])
		i++
	}
}
