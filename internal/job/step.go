package job

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/bake"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/redact"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// Kind is what a step asks for.
type Kind int

// Kinds of step.
const (
	SingleImage     Kind = iota // one image (built on one daemon or split across nodes)
	BakeImages                  // every target of the step's bake files
	DiagnoseOnly                // diagnose: true — a report instead of a build
	RunCommand                  // buildx: the step\'s own command runs, with the job\'s builder
	OtherPluginRuns             // buildx: another plugin (docker-compose) runs the step\'s command
)

// Step is this job's plugin configuration, read once by ReadStep: what the
// step does, its step-wide options and its images. Nothing reads the raw
// configuration after it.
type Step struct {
	Kind Kind
	// Config holds the step-wide options (daemons, logins, reporting,
	// retries…). Its Image is empty: each image carries its own options.
	Config *config.Config
	Images []*image // one per image, in name order for bake
	// RouteKey is what a pool routes this step by (rendezvous hashing):
	// the pipeline and its Dockerfile, or its bake files.
	RouteKey string
	// Command is the step's command as buildkite-agent would run it
	// (RunCommand); OtherPlugin names the plugin that runs it (OtherPluginRuns).
	Command     []string
	OtherPlugin string
	// Redact holds the step's secret values, which nothing published may
	// show (set once by useRedaction before the build; nil redacts nothing).
	Redact *redact.Redactor
}

// image is one image of the step: its validated options and, once built,
// its result.
type image struct {
	name  string            // the bake target; "" for a single-image step
	opts  config.Image      // never changed after ReadStep (the build request takes a copy)
	needs map[string]string // bake: named context → the target whose pushed image it is
	ins   *tracker
	res   *solve.Result
	done  chan struct{} // closed once res is set
}

// ReadStep reads the plugin configuration from the job's environment once
// and validates it for what the step asks: a diagnose report, a bake, or a
// single image.
func ReadStep(ctx context.Context, d Deps) (*Step, error) {
	// One read: config.Read checks a diagnose, bake or buildx-command step
	// as the environment hook does (no Dockerfile needed), a build in full.
	cfg, err := Load(d, config.Command)
	if err != nil {
		return nil, err
	}
	if cfg.Diagnose {
		return &Step{Kind: DiagnoseOnly, Config: cfg}, nil
	}
	if cfg.Buildx != "" {
		// With buildx the step's own command may run instead of a build.
		if step, err := commandStep(d, cfg); step != nil || err != nil {
			return step, err
		}
	}
	if cfg.Bake != nil {
		return readBake(ctx, d, cfg)
	}
	key := fleet.RouteKey(cfg, d.WorkDir)
	return newStep(SingleImage, cfg, key, &image{opts: cfg.Image}), nil
}

// newStep keeps the step-wide options in Config and gives each image its own.
func newStep(kind Kind, cfg *config.Config, key string, images ...*image) *Step {
	step := *cfg
	step.Image = config.Image{}
	for _, im := range images {
		im.ins = &tracker{on: cfg.Insights, keep: cfg.InsightsRecord, lane: im.name}
		im.done = make(chan struct{})
	}
	return &Step{Kind: kind, Config: &step, Images: images, RouteKey: key}
}

// readBake resolves the bake files' targets — checked against what the
// step grants them — and validates each target's options merged over the
// step's, like a single-image step.
func readBake(ctx context.Context, d Deps, step *config.Config) (*Step, error) {
	b := step.Bake
	var environ []string
	if d.Environ != nil {
		environ = d.Environ()
	}
	fileRel, _ := strconv.ParseBool(d.Env.Get("BUILDX_BAKE_FILE_RELATIVE_PATHS"))
	vars := bake.Vars(environ, redact.Patterns(d.Env.Get), b.SecretEnv, b.Env)
	ts, err := bake.Load(ctx, bake.Request{
		Files: b.Files, Targets: b.Targets, Set: b.Set, Allow: b.Allow, FileRelativePaths: fileRel,
		Vars: vars, Hidden: bake.Hidden(environ, vars),
		Policy: bake.Policy{WorkDir: d.WorkDir, Push: step.Push, ForkPR: b.ForkPR},
	})
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	if len(ts) == 0 {
		return nil, exitcode.With(exitcode.BadConfig, fmt.Errorf("bake: %s define no targets to build: add a target (or a default group)", strings.Join(b.Files, ", ")))
	}
	var first *config.Config
	var images []*image
	for _, t := range ts {
		cfg, err := step.Target(t.Options)
		if err != nil {
			return nil, exitcode.With(exitcode.BadConfig, fmt.Errorf("bake target %s: %w", t.Name, err))
		}
		if len(cfg.Platforms) > 1 {
			cfg.Load = false // load: true loads every single-platform target, as bake --load
		}
		if first == nil {
			first = cfg // the step-wide options are the same in every target
		}
		images = append(images, &image{name: t.Name, opts: cfg.Image, needs: t.Needs})
	}
	return newStep(BakeImages, first, fleet.RouteKey(step, d.WorkDir), images...), nil
}

// what names an image in the log: its Dockerfile and tags.
func (im *image) what(workDir string) string {
	s := relTo(workDir, im.opts.Dockerfile)
	if len(im.opts.Tags) > 0 {
		s += " → " + strings.Join(im.opts.Tags, ", ")
	}
	if im.name != "" {
		s = im.name + ": " + s
	}
	return s
}
