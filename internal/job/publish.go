package job

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/agent"
	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/insights"
	"github.com/remote-buildkit/remote-buildkit/internal/report"
)

// AnnotationContext is the annotation context of build results.
const AnnotationContext = "remote-buildkit"

// outcome is what a build left for publish.
type outcome struct {
	res  *builder.Result
	err  error
	took time.Duration
	ins  *tracker
}

// publish hands the outcome to later steps: an annotation (with the build
// insights), the digest as meta-data, the metadata file, timeline and build
// record as artifacts. Each is best effort: a failure here is a warning,
// never the build's result.
func publish(ctx context.Context, d Deps, cfg *config.Config, o outcome) {
	if exitcode.Of(o.err) == exitcode.Cancelled {
		return // the job is going away: don't hold it up
	}
	title := "remote-buildkit: " + relTo(d.WorkDir, cfg.Dockerfile)
	a, svg := prepare(d, cfg, o.ins, title)
	if a == nil {
		return
	}
	if cfg.Annotate {
		annotate(ctx, d, a, title, o, uploadInsights(ctx, d, a, svg, o.ins))
	}
	if o.err != nil || o.res == nil {
		return
	}
	if cfg.MetaData.Enabled && o.res.Digest != "" {
		setMetaData(ctx, d, a, cfg.MetaData, o.res)
	}
	if cfg.Artifact {
		uploadMetadata(ctx, d, a, cfg, o.res)
	}
}

// prepare writes the timeline picture (insights on) and finds the agent
// to post through; nil, after saying why inside a job, when there is none.
func prepare(d Deps, cfg *config.Config, ins *tracker, title string) (*agent.Agent, string) {
	svg, err := ins.timeline(d, title)
	if err != nil {
		warnf(d.Err, "timeline not written: %v", err)
	}
	a, why := agent.FromEnv(d.Env.Get, d.LookPath)
	if a == nil && cfg.Annotate && d.Env.Get("BUILDKITE") != "" {
		fmt.Fprintf(d.Err, "remote-buildkit: not posting results: %s\n", why)
	}
	return a, svg
}

// uploadInsights uploads the timeline and the build record and returns the
// insights part of the annotation (text only when they are off or failed).
func uploadInsights(ctx context.Context, d Deps, a *agent.Agent, svg string, ins *tracker) string {
	var svgArtifact string
	if svg != "" {
		if err := a.UploadArtifact(ctx, relTo(d.WorkDir, svg)); err != nil {
			warnf(d.Err, "timeline %s not uploaded: %v", svg, err)
		} else {
			svgArtifact = relTo(d.WorkDir, svg)
		}
	}
	var record *insights.RecordInfo
	if ins.record != "" {
		if err := a.UploadArtifact(ctx, relTo(d.WorkDir, ins.record)); err != nil {
			warnf(d.Err, "build record %s not uploaded: %v", ins.record, err)
		} else {
			record = &insights.RecordInfo{Artifact: relTo(d.WorkDir, ins.record)}
		}
	}
	body := insights.Markdown("", ins.steps(), svgArtifact, record)
	if ins.on && ins.note != "" {
		body += "\n" + ins.note + "\n"
	}
	return body
}

func annotate(ctx context.Context, d Deps, a *agent.Agent, title string, o outcome, insightsBody string) {
	style, body := "success", ""
	if o.err != nil {
		style, body = "error", report.Failure(title+" failed after "+o.took.Round(100*time.Millisecond).String(), o.err)
	} else {
		body = report.Success(title, o.res)
	}
	if err := a.Annotate(ctx, style, AnnotationContext, body+"\n"+insightsBody); err != nil {
		warnf(d.Err, "annotation not posted: %v", err)
	}
}

func setMetaData(ctx context.Context, d Deps, a *agent.Agent, md config.MetaData, res *builder.Result) {
	if err := a.SetMetaData(ctx, md.Key, res.Digest); err != nil {
		warnf(d.Err, "meta-data %s not set: %v", md.Key, err)
	} else {
		fmt.Fprintf(d.Err, "remote-buildkit: meta-data %s=%s\n", md.Key, res.Digest)
	}
	if md.PerTag {
		for _, t := range res.Tags {
			if err := a.SetMetaData(ctx, md.Key+":"+t, res.Digest); err != nil {
				warnf(d.Err, "meta-data %s:%s not set: %v", md.Key, t, err)
			}
		}
	}
}

func uploadMetadata(ctx context.Context, d Deps, a *agent.Agent, cfg *config.Config, res *builder.Result) {
	path := cfg.MetadataFile
	if path == "" {
		path = filepath.Join(d.WorkDir, "remote-buildkit-metadata.json")
		if err := builder.WriteMetadata(path, res); err != nil {
			warnf(d.Err, "artifact not written: %v", err)
			return
		}
	}
	if err := a.UploadArtifact(ctx, relTo(d.WorkDir, path)); err != nil {
		warnf(d.Err, "artifact %s not uploaded: %v", path, err)
	}
}

// publishBake posts one annotation listing every target (with the combined
// timeline, a lane per target), meta-data <key>:<target>, and the metadata
// file as an artifact.
func publishBake(ctx context.Context, d Deps, step *config.Config, targets []*bakeTarget, buildErr error, took time.Duration) {
	if exitcode.Of(buildErr) == exitcode.Cancelled {
		return
	}
	all := &tracker{on: step.Insights}
	for _, t := range targets {
		all.recs = append(all.recs, t.ins.recs...)
	}
	title := "remote-buildkit: bake"
	a, svg := prepare(d, step, all, title)
	if a == nil {
		return
	}
	if step.Annotate {
		annotateBake(ctx, d, a, title, targets, buildErr, took, uploadInsights(ctx, d, a, svg, all))
	}
	if buildErr != nil {
		return
	}
	for _, t := range sortedTargets(targets) {
		if step.MetaData.Enabled && t.res.Digest != "" {
			md := step.MetaData
			md.Key += ":" + t.Name
			setMetaData(ctx, d, a, md, t.res)
		}
	}
	if step.Artifact && step.MetadataFile != "" {
		if err := a.UploadArtifact(ctx, relTo(d.WorkDir, step.MetadataFile)); err != nil {
			warnf(d.Err, "artifact %s not uploaded: %v", step.MetadataFile, err)
		}
	}
}

func annotateBake(ctx context.Context, d Deps, a *agent.Agent, title string, targets []*bakeTarget, buildErr error, took time.Duration, insightsBody string) {
	style, body := "success", ""
	if buildErr != nil {
		style, body = "error", report.Failure(title+" failed after "+took.Round(100*time.Millisecond).String(), buildErr)
	}
	for _, t := range sortedTargets(targets) {
		if t.res != nil {
			body += report.Success("target "+t.Name, t.res) + "\n"
		}
		if t.ins.record != "" {
			if err := a.UploadArtifact(ctx, relTo(d.WorkDir, t.ins.record)); err == nil {
				body += fmt.Sprintf(":package: Build record of %s: `%s` (`%s`)\n\n", t.Name, relTo(d.WorkDir, t.ins.record), insights.ImportCommand(relTo(d.WorkDir, t.ins.record)))
			}
		}
	}
	if err := a.Annotate(ctx, style, AnnotationContext, body+"\n"+insightsBody); err != nil {
		warnf(d.Err, "annotation not posted: %v", err)
	}
}
