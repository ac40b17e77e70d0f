package insights

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/browsertest"
)

// TestTimelineInBrowser looks at a timeline as a person would: the SVG in
// Chromium as the annotation's <img> and inline, the bar colours on the
// screenshot, nothing past the canvas, and a very long name kept inside its
// column. INSIGHTS_SHOTS=DIR keeps the pages and screenshots; UPDATE_DOCS=1 also writes docs/insights-example.png (the README's
// example build).
func TestTimelineInBrowser(t *testing.T) {
	browser := browsertest.Chromium()
	if browser == "" {
		t.Skip("chromium is not installed (apt-get install -y chromium): no browser check")
	}
	steps := exampleBuild()
	steps = append(steps, record("linux/arm/v7", []fakeStep{
		{name: ContextStep, dur: time.Second, bytes: 1 << 20},
		{name: "[build 2/3] RUN " + strings.Repeat("W", 400) + " " + strings.Repeat("日本語", 50), start: time.Second, dur: 6 * time.Second},
		{name: "[build 3/3] RUN go test ./... <&> \"quoted\"", start: 7 * time.Second, dur: 2 * time.Second, err: "process \"/bin/sh -c go test ./...\" did not complete successfully: exit code: 1"},
		{name: "[stage-3 1/2] COPY --from=build", start: 9 * time.Second, dur: 0, err: "context canceled"},
	}, 10)...)
	ctx := context.Background()
	dir := t.TempDir()
	if keep := os.Getenv("INSIGHTS_SHOTS"); keep != "" {
		dir = keep // keep the pages and screenshots to look at
	}
	svg := RenderSVG(steps, SVGOptions{Title: "remote-buildkit: linux/amd64, linux/arm64, linux/arm/v7"})
	look, err := browsertest.LookAt(ctx, browser, svg, Markdown("", steps, "", nil), dir,
		[]string{ColorExecuted, ColorCached, ColorFailed})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range look.Problems() {
		t.Error(p)
	}
	t.Logf("pixels %v, screenshot %s, %d texts measured", look.Colors, look.PNG, len(look.Measure.Texts))
	found := false
	for _, tx := range look.Measure.Texts {
		if strings.HasPrefix(tx.Text, "[build 2/3] RUN WWW") {
			found = true
			if !strings.HasSuffix(tx.Text, "…") || tx.ClipRight == nil || tx.Right > *tx.ClipRight {
				t.Errorf("the long name %q ends at %.1f (column %v)", tx.Text, tx.Right, tx.ClipRight)
			}
		}
	}
	if !found {
		t.Error("the browser measured no long step name")
	}
	if os.Getenv("UPDATE_DOCS") != "" {
		writeDocsExample(t, ctx, browser)
	}
}

// writeDocsExample renders the example build alone into docs/.
func writeDocsExample(t *testing.T, ctx context.Context, browser string) {
	dir := t.TempDir()
	svg := RenderSVG(exampleBuild(), SVGOptions{Title: "remote-buildkit: linux/amd64 and linux/arm64 on two nodes"})
	look, err := browsertest.LookAt(ctx, browser, svg, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("..", "..", "docs", "insights-example.png")
	if err := browsertest.Crop(look.Image, out, look.Width, browsertest.Height(svg)); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}
