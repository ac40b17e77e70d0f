package insights

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

func TestRecorder(t *testing.T) {
	steps := record("", []fakeStep{
		{name: ContextStep, start: 0, dur: time.Second, bytes: 5000},
		{name: "[build 1/2] RUN make", start: time.Second, dur: 3 * time.Second},
		{name: "[build 2/2] RUN make test", start: 4 * time.Second, dur: time.Second, err: "process did not complete successfully: exit code: 2"},
		{name: "[base 1/1] FROM busybox", start: 500 * time.Millisecond, dur: 0, cached: true},
	}, 40)
	want := []struct {
		name    string
		seconds float64
		cached  bool
		failed  bool
		bytes   int64
	}{
		{ContextStep, 1, false, false, 5000},
		{"[base 1/1] FROM busybox", 0, true, false, 0},
		{"[build 1/2] RUN make", 3, false, false, 0},
		{"[build 2/2] RUN make test", 1, false, true, 0},
	}
	if len(steps) != len(want) {
		t.Fatalf("got %d steps, want %d: %+v", len(steps), len(want), steps)
	}
	for i, w := range want {
		s := steps[i]
		if s.Name != w.name || s.Seconds != w.seconds || s.Cached != w.cached || s.Failed() != w.failed || s.Bytes != w.bytes {
			t.Errorf("step %d = %+v, want %+v", i, s, w)
		}
		if s.Digest == "" || s.Start.IsZero() || s.End.IsZero() || s.Lane != "" {
			t.Errorf("step %d: digest, times or lane wrong: %+v", i, s)
		}
	}
}

func TestRecorderUpdates(t *testing.T) {
	d := fakeStep{name: "x"}.digest()
	at := func(s int) *time.Time { v := t0.Add(time.Duration(s) * time.Second); return &v }
	r := &Recorder{}
	r.Update(nil)
	r.Update(&client.SolveStatus{Statuses: []*client.VertexStatus{{ID: "transferring context:", Vertex: d, Current: 9}}}) // before its vertex: ignored
	r.Update(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: "x"}}})                                     // queued
	if s := r.Steps()[0]; !s.Start.IsZero() || s.Seconds != 0 {
		t.Fatalf("a queued step has no times: %+v", s)
	}
	r.Update(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: "x", Started: at(2)}}})
	r.Update(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: "x", Started: at(1)}}}) // an earlier start wins
	r.Update(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: "x", Started: at(1), Completed: at(4), Cached: true}}})
	r.Update(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: "x", Started: at(1), Completed: at(3)}}}) // a later end wins
	r.Update(&client.SolveStatus{Statuses: []*client.VertexStatus{{ID: "transferring context:", Vertex: d, Current: 7}, {ID: "other", Vertex: d, Current: 99}}})
	s := r.Steps()
	if len(s) != 1 || s[0].Seconds != 3 || s[0].Cached || s[0].Bytes != 7 {
		t.Fatalf("got %+v", s)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := &Recorder{Lane: "web"}
	sts := stream(exampleSteps(20), 400)
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, st := range sts {
			r.Update(st)
		}
	})
	for range 50 {
		_ = Summarize(r.Steps())
	}
	wg.Wait()
	if n := len(r.Steps()); n != 20 {
		t.Fatalf("got %d steps, want 20", n)
	}
}

func TestLanes(t *testing.T) {
	for _, c := range []struct{ lane, name, want string }{
		{"", "[linux/arm64 build 2/3] RUN make", "linux/arm64"},
		{"", "[linux/arm/v7 build 2/3] RUN make", "linux/arm/v7"},
		{"", "[build 2/3] RUN make", ""},
		{"", "[internal] load build context", ""},
		{"", "[base/x 1/2] RUN x", ""}, // a stage name with a slash is no platform
		{"", "RUN make", ""},
		{"web", "[linux/amd64 build 1/2] RUN make", "web linux/amd64"},
		{"linux/amd64", "[linux/amd64 build 1/2] RUN make", "linux/amd64"},
		{"web", "[build 1/2] RUN make", "web"},
		{"", "[linux/amd64] exporting", "linux/amd64"},
	} {
		r := &Recorder{Lane: c.lane}
		r.Update(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: "sha256:1", Name: c.name}}})
		if got := r.Steps()[0].Lane; got != c.want {
			t.Errorf("lane %q, name %q: got lane %q, want %q", c.lane, c.name, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := time.Second
	cases := []struct {
		name                           string
		steps                          []fakeStep
		wall, cachedSecs, executedSecs float64
		total, cached                  int
		contextBytes                   int64
		slowest                        []string
		failed                         string
	}{
		{name: "empty", slowest: []string{}},
		{
			name: "cached and executed, overlapping",
			steps: []fakeStep{
				{name: ContextStep, start: 0, dur: s, bytes: 1 << 20},
				{name: "a", start: s, dur: 4 * s},
				{name: "b", start: 2 * s, dur: 2 * s},
				{name: "c", start: s, dur: s / 2, cached: true},
			},
			wall: 5, cachedSecs: 0.5, executedSecs: 7, total: 4, cached: 1, contextBytes: 1 << 20,
			slowest: []string{"a", "b", ContextStep, "c"},
		},
		{
			name:  "five slowest of seven, a failure and a cancelled step",
			steps: []fakeStep{{name: "s1", dur: s}, {name: "s2", dur: 2 * s}, {name: "s3", dur: 3 * s}, {name: "s4", dur: 4 * s}, {name: "s5", dur: 5 * s, err: "exit code: 1"}, {name: "s6", dur: 6 * s, err: "context canceled"}, {name: "s7", dur: 7 * s}},
			wall:  7, executedSecs: 28, total: 7,
			slowest: []string{"s7", "s6", "s5", "s4", "s3"}, failed: "s5",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Summarize(record("", c.steps, 4))
			var names []string
			for _, st := range got.Slowest {
				names = append(names, st.Name)
			}
			if got.WallSeconds != c.wall || got.CachedSeconds != c.cachedSecs || got.ExecutedSeconds != c.executedSecs ||
				got.Steps != c.total || got.CachedSteps != c.cached || got.ContextBytes != c.contextBytes || got.Failed != c.failed ||
				strings.Join(names, ",") != strings.Join(c.slowest, ",") {
				t.Errorf("got %+v (slowest %v)", got, names)
			}
		})
	}
}

func TestSummarizeLanesAndUnstarted(t *testing.T) {
	steps := append(record("linux/amd64", []fakeStep{{name: ContextStep, dur: time.Second, bytes: 100}}, 2),
		record("linux/arm64", []fakeStep{{name: ContextStep, start: time.Second, dur: 2 * time.Second, bytes: 50}}, 2)...)
	steps = append(steps, Step{Name: "queued, never ran", Digest: "sha256:q"})
	got := Summarize(steps)
	if got.ContextBytes != 150 || got.WallSeconds != 3 || got.Steps != 3 || len(got.Slowest) != 2 || got.Slowest[0].Lane != "linux/arm64" {
		t.Fatalf("got %+v", got)
	}
}

func TestJSONShape(t *testing.T) {
	steps := record("linux/arm64", []fakeStep{{name: ContextStep, start: time.Second, dur: 1500 * time.Millisecond, bytes: 42}}, 1)
	steps = append(steps, Step{Name: "q", Digest: "sha256:q"})
	b, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"lane":"linux/arm64","name":"[internal] load build context","digest":"` + fakeStep{name: ContextStep}.digest().String() +
		`","start":"2026-12-01T21:00:01Z","end":"2026-12-01T21:00:02.5Z","seconds":1.5,"cached":false,"bytes":42},` +
		`{"name":"q","digest":"sha256:q","seconds":0,"cached":false}]`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	b, err = json.Marshal(Summarize(nil))
	if err != nil || string(b) != `{"wall_seconds":0,"steps":0,"cached_steps":0,"cached_seconds":0,"executed_seconds":0,"context_bytes":0,"slowest":[]}` {
		t.Fatalf("summary: %s %v", b, err)
	}
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ch…"},
		{"word and space", 10, "word and…"},
		{"日本語のステップ名", 9, "日本語の…"},
		{"tab\there\nnewline", 40, "tab here newline"},
		{"abc", 0, ""},
		{"abcdef", 1, "…"},
	} {
		if got := Truncate(c.in, c.max); got != c.want || columns(got) > max(c.max, 0) {
			t.Errorf("Truncate(%q, %d) = %q (%d cells), want %q", c.in, c.max, got, columns(got), c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0ms", 420 * time.Millisecond: "420ms", 3400 * time.Millisecond: "3.4s", 42 * time.Second: "42s",
		65 * time.Second: "1m05s", 59*time.Minute + 59*time.Second: "59m59s", 62 * time.Minute: "1h02m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 48 << 20: "48.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for total, want := range map[time.Duration]time.Duration{
		0: time.Second, 7 * time.Millisecond: time.Millisecond, 3 * time.Second: 500 * time.Millisecond,
		23 * time.Second: 5 * time.Second, 10 * time.Minute: 2 * time.Minute, 2 * time.Hour: 17 * time.Minute,
	} {
		if got := niceStep(total, 8); got != want {
			t.Errorf("niceStep(%s) = %s, want %s", total, got, want)
		}
	}
}

// exampleSteps is n sequential executed steps of growing length.
func exampleSteps(n int) []fakeStep {
	var out []fakeStep
	at := time.Duration(0)
	for i := range n {
		d := time.Duration(i%7+1) * 300 * time.Millisecond
		out = append(out, fakeStep{name: "[stage " + string(rune('a'+i%26)) + "] RUN step " + strings.Repeat("x", i%5), start: at, dur: d, cached: i%4 == 0})
		at += d / 2
	}
	return out
}

// svgTexts parses the SVG (which must be well-formed XML) and returns each
// <text>'s x and its own character data.
func svgTexts(t *testing.T, svg []byte) (root xml.StartElement, texts []struct {
	x    string
	text string
}) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	depth, inText, inTitle := 0, -1, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = e
			}
			depth++
			seen := map[string]bool{}
			for _, a := range e.Attr {
				if seen[a.Name.Local] {
					t.Fatalf("<%s> has attribute %s twice: not well-formed", e.Name.Local, a.Name.Local)
				}
				seen[a.Name.Local] = true
			}
			if e.Name.Local == "text" {
				inText = len(texts)
				texts = append(texts, struct{ x, text string }{attr(e, "x"), ""})
			}
			inTitle = e.Name.Local == "title"
		case xml.EndElement:
			depth--
			if e.Name.Local == "text" {
				inText = -1
			}
			inTitle = false
		case xml.CharData:
			if inText >= 0 && !inTitle {
				texts[inText].text += string(e)
			}
		}
	}
	return root, texts
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var durationLabel = regexp.MustCompile(`^[0-9.]+(ms|s)$|^[0-9]+m[0-9]{2}s$`)

func TestRenderSVG(t *testing.T) {
	long := "[build 2/3] RUN " + strings.Repeat("very-long-argument ", 20) + "END"
	steps := record("", []fakeStep{
		{name: ContextStep, dur: time.Second, bytes: 1 << 20},
		{name: `[x 1/4] RUN echo "<b>&amp;</b>" ']]> <!--'`, start: time.Second, dur: time.Second},
		{name: long, start: time.Second, dur: 8 * time.Second},
		{name: "[x 3/4] RUN cached", start: time.Second, cached: true},
		{name: "[x 4/4] RUN fails", start: 2 * time.Second, dur: 3 * time.Second, err: "exit code: 1"},
		{name: "[y 1/1] RUN short", start: 2 * time.Second, dur: 500 * time.Millisecond},
		{name: "[y 2/2] RUN shorter", start: 2 * time.Second, dur: 200 * time.Millisecond},
		{name: "control \x1b[31m chars \x00", start: 2 * time.Second, dur: 100 * time.Millisecond},
	}, 3)
	svg := RenderSVG(steps, SVGOptions{Title: "web <&> build"})
	root, texts := svgTexts(t, svg)
	if vb := attr(root, "viewBox"); !strings.HasPrefix(vb, "0 0 960 ") {
		t.Errorf("viewBox %q, want width 960", vb)
	}
	var all []string
	labels := 0
	for _, tx := range texts {
		all = append(all, tx.text)
		if durationLabel.MatchString(tx.text) && tx.x > "3" { // duration labels sit right of the chart start
			labels++
		}
		if columns(tx.text) > lineCells {
			t.Errorf("text %q is wider than the canvas", tx.text)
		}
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"web <&> build", `[x 1/4] RUN echo "<b>&amp;</b>" ']]> <!--'`, "executed", "cached", "failed", "1.0 MiB"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no text %q in the SVG's texts:\n%s", want, joined)
		}
	}
	if !strings.Contains(joined, Truncate(long, nameCells)) || strings.Contains(joined, "END") || columns(Truncate(long, nameCells)) != nameCells {
		t.Errorf("the long name is not cut to the name column with an ellipsis")
	}
	if labels < SlowestCount {
		t.Errorf("%d duration labels, want at least %d:\n%s", labels, SlowestCount, joined)
	}
	for _, want := range []string{`fill="` + ColorFailed + `"`, `fill="url(#hatch)"`, `fill="` + ColorExecuted + `"`, `clip-path="url(#names)"`} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("the SVG has no %s", want)
		}
	}
	if strings.Contains(string(svg), "\x1b") || strings.Contains(string(svg), "\x00") {
		t.Errorf("control characters reached the SVG")
	}
}

func TestRenderSVGLanes(t *testing.T) {
	steps := exampleBuild()
	svg := string(RenderSVG(steps, SVGOptions{}))
	_, texts := svgTexts(t, []byte(svg))
	var lanes []string
	for _, tx := range texts {
		if tx.text == "linux/amd64" || tx.text == "linux/arm64" {
			lanes = append(lanes, tx.text)
		}
	}
	if strings.Join(lanes, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("lane headings %v", lanes)
	}
	if n := strings.Count(svg, "<rect x=\"0\""); n != 2 {
		t.Errorf("%d lane bands, want 2", n)
	}
	// One lane without a name: no heading.
	one := string(RenderSVG(record("", exampleSteps(3), 3), SVGOptions{}))
	if strings.Contains(one, "(shared)") || strings.Contains(one, "<rect x=\"0\"") {
		t.Errorf("a build with one unnamed lane got lane headings")
	}
	empty := RenderSVG(nil, SVGOptions{Title: "nothing"})
	svgTexts(t, empty)
}
