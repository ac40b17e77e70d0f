// Package report renders a build's outcome as the Buildkite annotation.
// Everything from the build (references, step names, errors, log lines) is
// redacted of secret values and rendered as code (internal/markdown): free
// text as escaped HTML code, validated values as code spans.
package report

import (
	"errors"
	"fmt"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/markdown"
	"github.com/remote-buildkit/remote-buildkit/internal/redact"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// Success is the annotation body of a finished build.
func Success(title string, r *solve.Result, red *redact.Redactor) string {
	ref := func(s string) string { return markdown.Cell(red.String(s)) } // validated references and digests
	text := func(s string) string { return markdown.Inline(red.String(s)) }
	var b strings.Builder
	fmt.Fprintf(&b, "#### :white_check_mark: %s\n\n", markdown.Text(red.String(title)))
	b.WriteString("| | |\n|---|---|\n")
	if len(r.Pushed) > 0 {
		refs := make([]string, len(r.Pushed))
		for i, p := range r.Pushed {
			refs[i] = ref(strings.SplitN(p, "@", 2)[0])
		}
		fmt.Fprintf(&b, "| Pushed | %s |\n", strings.Join(refs, "<br>"))
	} else if len(r.Tags) > 0 {
		refs := make([]string, len(r.Tags))
		for i, t := range r.Tags {
			refs[i] = ref(t)
		}
		fmt.Fprintf(&b, "| Tags (not pushed) | %s |\n", strings.Join(refs, "<br>"))
	}
	if r.Digest != "" {
		fmt.Fprintf(&b, "| Digest | %s |\n", ref(r.Digest))
	}
	if len(r.Platforms) > 0 {
		fmt.Fprintf(&b, "| Platforms | %s |\n", text(strings.Join(r.Platforms, ", ")))
	}
	fmt.Fprintf(&b, "| Duration | %.1f s |\n", r.Seconds)
	fmt.Fprintf(&b, "| Cache | %d of %d steps cached |\n", r.CachedSteps, r.Steps)
	if r.Context != nil {
		fmt.Fprintf(&b, "| Context | %s |\n", text(r.Context.String()))
	}
	fmt.Fprintf(&b, "| BuildKit | %s at %s |\n", text(r.DaemonVersion), text(r.Host))
	return b.String()
}

// Failure is the annotation body of a failed build: the failing step and the
// last lines of its log when the build got that far, then the error.
func Failure(title string, err error, red *redact.Redactor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### :x: %s\n\n", markdown.Text(red.String(title)))
	var se *solve.StepError
	if errors.As(err, &se) {
		b.WriteString("Failed step:\n" + markdown.Block([]string{red.String(se.Step)}) + "\n")
		if len(se.Log) > 0 {
			b.WriteString(markdown.Block(red.Strings(se.Log)) + "\n")
		}
	}
	b.WriteString(markdown.Block([]string{red.String(err.Error())}))
	return b.String()
}
