package job

import (
	"fmt"
	"io"
	"strings"

	"github.com/moby/patternmatcher"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
)

// noteGitContext says what the daemon fetches for a git-context build, and
// warns about the context's files that differ from the commit or are not
// in it (changed or generated earlier in the job): the build does not see
// them. Paths the .dockerignore excludes are left out, as the upload would.
func noteGitContext(out, errOut io.Writer, g *config.GitContext) {
	fmt.Fprintf(out, "git-context: the daemon fetches %s; nothing of the context or Dockerfile is uploaded\n", g.Source())
	diffs, err := gitcontext.Repo{Root: g.Root}.Differences(g.Commit, g.Subdir)
	if err != nil {
		warnf(errOut, "git-context: cannot compare the checkout with commit %s: %v", g.Commit, err)
		return
	}
	pm, err := patternmatcher.New(g.Excludes)
	if err != nil {
		pm = nil // the frontend would have refused the patterns already: compare without them
	}
	var missing []string
	for _, p := range diffs {
		rel := strings.TrimSuffix(p, "/")
		if g.Subdir != "" {
			rel = strings.TrimPrefix(rel, g.Subdir+"/")
		}
		if pm != nil {
			if ignored, _ := pm.MatchesOrParentMatches(rel); ignored {
				continue
			}
		}
		missing = append(missing, p)
	}
	if len(missing) == 0 {
		return
	}
	shown := missing[:min(len(missing), 3)]
	more := ""
	if len(missing) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
	}
	warnf(errOut, "git-context: the build does not see %d path(s) of the checkout that differ from commit %s or are not in it (%s%s): files changed or generated earlier in this job stay on the agent, the daemon builds the commit (drop git-context to upload the checkout)",
		len(missing), g.Commit, strings.Join(shown, ", "), more)
}
