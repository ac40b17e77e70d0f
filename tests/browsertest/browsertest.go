// Package browsertest looks at the insights the way a person would: it opens
// pages in headless Chromium, takes screenshots and reads back what the
// browser measured. Tests only; nothing in the binary imports it.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Chromium returns the browser's path, or "" when none is installed.
func Chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// run starts the browser headless on a file URL with its own profile.
func run(ctx context.Context, browser string, args ...string) ([]byte, error) {
	profile, err := os.MkdirTemp("", "insights-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", browser, strings.Join(args, " "), err, lastLines(stderr.String(), 10))
	}
	return stdout.Bytes(), nil
}

// Screenshot renders page (an HTML file) in a width×height window and
// decodes the PNG, which it also leaves at pngPath.
func Screenshot(ctx context.Context, browser, page, pngPath string, width, height int) (image.Image, error) {
	abs, err := filepath.Abs(page)
	if err != nil {
		return nil, err
	}
	_, err = run(ctx, browser, "--screenshot="+pngPath, fmt.Sprintf("--window-size=%d,%d", width, height), "file://"+abs)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(pngPath)
	if err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("screenshot %s: %w", pngPath, err)
	}
	return img, nil
}

// TextBox is where the browser drew one SVG <text>, in the SVG's units.
type TextBox struct {
	Text      string   `json:"text"`
	Left      float64  `json:"left"`
	Right     float64  `json:"right"`
	ClipRight *float64 `json:"clip_right"` // the right edge of its clip-path, if any
}

// Measure is what the browser measured of the page's first inline SVG.
type Measure struct {
	Width float64   `json:"width"` // the viewBox width
	Texts []TextBox `json:"texts"`
}

// measureScript writes the measurements into the page for --dump-dom.
const measureScript = `<pre id="measure"></pre><script>
const svg = document.querySelector('svg');
const texts = Array.from(svg.querySelectorAll('text')).map(t => {
  const b = t.getBBox();
  const own = Array.from(t.childNodes).filter(n => n.nodeType === 3).map(n => n.data).join('');
  let clipRight = null;
  const m = (t.getAttribute('clip-path') || '').match(/url\(#(.+)\)/);
  if (m) { const r = document.getElementById(m[1]).querySelector('rect'); clipRight = r.x.baseVal.value + r.width.baseVal.value; }
  return {text: own, left: b.x, right: b.x + b.width, clip_right: clipRight};
});
document.getElementById('measure').textContent = 'MEASURE' + JSON.stringify({width: svg.viewBox.baseVal.width, texts}) + 'END';
</script>`

var measured = regexp.MustCompile(`MEASURE(.*?)END`)

// MeasureSVG opens svg inline in a page (overflow visible, so that anything
// drawn past the canvas shows), returns the box of every text as the browser
// laid it out with its own fonts, and a screenshot of that page.
func MeasureSVG(ctx context.Context, browser string, svg []byte, dir string) (*Measure, image.Image, error) {
	page := filepath.Join(dir, "inline.html")
	inline := strings.Replace(string(svg), "<svg ", `<svg style="overflow:visible;display:block" `, 1)
	html := "<!doctype html><html><body style=\"margin:0;background:#fff\">" + inline + measureScript + "</body></html>"
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		return nil, nil, err
	}
	out, err := run(ctx, browser, "--dump-dom", "file://"+page)
	if err != nil {
		return nil, nil, err
	}
	m := measured.FindSubmatch(out)
	if m == nil {
		return nil, nil, fmt.Errorf("the page's script left no measurements: %s", lastLines(string(out), 5))
	}
	var res Measure
	text := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`).Replace(string(m[1]))
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		return nil, nil, fmt.Errorf("measurements: %w", err)
	}
	img, err := Screenshot(ctx, browser, page, filepath.Join(dir, "inline.png"), int(res.Width)+40, Height(svg)+20)
	if err != nil {
		return nil, nil, err
	}
	return &res, img, nil
}

// Count is how many pixels of img inside r are within tol (per channel) of c.
func Count(img image.Image, r image.Rectangle, c color.RGBA, tol int) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if near(img.At(x, y), c, tol) {
				n++
			}
		}
	}
	return n
}

func near(a color.Color, c color.RGBA, tol int) bool {
	r, g, b, _ := a.RGBA()
	d := func(v uint32, w uint8) bool { x := int(v>>8) - int(w); return x <= tol && x >= -tol }
	return d(r, c.R) && d(g, c.G) && d(b, c.B)
}

// Hex parses "#rrggbb".
func Hex(s string) color.RGBA {
	var c color.RGBA
	fmt.Sscanf(s, "#%02x%02x%02x", &c.R, &c.G, &c.B)
	c.A = 255
	return c
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Look is what a person would see of a timeline in an annotation.
type Look struct {
	Image   image.Image
	PNG     string         // the screenshot's path
	Width   int            // the image's width on the page
	Colors  map[string]int // pixels of each asked colour inside the image
	Beyond  int            // non-white pixels right of the image
	Measure *Measure
}

// LookAt shows svg the way an annotation does — an <img> of the uploaded
// file above the annotation's text — takes a screenshot and counts the pixels
// of colors inside the image; then shows it inline with overflow visible,
// counts what is drawn right of the canvas, and measures every text.
func LookAt(ctx context.Context, browser string, svg []byte, text, dir string, colors []string) (*Look, error) {
	if err := os.WriteFile(filepath.Join(dir, "timeline.svg"), svg, 0o644); err != nil {
		return nil, err
	}
	page := filepath.Join(dir, "annotation.html")
	html := `<!doctype html><html><body style="margin:0;background:#fff"><img src="timeline.svg" style="display:block">` +
		`<pre style="font:12px monospace;margin:8px">` + htmlEscape(text) + `</pre></body></html>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		return nil, err
	}
	m, inline, err := MeasureSVG(ctx, browser, svg, dir)
	if err != nil {
		return nil, err
	}
	w, h := int(m.Width), Height(svg)
	png := filepath.Join(dir, "annotation.png")
	img, err := Screenshot(ctx, browser, page, png, w+40, h+300)
	if err != nil {
		return nil, err
	}
	l := &Look{Image: img, PNG: png, Width: w, Measure: m, Colors: map[string]int{}}
	for _, c := range colors {
		l.Colors[c] = Count(img, image.Rect(0, 0, w, h), Hex(c), 24)
	}
	right := image.Rect(w+1, 0, inline.Bounds().Max.X, h)
	l.Beyond = right.Dx()*right.Dy() - Count(inline, right, Hex("#ffffff"), 8)
	return l, nil
}

// Problems lists what a person would object to: a colour missing, anything
// drawn right of the image, a text past the canvas or its clip.
func (l *Look) Problems() []string {
	var out []string
	for c, n := range l.Colors {
		if n < 20 {
			out = append(out, fmt.Sprintf("only %d pixels of %s in the screenshot", n, c))
		}
	}
	if l.Beyond > 0 {
		out = append(out, fmt.Sprintf("%d pixels drawn right of the image", l.Beyond))
	}
	for _, t := range l.Measure.Texts {
		switch {
		case t.Right > l.Measure.Width+0.5 || t.Left < -0.5:
			out = append(out, fmt.Sprintf("text %q spans %.1f–%.1f, outside the canvas (0–%.0f)", t.Text, t.Left, t.Right, l.Measure.Width))
		case t.ClipRight != nil && t.Right > *t.ClipRight+0.5:
			out = append(out, fmt.Sprintf("text %q ends at %.1f, past its column (%.1f): it would be cut without the ellipsis", t.Text, t.Right, *t.ClipRight))
		}
	}
	return out
}

var svgHeightAttr = regexp.MustCompile(`<svg[^>]* height="(\d+)"`)

// Height is the SVG's height attribute (at least 100).
func Height(svg []byte) int {
	var h int
	if m := svgHeightAttr.FindSubmatch(svg); m != nil {
		fmt.Sscanf(string(m[1]), "%d", &h)
	}
	return max(h, 100)
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Crop writes the top-left w×h of img as a PNG file.
func Crop(img image.Image, path string, w, h int) error {
	sub := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			sub.Set(x, y, img.At(x, y))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, sub); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("crop: %w", err)
	}
	return nil
}
