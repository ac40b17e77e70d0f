package insights

import (
	"fmt"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// fakeStep is a vertex of a made-up build: when it starts and how long it
// runs, relative to the build's start.
type fakeStep struct {
	name       string
	start, dur time.Duration
	cached     bool
	err        string
	bytes      int64 // a context transfer
}

var t0 = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

func (f fakeStep) digest() digest.Digest { return digest.FromString(f.name) }

// stream is the status updates BuildKit would send for the steps: each
// vertex started, then progress and log updates, then completed;
// extra updates are spread over the steps (at least one each).
func stream(steps []fakeStep, extra int) []*client.SolveStatus {
	var out []*client.SolveStatus
	per := max(extra/max(len(steps), 1), 1)
	for _, f := range steps {
		start, end := t0.Add(f.start), t0.Add(f.start+f.dur)
		v := &client.Vertex{Digest: f.digest(), Name: f.name, Started: &start}
		out = append(out, &client.SolveStatus{Vertexes: []*client.Vertex{v}})
		for i := range per {
			at := start.Add(f.dur * time.Duration(i) / time.Duration(per))
			st := &client.SolveStatus{Logs: []*client.VertexLog{{Vertex: f.digest(), Data: []byte(fmt.Sprintf("line %d\n", i)), Timestamp: at}}}
			if f.bytes > 0 {
				st.Statuses = []*client.VertexStatus{{ID: "transferring context:", Vertex: f.digest(), Current: f.bytes * int64(i+1) / int64(per), Timestamp: at}}
			}
			out = append(out, st)
		}
		done := *v
		done.Completed, done.Cached, done.Error = &end, f.cached, f.err
		out = append(out, &client.SolveStatus{Vertexes: []*client.Vertex{&done}})
	}
	return out
}

// record feeds a stream into a new Recorder for lane.
func record(lane string, steps []fakeStep, extra int) []Step {
	r := &Recorder{Lane: lane}
	for _, st := range stream(steps, extra) {
		r.Update(st)
	}
	return r.Steps()
}

// exampleBuild is a two-platform build split across two nodes, the shape of
// the docs' example image.
func exampleBuild() []Step {
	s := time.Second
	common := func(arch string, slow time.Duration) []fakeStep {
		return []fakeStep{
			{name: "[internal] load build definition from Dockerfile", start: 0, dur: s / 10, bytes: 412},
			{name: "[internal] load metadata for 127.0.0.1:5000/busybox:latest", start: s / 10, dur: 4 * s / 10},
			{name: "[internal] load .dockerignore", start: s / 10, dur: s / 20},
			{name: "[internal] load build context", start: s / 5, dur: 9 * s / 10, bytes: 48 << 20},
			{name: "[base 1/1] FROM 127.0.0.1:5000/busybox:latest@sha256:7d3…", start: s / 2, dur: s / 50, cached: true},
			{name: "[deps 1/2] COPY go.mod go.sum ./", start: 6 * s / 10, dur: s / 50, cached: true},
			{name: "[deps 2/2] RUN go mod download", start: 7 * s / 10, dur: s / 50, cached: true},
			{name: "[build 1/3] COPY . .", start: 11 * s / 10, dur: 8 * s / 10},
			{name: "[build 2/3] RUN CGO_ENABLED=0 GOARCH=" + arch + " go build -trimpath -ldflags='-s -w -X main.version=v1.2.3' -o /out/remote-buildkit ./cmd/remote-buildkit", start: 2 * s, dur: slow},
			{name: "[build 3/3] RUN go test ./...", start: 2*s + slow, dur: 5 * s},
			{name: "[test 1/1] RUN ./scripts/lint.sh", start: 2 * s, dur: 3 * s},
			{name: "[stage-3 1/2] COPY --from=build /out/remote-buildkit /usr/local/bin/", start: 7*s + slow, dur: 3 * s / 10},
			{name: "[stage-3 2/2] RUN remote-buildkit --version", start: 73*s/10 + slow, dur: 6 * s / 10},
			{name: "exporting to image", start: 8*s + slow, dur: 2 * s},
		}
	}
	out := record("linux/amd64", common("amd64", 9*time.Second), 200)
	return append(out, record("linux/arm64", common("arm64", 14*time.Second), 200)...)
}
