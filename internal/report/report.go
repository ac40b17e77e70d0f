// Package report renders a build's outcome as the Buildkite annotation.
package report

import (
	"errors"
	"fmt"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/builder"
)

// Success is the annotation body of a finished build.
func Success(title string, r *builder.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### :white_check_mark: %s\n\n", md(title))
	b.WriteString("| | |\n|---|---|\n")
	if len(r.Pushed) > 0 {
		refs := make([]string, len(r.Pushed))
		for i, p := range r.Pushed {
			refs[i] = "`" + md(strings.SplitN(p, "@", 2)[0]) + "`"
		}
		fmt.Fprintf(&b, "| Pushed | %s |\n", strings.Join(refs, "<br>"))
	} else if len(r.Tags) > 0 {
		fmt.Fprintf(&b, "| Tags (not pushed) | %s |\n", codeList(r.Tags))
	}
	if r.Digest != "" {
		fmt.Fprintf(&b, "| Digest | `%s` |\n", md(r.Digest))
	}
	if len(r.Platforms) > 0 {
		fmt.Fprintf(&b, "| Platforms | %s |\n", md(strings.Join(r.Platforms, ", ")))
	}
	fmt.Fprintf(&b, "| Duration | %.1f s |\n", r.Seconds)
	fmt.Fprintf(&b, "| Cache | %d of %d steps cached |\n", r.CachedSteps, r.Steps)
	if r.Context != nil {
		fmt.Fprintf(&b, "| Context | %s |\n", md(r.Context.String()))
	}
	fmt.Fprintf(&b, "| BuildKit | %s at `%s` |\n", md(r.DaemonVersion), md(r.Host))
	return b.String()
}

// Failure is the annotation body of a failed build: the failing step and the
// last lines of its log when the build got that far.
func Failure(title string, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### :x: %s\n\n", md(title))
	var se *builder.StepError
	if errors.As(err, &se) {
		fmt.Fprintf(&b, "Failed step: `%s`\n\n", md(se.Step))
		if len(se.Log) > 0 {
			fmt.Fprintf(&b, "```\n%s\n```\n\n", strings.ReplaceAll(strings.Join(se.Log, "\n"), "```", "` ` `"))
		}
	}
	fmt.Fprintf(&b, "%s\n", md(err.Error()))
	return b.String()
}

func codeList(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "`" + md(s) + "`"
	}
	return strings.Join(out, "<br>")
}

// md keeps a value from breaking the table or injecting HTML.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}
