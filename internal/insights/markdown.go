package insights

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/markdown"
)

// RecordInfo is the build record uploaded as an artifact.
type RecordInfo struct {
	Artifact string // the .dockerbuild file's artifact path
	Ref      string // the build's ref (SolveOpt.Ref)
}

// ImportCommand is the one line that opens a downloaded record in Docker
// Desktop.
func ImportCommand(file string) string {
	return "docker buildx history import < " + file
}

// Markdown is the insights part of the annotation: the timeline image (when
// svgArtifact, the SVG's artifact path, is set), the cache summary, the
// slowest steps, and the build record with its import command (when record
// is set). Without title there is no heading, so the lead's heading can
// precede it.
func Markdown(title string, steps []Step, svgArtifact string, record *RecordInfo) string {
	var b strings.Builder
	if title != "" {
		fmt.Fprintf(&b, "#### :bar_chart: %s\n\n", markdown.Text(title))
	}
	if svgArtifact != "" {
		fmt.Fprintf(&b, "<img src=\"%s\" alt=\"build timeline\">\n\n", artifactURL(svgArtifact))
	}
	s := Summarize(steps)
	fmt.Fprintf(&b, "**Wall time** %s · **Cache** %d of %d steps cached (%s in cached steps, %s in executed steps)",
		FormatDuration(secs(s.WallSeconds)), s.CachedSteps, s.Steps,
		FormatDuration(secs(s.CachedSeconds)), FormatDuration(secs(s.ExecutedSeconds)))
	if s.ContextBytes > 0 {
		fmt.Fprintf(&b, " · **Context** %s transferred", FormatBytes(s.ContextBytes))
	}
	b.WriteString("\n\n")
	slowestTable(&b, s.Slowest)
	if record != nil && record.Artifact != "" {
		file := path.Base(record.Artifact)
		fmt.Fprintf(&b, ":package: Build record: [%s](%s) — open it in Docker Desktop: %s\n",
			markdown.Code(file), artifactURL(record.Artifact), markdown.Code(ImportCommand(file)))
	}
	return b.String()
}

// slowestTable writes the slowest steps, with a lane column when any has one.
func slowestTable(b *strings.Builder, slow []Step) {
	if len(slow) == 0 {
		return
	}
	lanes := false
	for _, s := range slow {
		lanes = lanes || s.Lane != ""
	}
	if lanes {
		b.WriteString("| Slowest steps | Lane | Duration | |\n|---|---|--:|---|\n")
	} else {
		b.WriteString("| Slowest steps | Duration | |\n|---|--:|---|\n")
	}
	for _, s := range slow {
		note := " "
		switch {
		case s.Failed():
			note = " :x: failed "
		case s.Cached:
			note = " cached "
		}
		fmt.Fprintf(b, "| %s |", markdown.Inline(Truncate(s.Name, 90)))
		if lanes {
			fmt.Fprintf(b, " %s |", markdown.Inline(s.Lane))
		}
		fmt.Fprintf(b, " %s |%s|\n", FormatDuration(s.Duration()), note)
	}
	b.WriteString("\n")
}

// artifactURL is an artifact:// reference, each path segment escaped so it
// stays one URL in Markdown and in an HTML attribute.
func artifactURL(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return "artifact://" + strings.Join(parts, "/")
}
