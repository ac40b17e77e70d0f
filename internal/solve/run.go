package solve

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
	"github.com/remote-buildkit/remote-buildkit/internal/insights"
)

// Result is what a build produced, printed for the log and written to the
// metadata file.
type Result struct {
	Digest        string         `json:"digest,omitempty"`
	Tags          []string       `json:"tags,omitempty"`
	Pushed        []string       `json:"pushed,omitempty"` // name@digest for every pushed reference
	Platforms     []string       `json:"platforms,omitempty"`
	Host          string         `json:"buildkit_host"`
	DaemonVersion string         `json:"buildkit_version,omitempty"`
	Seconds       float64        `json:"duration_seconds"`
	Node          string         `json:"node,omitempty"`      // the pool member that built it
	Manifests     []Manifest     `json:"manifests,omitempty"` // per platform, when nodes split the build
	Attempts      []Attempt      `json:"attempts,omitempty"`  // the failed attempts before this result
	Insights      *Insights      `json:"insights,omitempty"`  // per-step timings (see internal/insights)
	Call          string         `json:"call,omitempty"`      // check, outline or targets: no image was built
	Steps         int            `json:"steps"`
	CachedSteps   int            `json:"cached_steps"`
	Exporter      map[string]any `json:"-"`

	// Context is what the sync of the local directories walked and sent.
	Context *contextsync.Stats `json:"context,omitempty"`
}

// Insights is the per-step record of a build in the metadata file:
// remote-buildkit.insights.summary and remote-buildkit.insights.steps.
type Insights struct {
	Summary insights.Summary `json:"summary"`
	Steps   []insights.Step  `json:"steps"`
}

// Attempt is a failed attempt of a build that was run again.
type Attempt struct {
	Attempt int    `json:"attempt"`
	Cause   string `json:"cause"`
	Host    string `json:"host"`
	Node    string `json:"node,omitempty"`
}

// Manifest is one platform's image of a build split across nodes.
type Manifest struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
	Node     string `json:"node"`
	Host     string `json:"buildkit_host"`
}

// Solved is what one Solve on one daemon produced; the job assembles the
// Result from one or more of them.
type Solved struct {
	Digest      string
	Exporter    map[string]any
	Seconds     float64
	Steps       int
	CachedSteps int
	Context     contextsync.Stats // the local directories' sync
}

// SumContext adds up the context syncs of a build's solves (the nodes of a
// split build each upload the context); nil when none synced anything.
func SumContext(parts []*Solved) *contextsync.Stats {
	var sum *contextsync.Stats
	for _, p := range parts {
		if p == nil || p.Context.Uploads == 0 {
			continue
		}
		if sum == nil {
			sum = &contextsync.Stats{}
		}
		sum.Add(p.Context)
	}
	return sum
}

// Solve runs the plan on the daemon with BuildKit's progress display writing
// to progressOut; every status update also goes to each watch function
// (build insights). Output files are committed only when the build succeeds.
func Solve(ctx context.Context, cl *client.Client, p *Plan, mode string, progressOut io.Writer, watch ...func(*client.SolveStatus)) (*Solved, error) {
	start := time.Now()
	display, err := progressui.NewDisplay(progressOut, progressui.DisplayMode(mode))
	if err != nil {
		// A tty was asked for but the output is not a terminal: fall back.
		display, err = progressui.NewDisplay(progressOut, progressui.PlainMode)
		if err != nil {
			p.Discard()
			return nil, err
		}
	}
	statusCh := make(chan *client.SolveStatus)
	displayCh := make(chan *client.SolveStatus)
	steps := map[digest.Digest]bool{} // vertex → cached
	trail := newStepTrail()
	var resp *client.SolveResponse

	eg, egctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		resp, err = cl.Solve(egctx, nil, p.Opt, statusCh)
		return err
	})
	eg.Go(func() error {
		// Count steps and cache hits on the way to the display.
		defer close(displayCh)
		for st := range statusCh {
			for _, v := range st.Vertexes {
				if v.Completed != nil && !strings.HasPrefix(v.Name, "[internal]") {
					steps[v.Digest] = v.Cached
				}
			}
			trail.update(st)
			for _, w := range watch {
				w(st)
			}
			displayCh <- st
		}
		return nil
	})
	eg.Go(func() error {
		_, err := display.UpdateFrom(context.WithoutCancel(egctx), displayCh)
		return err
	})
	err = eg.Wait()
	synced := p.sync.Finish(context.WithoutCancel(ctx))
	if err != nil {
		p.Discard()
		err = p.classify(ctx, err)
		if name, log := trail.failed(); name != "" && exitcode.Of(err) == exitcode.BuildFailed {
			err = &StepError{Step: name, Log: log, Err: err}
		}
		return nil, err
	}
	if err := p.Commit(); err != nil {
		if exitcode.Of(err) != exitcode.BadConfig {
			err = exitcode.With(exitcode.BuildFailed, err)
		}
		return nil, err
	}
	res := &Solved{Seconds: time.Since(start).Seconds(), Exporter: decodeExporterResponse(resp.ExporterResponse), Context: synced}
	for _, cached := range steps {
		res.Steps++
		if cached {
			res.CachedSteps++
		}
	}
	res.Digest = resp.ExporterResponse["containerimage.digest"]
	return res, nil
}

// contextError reports why ctx ended: the timeout option (exit 5) or a
// cancellation such as SIGTERM from the agent (exit 130).
func contextError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return exitcode.With(exitcode.Timeout, fmt.Errorf("build exceeded its time limit (timeout option): %s", oneLine(err.Error())))
	}
	return exitcode.With(exitcode.Cancelled, errors.New("build cancelled"))
}

// registryInError finds the registry host in a resolver error such as
// "unexpected status from HEAD request to http://host:5000/v2/...: 401".
var registryInError = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`https?://([^/\s]+)/v2/`) })

// RegistryInError returns the registry host named in a resolver error, or "".
func RegistryInError(msg string) string {
	if m := registryInError().FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// StepError is a build failure with the step that failed and its last log lines.
type StepError struct {
	Step string
	Log  []string
	Err  error
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// stepTrail remembers vertex names, errors and the tail of each vertex's log.
type stepTrail struct {
	names  map[digest.Digest]string
	errs   []digest.Digest
	logs   map[digest.Digest][]string
	partly map[digest.Digest]string // an unfinished last line
}

const tailLines = 20

func newStepTrail() *stepTrail {
	return &stepTrail{names: map[digest.Digest]string{}, logs: map[digest.Digest][]string{}, partly: map[digest.Digest]string{}}
}

func (t *stepTrail) update(st *client.SolveStatus) {
	for _, v := range st.Vertexes {
		t.names[v.Digest] = v.Name
		if v.Error != "" && !strings.Contains(v.Error, "context canceled") {
			t.errs = append(t.errs, v.Digest)
		}
	}
	for _, l := range st.Logs {
		text := t.partly[l.Vertex] + string(l.Data)
		lines := strings.Split(text, "\n")
		t.partly[l.Vertex] = lines[len(lines)-1]
		log := append(t.logs[l.Vertex], lines[:len(lines)-1]...)
		if len(log) > tailLines {
			log = log[len(log)-tailLines:]
		}
		t.logs[l.Vertex] = log
	}
}

// failed returns the first failed step's name and the tail of its log.
func (t *stepTrail) failed() (string, []string) {
	if len(t.errs) == 0 {
		return "", nil
	}
	d := t.errs[0]
	log := t.logs[d]
	if p := t.partly[d]; p != "" {
		log = append(log, p)
	}
	return t.names[d], log
}

// classify is classifySolveError, with git-context's failed fetches explained.
func (p *Plan) classify(ctx context.Context, err error) error {
	if gerr := gitcontext.Explain(p.git, err); gerr != nil && ctx.Err() == nil {
		return gerr
	}
	return classifySolveError(ctx, err)
}

// classifySolveError gives the exit code and, for known causes, the fix.
func classifySolveError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return contextError(ctx, err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "401 Unauthorized"), strings.Contains(msg, "403 Forbidden"),
		strings.Contains(msg, "failed to authorize"), strings.Contains(msg, "insufficient_scope"),
		strings.Contains(msg, "authentication required"), strings.Contains(msg, "no basic auth credentials"):
		registry := "a registry"
		if h := RegistryInError(msg); h != "" {
			registry = "registry " + h
		}
		return exitcode.With(exitcode.RegistryAuth, fmt.Errorf("%s refused the credentials (registry authentication failed): check its entry in $DOCKER_CONFIG/config.json or ~/.docker/config.json (`docker login` writes it) [%s]", registry, oneLine(msg)))
	case strings.Contains(msg, "exporter \"registry\" could not be found"):
		return exitcode.With(exitcode.BuildFailed, fmt.Errorf("%s: the daemon is too old for type=registry; use type=image,push=true", oneLine(msg)))
	}
	return exitcode.With(exitcode.BuildFailed, errors.New(oneLine(msg)))
}

// decodeExporterResponse decodes base64 JSON values the way buildctl's
// --metadata-file does, so the file reads the same.
func decodeExporterResponse(in map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if dt, err := base64.StdEncoding.DecodeString(v); err == nil && len(v) > 0 {
			var raw map[string]any
			if json.Unmarshal(dt, &raw) == nil {
				out[k] = raw
				continue
			}
		}
		out[k] = v
	}
	return out
}
