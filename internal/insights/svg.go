package insights

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SVGOptions are the timeline's settings.
type SVGOptions struct {
	Title string // the heading inside the image; "" for none
}

// The canvas: a fixed width (viewBox) and a height that grows with the steps.
const (
	svgWidth  = 960
	svgPad    = 16
	nameX     = svgPad
	nameWidth = 300
	chartX0   = nameX + nameWidth + 12
	chartX1   = svgWidth - svgPad - 56 // room on the right for duration labels
	fontSize  = 11
	cellWidth = 6.8 // a monospace cell at fontSize, a little over the usual 0.6 em
	rowHeight = 18
	barHeight = 12
	laneHead  = 22
	axisY     = 72
	footH     = 30
)

// The colours, also what the browser test looks for.
const (
	ColorExecuted = "#2563eb"
	ColorCached   = "#9ca3af"
	ColorFailed   = "#dc2626"
)

// How many monospace cells fit in the name column, the title and the footer.
var (
	nameCells  = cells(nameWidth, fontSize)
	titleCells = cells(svgWidth-2*svgPad, 14)
	lineCells  = cells(svgWidth-2*svgPad, fontSize)
)

// cells is how many monospace cells of a font size fit in a width, with the
// cell a little wider than the usual 0.6 em so that no font overflows.
func cells(width, size float64) int { return int(width / (size * cellWidth / fontSize)) }

// cancelledStyle draws a step that was cancelled or never finished.
const cancelledStyle = `fill="#ffffff" stroke="#6b7280" stroke-dasharray="3 2"`

// timeline is the layout state while rendering.
type timeline struct {
	b      strings.Builder
	t0     time.Time
	total  time.Duration
	y      int
	labels map[string]bool // digests+lane of steps that get a duration label
}

// x maps a time to the chart's horizontal axis.
func (t *timeline) x(at time.Time) float64 {
	f := float64(at.Sub(t.t0)) / float64(t.total)
	return chartX0 + min(max(f, 0), 1)*(chartX1-chartX0)
}

// RenderSVG draws the steps as a timeline: one bar a step on a shared time
// axis, grouped in lanes, cached steps hatched grey, a failed step red, the
// slowest labelled with their durations. Steps that never started are left
// out. All text is XML-escaped and long names end in "…".
func RenderSVG(steps []Step, opts SVGOptions) []byte {
	lanes := groupLanes(steps)
	rows := 0
	for _, l := range lanes {
		rows += len(l.steps)
	}
	showLanes := len(lanes) > 1 || (len(lanes) == 1 && lanes[0].name != "")
	height := axisY + 8 + rows*rowHeight + footH
	if showLanes {
		height += len(lanes) * laneHead
	}
	t := &timeline{labels: map[string]bool{}}
	t.t0, t.total = span(steps)
	for _, s := range Summarize(steps).Slowest {
		t.labels[s.Lane+"\x00"+s.Digest] = true
	}
	fmt.Fprintf(&t.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="%d">`+"\n",
		svgWidth, height, svgWidth, height, fontSize)
	t.header(opts.Title, height)
	t.axis(height)
	t.y = axisY + 8
	for i, l := range lanes {
		t.lane(l, i, showLanes)
	}
	t.footer(Summarize(steps), height)
	t.b.WriteString("</svg>\n")
	return []byte(t.b.String())
}

type lane struct {
	name  string
	steps []Step
}

// groupLanes keeps the lanes in the order they first appear and the steps
// of each by start; steps that never started are dropped.
func groupLanes(steps []Step) []lane {
	var out []lane
	index := map[string]int{}
	for _, s := range steps {
		if s.Start.IsZero() {
			continue
		}
		i, ok := index[s.Lane]
		if !ok {
			i = len(out)
			index[s.Lane] = i
			out = append(out, lane{name: s.Lane})
		}
		out[i].steps = append(out[i].steps, s)
	}
	for i := range out {
		slices.SortStableFunc(out[i].steps, byStart)
	}
	return out
}

// span is the first start and the time to the last end (at least 1 ms).
func span(steps []Step) (time.Time, time.Duration) {
	var first, last time.Time
	for _, s := range steps {
		if s.Start.IsZero() {
			continue
		}
		if first.IsZero() || s.Start.Before(first) {
			first = s.Start
		}
		for _, at := range []time.Time{s.Start, s.End} {
			if at.After(last) {
				last = at
			}
		}
	}
	return first, max(last.Sub(first), time.Millisecond)
}

func (t *timeline) header(title string, height int) {
	b := &t.b
	b.WriteString(`<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
		`<rect width="6" height="6" fill="#e5e7eb"/><rect width="3" height="6" fill="` + ColorCached + `"/></pattern>`)
	fmt.Fprintf(b, `<clipPath id="names"><rect x="%d" y="0" width="%d" height="%d"/></clipPath></defs>`+"\n", nameX, nameWidth, height)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	if title != "" {
		fmt.Fprintf(b, `<text x="%d" y="24" font-size="14" font-weight="bold" fill="#111827">%s</text>`+"\n",
			svgPad, esc(Truncate(title, titleCells)))
	}
	legend := []struct{ style, label string }{
		{`fill="` + ColorExecuted + `"`, "executed"}, {`fill="url(#hatch)" stroke="` + ColorCached + `"`, "cached"}, {`fill="` + ColorFailed + `"`, "failed"},
		{cancelledStyle, "cancelled or unfinished"},
	}
	x := svgPad
	for _, l := range legend {
		fmt.Fprintf(b, `<rect x="%d" y="36" width="14" height="10" %s/>`, x, l.style)
		fmt.Fprintf(b, `<text x="%d" y="45" fill="#374151">%s</text>`, x+20, l.label)
		x += 20 + len(l.label)*7 + 20
	}
	b.WriteString("\n")
}

// axis draws the ticks, their labels and the grid lines.
func (t *timeline) axis(height int) {
	b := &t.b
	step := niceStep(t.total, 8)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9ca3af"/>`+"\n", chartX0, axisY, chartX1, axisY)
	for at := time.Duration(0); at <= t.total; at += step {
		x := t.x(t.t0.Add(at))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e7eb"/>`, x, axisY, x, height-footH)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#9ca3af"/>`, x, axisY-4, x, axisY)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#4b5563">%s</text>`+"\n", x, axisY-8, esc(tickLabel(at, step)))
	}
}

// tickLabel writes a tick's offset with the precision its interval needs.
func tickLabel(at, step time.Duration) string {
	if at == 0 {
		return "0"
	}
	if step < time.Second || (at < time.Minute && at%time.Second == 0) {
		return fmt.Sprintf("%gs", at.Seconds())
	}
	return FormatDuration(at)
}

// lane draws a lane's heading (when there are lanes) and its steps.
func (t *timeline) lane(l lane, i int, heading bool) {
	b := &t.b
	if heading {
		name := l.name
		if name == "" {
			name = "(shared)"
		}
		fmt.Fprintf(b, `<rect x="0" y="%d" width="%d" height="%d" fill="#f3f4f6"/>`, t.y, svgWidth, laneHead)
		fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold" fill="#111827" clip-path="url(#names)">%s</text>`,
			nameX, t.y+15, esc(Truncate(name, nameCells)))
		first, total := span(l.steps)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" fill="#4b5563">%s</text>`+"\n", t.x(first), t.y+15, esc(FormatDuration(total)))
		t.y += laneHead
	}
	for _, s := range l.steps {
		t.step(s)
		t.y += rowHeight
	}
}

// step draws one row: the name on the left and the bar on the time axis.
func (t *timeline) step(s Step) {
	b := &t.b
	nameFill, bar := "#111827", ""
	x0 := t.x(s.Start)
	end := s.End
	if end.IsZero() {
		end = t.t0.Add(t.total)
	}
	w := max(t.x(end)-x0, 2)
	barY := t.y + (rowHeight-barHeight)/2
	switch {
	case s.Failed():
		bar = fmt.Sprintf(`fill="%s"`, ColorFailed)
	case s.Cancelled() || s.End.IsZero():
		w, bar = max(w, 6), cancelledStyle
	case s.Cached:
		nameFill, w = "#6b7280", max(w, 6)
		bar = fmt.Sprintf(`fill="url(#hatch)" stroke="%s" stroke-width="0.5"`, ColorCached)
	default:
		bar = fmt.Sprintf(`fill="%s"`, ColorExecuted)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="%s" clip-path="url(#names)"><title>%s</title>%s</text>`,
		nameX, t.y+13, nameFill, esc(s.Name), esc(Truncate(s.Name, nameCells)))
	fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" rx="2" %s><title>%s</title></rect>`,
		x0, barY, w, barHeight, bar, esc(s.Name+" — "+FormatDuration(s.Duration())))
	if t.labels[s.Lane+"\x00"+s.Digest] || s.Failed() {
		fill := "#1f2937"
		if s.Failed() {
			fill = ColorFailed
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" fill="%s" font-weight="bold">%s</text>`, x0+w+4, t.y+13, fill, esc(FormatDuration(s.Duration())))
	}
	b.WriteString("\n")
}

// footer writes the summary line under the chart.
func (t *timeline) footer(s Summary, height int) {
	line := fmt.Sprintf("wall %s · %d steps, %d cached · executed %s, cached %s",
		FormatDuration(secs(s.WallSeconds)), s.Steps, s.CachedSteps,
		FormatDuration(secs(s.ExecutedSeconds)), FormatDuration(secs(s.CachedSeconds)))
	if s.ContextBytes > 0 {
		line += " · context " + FormatBytes(s.ContextBytes)
	}
	fmt.Fprintf(&t.b, `<text x="%d" y="%d" fill="#374151">%s</text>`+"\n", svgPad, height-10, esc(Truncate(line, lineCells)))
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// esc escapes text for XML content and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
