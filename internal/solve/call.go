package solve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"

	"github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/progress/progressui"
	"golang.org/x/sync/errgroup"
)

// Warning is one lint warning of call: check.
type Warning struct {
	Rule     string // the check's name, e.g. FromAsCasing
	Detail   string // what is wrong, e.g. "'as' and 'FROM' keywords' casing do not match (line 1)"
	Location string // "Dockerfile:LINE"; "" when the warning has no place in a file
	URL      string // the rule's documentation
}

// CallResult is what the frontend answered to a call other than build: the
// subrequest's metadata, and for check its warnings.
type CallResult struct {
	Call       string // check, outline or targets
	JSON       string // result.json
	Text       string // result.txt: the frontend's own rendering, for the log
	StatusCode int    // result.statuscode (check: 1 when it found anything)
	Warnings   []Warning
	Error      string // check: the Dockerfile error that stopped it, with its location
}

// Failed reports whether the step should fail: check found warnings or an
// error, or the frontend answered a non-zero status, as buildx exits with it.
func (r *CallResult) Failed() bool {
	return len(r.Warnings) > 0 || r.Error != "" || r.StatusCode != 0
}

// Call runs a plan made for call check, outline or targets: the frontend is
// asked through the gateway (as buildx does, build/build.go) with
// BuildKit's progress display writing to progressOut, and its answer is
// read from the result's metadata.
func Call(ctx context.Context, cl *client.Client, p *Plan, mode string, progressOut io.Writer) (*CallResult, error) {
	if p.call == "" || p.call == "build" {
		return nil, errors.New("solve.Call: the plan is a build: run it with Solve")
	}
	display, err := newDisplay(progressOut, mode)
	if err != nil {
		return nil, err
	}
	opt := p.Opt
	opt.FrontendAttrs = maps.Clone(p.Opt.FrontendAttrs) // Build adds the daemon's options to this map
	req := gateway.SolveRequest{Frontend: p.Opt.Frontend, FrontendOpt: maps.Clone(p.Opt.FrontendAttrs)}
	// The gateway takes frontend inputs (git-context's) as definitions, as
	// buildx marshals them for a call (build/build.go).
	for name, st := range p.Opt.FrontendInputs {
		def, err := st.Marshal(ctx)
		if err != nil {
			return nil, fmt.Errorf("frontend input %s: %w", name, err)
		}
		if req.FrontendInputs == nil {
			req.FrontendInputs = map[string]*pb.Definition{}
		}
		req.FrontendInputs[name] = def.ToPB()
	}
	statusCh := make(chan *client.SolveStatus)
	var meta map[string][]byte
	eg, egctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		_, err := cl.Build(egctx, opt, "remote-buildkit", func(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
			res, err := c.Solve(ctx, req)
			if err != nil {
				return nil, err
			}
			meta = res.Metadata
			return res, nil
		}, statusCh)
		return err
	})
	eg.Go(func() error {
		_, err := display.UpdateFrom(context.WithoutCancel(egctx), statusCh)
		return err
	})
	err = eg.Wait()
	p.sync.Finish(context.WithoutCancel(ctx))
	if err != nil {
		return nil, p.classify(ctx, err)
	}
	return decodeCall(p.call, meta)
}

// newDisplay is BuildKit's progress display in mode, plain when a tty was
// asked for but the output is not a terminal.
func newDisplay(w io.Writer, mode string) (progressui.Display, error) {
	display, err := progressui.NewDisplay(w, progressui.DisplayMode(mode))
	if err != nil {
		return progressui.NewDisplay(w, progressui.PlainMode)
	}
	return display, nil
}

// decodeCall reads a subrequest's metadata (result.json, result.txt,
// result.statuscode) and, for check, the lint results in result.json
// (buildkit's frontend/subrequests/lint types, as buildx's printResult).
func decodeCall(call string, meta map[string][]byte) (*CallResult, error) {
	res := &CallResult{Call: call, JSON: string(meta["result.json"]), Text: string(meta["result.txt"])}
	if s, ok := meta["result.statuscode"]; ok {
		n, err := strconv.Atoi(string(s))
		if err != nil {
			return nil, fmt.Errorf("call %s: result.statuscode %q is not a number", call, s)
		}
		res.StatusCode = n
	}
	if call != "check" || len(meta["result.json"]) == 0 {
		return res, nil
	}
	var lr lint.LintResults
	if err := json.Unmarshal(meta["result.json"], &lr); err != nil {
		return nil, fmt.Errorf("call check: the frontend's lint result does not decode: %w", err)
	}
	for _, w := range lr.Warnings {
		res.Warnings = append(res.Warnings, Warning{Rule: w.RuleName, Detail: w.Detail, URL: w.URL, Location: lintLocation(lr.Sources, w.Location)})
	}
	if lr.Error != nil {
		res.Error = lr.Error.Message
		if loc := lintLocation(lr.Sources, &lr.Error.Location); loc != "" {
			res.Error = loc + ": " + res.Error
		}
	}
	return res, nil
}

// lintLocation is "FILE:LINE" of a lint location, "" when it has none.
func lintLocation(sources []*pb.SourceInfo, loc *pb.Location) string {
	if loc == nil || loc.SourceIndex < 0 || int(loc.SourceIndex) >= len(sources) || sources[loc.SourceIndex] == nil {
		return ""
	}
	file := sources[loc.SourceIndex].Filename
	if len(loc.Ranges) == 0 || loc.Ranges[0].GetStart() == nil {
		return file
	}
	return fmt.Sprintf("%s:%d", file, loc.Ranges[0].Start.Line)
}
