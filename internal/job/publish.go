package job

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/agent"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/insights"
	"github.com/remote-buildkit/remote-buildkit/internal/markdown"
	"github.com/remote-buildkit/remote-buildkit/internal/redact"
	"github.com/remote-buildkit/remote-buildkit/internal/report"
)

// AnnotationContext is the annotation context of build results.
const AnnotationContext = "remote-buildkit"

// publish hands a step's outcome to later steps, for one image or many: one
// annotation (each image's result, the insights timeline with a lane per
// node or target, the build records), the digests as meta-data (key, or
// key:<target> with bake), and the metadata file as an artifact. Each is
// best effort: a failure here is a warning, never the build's result.
func publish(ctx context.Context, d Deps, step *Step, buildErr error, took time.Duration) {
	if exitcode.Of(buildErr) == exitcode.Cancelled {
		return // the job is going away: don't hold it up
	}
	cfg := step.Config
	title := "remote-buildkit: bake"
	if step.Kind != BakeImages {
		title = "remote-buildkit: " + relTo(d.WorkDir, step.Images[0].opts.Dockerfile)
	}
	all := &tracker{on: cfg.Insights, red: step.Redact}
	for _, im := range step.Images {
		all.recs = append(all.recs, im.ins.recs...)
	}
	svg, err := all.timeline(d, title)
	if err != nil {
		warnf(d.Err, "timeline not written: %v", err)
	}
	a, why := agent.FromEnv(d.Env.Get, d.LookPath)
	if a == nil {
		if cfg.Annotate && d.Env.Get("BUILDKITE") != "" {
			fmt.Fprintf(d.Err, "remote-buildkit: not posting results: %s\n", why)
		}
		return
	}
	p := &publisher{ctx: ctx, d: d, a: a, red: step.Redact}
	if cfg.Annotate {
		p.annotate(step, title, buildErr, took, p.insights(svg, all, step))
	}
	if buildErr != nil {
		return
	}
	if cfg.MetaData.Enabled {
		p.metaData(step)
	}
	if cfg.Artifact {
		p.metadataArtifact(step)
	}
}

// publisher posts through the job's agent.
type publisher struct {
	ctx context.Context
	d   Deps
	a   *agent.Agent
	red *redact.Redactor
}

// upload uploads a file of the working directory, warning when it can't;
// it returns the artifact's path, "" when not uploaded.
func (p *publisher) upload(what, path string) string {
	rel := relTo(p.d.WorkDir, path)
	if err := p.a.UploadArtifact(p.ctx, rel); err != nil {
		warnf(p.d.Err, "%s %s not uploaded: %v", what, path, err)
		return ""
	}
	return rel
}

// insights uploads the timeline and the single image's build record and
// returns the insights part of the annotation (text only when they are off
// or failed).
func (p *publisher) insights(svg string, all *tracker, step *Step) string {
	var svgArtifact string
	if svg != "" {
		svgArtifact = p.upload("timeline", svg)
	}
	var record *insights.RecordInfo
	if ins := step.Images[0].ins; step.Kind != BakeImages && ins.record != "" {
		if art := p.upload("build record", ins.record); art != "" {
			record = &insights.RecordInfo{Artifact: art}
		}
	}
	body := insights.Markdown("", redactSteps(step.Redact, all.steps()), svgArtifact, record)
	for _, im := range step.Images {
		if all.on && im.ins.note != "" {
			body += "\n" + markdown.Text(step.Redact.String(im.ins.note)) + "\n"
			break
		}
	}
	return body
}

// annotate posts one annotation: the failure, then each image's result (a
// bake target's with its build record).
func (p *publisher) annotate(step *Step, title string, buildErr error, took time.Duration, insightsBody string) {
	style, body := "success", ""
	if buildErr != nil {
		style, body = "error", report.Failure(title+" failed after "+took.Round(100*time.Millisecond).String(), buildErr, step.Redact)
	}
	for _, im := range step.Images {
		if im.res == nil {
			continue
		}
		if step.Kind != BakeImages {
			body += report.Success(title, im.res, step.Redact)
			continue
		}
		body += report.Success("target "+im.name, im.res, step.Redact) + "\n"
		if im.ins.record != "" {
			if art := p.upload("build record", im.ins.record); art != "" {
				body += fmt.Sprintf(":package: Build record of %s: %s (%s)\n\n", markdown.Inline(im.name), markdown.Code(art), markdown.Code(insights.ImportCommand(art)))
			}
		}
	}
	// The parts redacted their inputs before rendering; this catches a value
	// in a form only the rendered text shows.
	if err := p.a.Annotate(p.ctx, style, AnnotationContext, step.Redact.String(body+"\n"+insightsBody)); err != nil {
		warnf(p.d.Err, "annotation not posted: %v", err)
	}
}

// metaData sets the digest of each image: key (and key:<tag>) for one
// image, key:<target> for bake targets.
func (p *publisher) metaData(step *Step) {
	md := step.Config.MetaData
	for _, im := range step.Images {
		if im.res == nil || im.res.Digest == "" {
			continue
		}
		m := md
		if im.name != "" {
			m.Key += ":" + im.name
		}
		p.setMetaData(m, im.res.Digest, im.res.Tags)
	}
}

func (p *publisher) setMetaData(md config.MetaData, digest string, tags []string) {
	digest = p.red.String(digest)
	if err := p.a.SetMetaData(p.ctx, md.Key, digest); err != nil {
		warnf(p.d.Err, "meta-data %s not set: %v", md.Key, err)
	} else {
		fmt.Fprintf(p.d.Err, "remote-buildkit: meta-data %s=%s\n", md.Key, digest)
	}
	if md.PerTag {
		for _, t := range tags {
			if err := p.a.SetMetaData(p.ctx, md.Key+":"+t, digest); err != nil {
				warnf(p.d.Err, "meta-data %s:%s not set: %v", md.Key, t, err)
			}
		}
	}
}

// metadataArtifact uploads the metadata file, writing it first when the
// step names none.
func (p *publisher) metadataArtifact(step *Step) {
	path := step.Config.MetadataFile
	if path == "" {
		path = filepath.Join(p.d.WorkDir, "remote-buildkit-metadata.json")
		if err := writeMetadataFile(p.d.WorkDir, path, step); err != nil {
			warnf(p.d.Err, "artifact not written: %v", err)
			return
		}
	}
	p.upload("artifact", path)
}
