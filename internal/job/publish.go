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
	"github.com/remote-buildkit/remote-buildkit/internal/report"
)

// AnnotationContext is the annotation context of build results.
const AnnotationContext = "remote-buildkit"

// publish hands the outcome to later steps: an annotation, the digest as
// meta-data, the metadata file as an artifact. Each is best effort: a
// failure here is a warning, never the build's result.
func publish(ctx context.Context, d Deps, cfg *config.Config, res *builder.Result, buildErr error, took time.Duration) {
	if exitcode.Of(buildErr) == exitcode.Cancelled {
		return // the job is going away: don't hold it up
	}
	a, why := agent.FromEnv(d.Env.Get, d.LookPath)
	if a == nil {
		if cfg.Annotate && d.Env.Get("BUILDKITE") != "" {
			fmt.Fprintf(d.Err, "remote-buildkit: not posting results: %s\n", why)
		}
		return
	}
	if cfg.Annotate {
		annotate(ctx, d, a, cfg, res, buildErr, took)
	}
	if buildErr != nil || res == nil {
		return
	}
	if cfg.MetaData.Enabled && res.Digest != "" {
		setMetaData(ctx, d, a, cfg.MetaData, res)
	}
	if cfg.Artifact {
		uploadMetadata(ctx, d, a, cfg, res)
	}
}

func annotate(ctx context.Context, d Deps, a *agent.Agent, cfg *config.Config, res *builder.Result, buildErr error, took time.Duration) {
	title := "remote-buildkit: " + relTo(d.WorkDir, cfg.Dockerfile)
	style, body := "success", ""
	if buildErr != nil {
		style, body = "error", report.Failure(title+" failed after "+took.Round(100*time.Millisecond).String(), buildErr)
	} else {
		body = report.Success(title, res)
	}
	if err := a.Annotate(ctx, style, AnnotationContext, body); err != nil {
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
