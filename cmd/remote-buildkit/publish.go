package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
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
func publish(ctx context.Context, cfg *config.Config, env config.Env, workDir string, res *builder.Result, buildErr error, took time.Duration, log io.Writer) {
	if exitcode.Of(buildErr) == exitcode.Cancelled {
		return // the job is going away: don't hold it up
	}
	a, why := agent.FromEnv(env.Get, exec.LookPath)
	if a == nil {
		if cfg.Annotate && env.Get("BUILDKITE") != "" {
			fmt.Fprintf(log, "remote-buildkit: not posting results: %s\n", why)
		}
		return
	}
	warnf := func(format string, args ...any) {
		fmt.Fprintf(log, "remote-buildkit: WARNING: "+format+"\n", args...)
	}
	title := "remote-buildkit: " + relTo(workDir, cfg.Dockerfile)
	if cfg.Annotate {
		style, body := "success", ""
		if buildErr != nil {
			style, body = "error", report.Failure(title+" failed after "+took.Round(100*time.Millisecond).String(), buildErr)
		} else {
			body = report.Success(title, res)
		}
		if err := a.Annotate(ctx, style, AnnotationContext, body); err != nil {
			warnf("annotation not posted: %v", err)
		}
	}
	if buildErr != nil || res == nil {
		return
	}
	if cfg.MetaData.Enabled && res.Digest != "" {
		if err := a.SetMetaData(ctx, cfg.MetaData.Key, res.Digest); err != nil {
			warnf("meta-data %s not set: %v", cfg.MetaData.Key, err)
		} else {
			fmt.Fprintf(log, "remote-buildkit: meta-data %s=%s\n", cfg.MetaData.Key, res.Digest)
		}
		if cfg.MetaData.PerTag {
			for _, t := range res.Tags {
				if err := a.SetMetaData(ctx, cfg.MetaData.Key+":"+t, res.Digest); err != nil {
					warnf("meta-data %s:%s not set: %v", cfg.MetaData.Key, t, err)
				}
			}
		}
	}
	if cfg.Artifact {
		path := cfg.MetadataFile
		if path == "" {
			path = filepath.Join(workDir, "remote-buildkit-metadata.json")
			if err := builder.WriteMetadata(path, res); err != nil {
				warnf("artifact not written: %v", err)
				return
			}
		}
		if err := a.UploadArtifact(ctx, relTo(workDir, path)); err != nil {
			warnf("artifact %s not uploaded: %v", path, err)
		}
	}
}
