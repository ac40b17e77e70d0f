package insights

import (
	"fmt"
	"math"
	"strings"
	"time"

	"golang.org/x/text/width"
)

// FormatDuration writes a duration the way the timeline and the annotation
// show it: "420ms", "3.4s", "1m05s", "1h02m".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// FormatBytes writes a byte count in binary units: "512 B", "1.5 KiB".
func FormatBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		unit = u
		if v < 1024 {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// columns is how many monospace cells s takes (East Asian wide runes: 2).
func columns(s string) int {
	n := 0
	for _, r := range s {
		n += runeColumns(r)
	}
	return n
}

func runeColumns(r rune) int {
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// Truncate shortens s to at most max monospace cells, ending in "…" when it
// had to cut. Control characters become spaces.
func Truncate(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if columns(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		c := runeColumns(r)
		if n+c > max-1 {
			break
		}
		b.WriteRune(r)
		n += c
	}
	return strings.TrimRight(b.String(), " ") + "…"
}

// niceStep is a tick interval (1, 2 or 5 × 10ⁿ, or whole minutes) giving at
// most about maxTicks ticks over total.
func niceStep(total time.Duration, maxTicks int) time.Duration {
	if total <= 0 {
		return time.Second
	}
	raw := float64(total) / float64(maxTicks)
	exp := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step := time.Duration(m * exp); float64(step) >= raw {
			if step > time.Minute {
				return step.Round(time.Minute)
			}
			return max(step, time.Millisecond)
		}
	}
	return time.Duration(10 * exp)
}
