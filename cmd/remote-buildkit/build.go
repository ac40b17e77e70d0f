package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/versions"
)

func buildCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "build",
		Usage: "build (and push) the image described by the plugin configuration",
		Description: "Reads the configuration from BUILDKITE_PLUGIN_CONFIGURATION (or this plugin's entry in\n" +
			"BUILDKITE_PLUGINS), validates it against plugin.yml, and runs the build on the daemon.",
		Action: func(c *cli.Context) error {
			wd, err := os.Getwd()
			if err != nil {
				return exitcode.With(exitcode.Internal, err)
			}
			return runBuild(c.Context, env, wd, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runBuild is the build command's work: config → plan → connect → solve → report.
func runBuild(ctx context.Context, env config.Env, workDir string, out, errOut io.Writer) error {
	js, _, err := config.RawFromEnv(env)
	if err != nil {
		return exitcode.With(exitcode.BadConfig, err)
	}
	cfg, err := config.Parse(js, env, workDir)
	if err != nil {
		if cfg, derr := config.ParseForEnvironment(js, env, workDir); derr == nil && cfg.Diagnose {
			// diagnose: true needs no Dockerfile: report instead of building.
			return runDiagnose(ctx, env, workDir, out, errOut, "text", env.Get("BUILDKITE_AGENT_ACCESS_TOKEN") != "")
		}
		return exitcode.With(exitcode.BadConfig, err)
	}
	if cfg.Diagnose {
		return runDiagnose(ctx, env, workDir, out, errOut, "text", env.Get("BUILDKITE_AGENT_ACCESS_TOKEN") != "")
	}
	start := time.Now()
	res, err := buildImage(ctx, cfg, env, workDir, out, errOut)
	publish(context.WithoutCancel(ctx), cfg, env, workDir, res, err, time.Since(start), errOut)
	return err
}

// buildImage connects, builds and reports on the log and in the metadata file.
func buildImage(ctx context.Context, cfg *config.Config, env config.Env, workDir string, out, errOut io.Writer) (*builder.Result, error) {
	auth, err := registryauth.ForConfig(cfg, env)
	if err != nil {
		return nil, err
	}
	seedDir, err := os.MkdirTemp("", "remote-buildkit-auth-")
	if err != nil {
		return nil, exitcode.With(exitcode.Internal, err)
	}
	defer os.RemoveAll(seedDir)
	plan, err := builder.NewPlan(cfg, auth.Attachable(seedDir))
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}

	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}

	what := relTo(workDir, cfg.Dockerfile)
	if len(cfg.Tags) > 0 {
		what += " → " + strings.Join(cfg.Tags, ", ")
	}
	fmt.Fprintf(out, "--- :buildkite: remote-buildkit: building %s\n", what)
	if err := auth.Preflight(ctx, cfg.RegistryHosts()); err != nil {
		return nil, exitcode.With(exitcode.RegistryAuth, err)
	}
	targets, err := connectTargets(ctx, cfg, workDir, errOut)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	for _, t := range targets {
		where := t.Node.Host
		if len(cfg.Nodes) > 1 {
			where = fmt.Sprintf("node %s (rendezvous rank %d of %d)", t.Node.Name, t.Rank, len(cfg.Nodes))
			if t.Node.Name != t.Node.Host {
				where = fmt.Sprintf("node %s (%s, rendezvous rank %d of %d)", t.Node.Name, t.Node.Host, t.Rank, len(cfg.Nodes))
			}
		}
		fmt.Fprintf(out, "Connected to BuildKit %s at %s (%s)\n", t.Info.BuildkitVersion.Version, where, t.TLS)
		if err := checkParity(ctx, cfg, t, errOut); err != nil {
			return nil, err
		}
	}
	if len(cfg.Tags) > 0 && !cfg.Push {
		fmt.Fprintln(out, "push is false: the image is built and tagged on the daemon but not pushed (set push: true to push the tags)")
	}

	var res *builder.Result
	if len(targets) > 1 {
		res, err = buildSplit(ctx, cfg, targets, auth, seedDir, out, errOut)
	} else {
		t := targets[0]
		if len(cfg.Nodes) > 1 && len(t.Platforms) > 0 {
			plan, err = planFor(cfg, t.Platforms, auth.Attachable(seedDir))
			if err != nil {
				return nil, err
			}
		}
		res, err = builder.Solve(ctx, t.Client, plan, cfg.Progress, errOut)
		if err != nil {
			return nil, explainBuildError(ctx, cfg, auth, t, err)
		}
		res.Host = t.Node.Host
		res.DaemonVersion = t.Info.BuildkitVersion.Version
		if len(cfg.Nodes) > 1 {
			res.Node = t.Node.Name
		}
	}
	if err != nil {
		return nil, err
	}
	res.Platforms = cfg.Platforms
	res.Tags = cfg.Tags
	if cfg.Push && res.Digest != "" {
		for _, t := range cfg.Tags {
			res.Pushed = append(res.Pushed, t+"@"+res.Digest)
		}
	}
	for _, o := range cfg.Outputs {
		if o.Type == "image" && o.Attrs["push"] == "true" && res.Digest != "" {
			for _, n := range strings.Split(o.Attrs["name"], ",") {
				res.Pushed = append(res.Pushed, n+"@"+res.Digest)
			}
		}
	}

	fmt.Fprintf(out, "--- :white_check_mark: remote-buildkit: built in %.1fs, %d/%d steps cached\n", res.Seconds, res.CachedSteps, res.Steps)
	if res.Digest != "" {
		fmt.Fprintf(out, "digest: %s\n", res.Digest)
	}
	for _, ref := range res.Pushed {
		fmt.Fprintf(out, "pushed: %s\n", ref)
	}
	if cfg.MetadataFile != "" {
		if err := builder.WriteMetadata(cfg.MetadataFile, res); err != nil {
			return nil, exitcode.With(exitcode.Internal, err)
		}
		fmt.Fprintf(out, "metadata: %s\n", relTo(workDir, cfg.MetadataFile))
	}
	return res, nil
}

func relTo(base, p string) string {
	if strings.HasPrefix(p, base+string(os.PathSeparator)) {
		return strings.TrimPrefix(p, base+string(os.PathSeparator))
	}
	return p
}

// checkParity applies version-check to one connected daemon.
func checkParity(ctx context.Context, cfg *config.Config, t fleet.Assignment, errOut io.Writer) error {
	if cfg.VersionCheck == "off" {
		return nil
	}
	bv, bp := versions.BuildctlVersion(ctx, exec.LookPath)
	parity := versions.Compare(t.Info.BuildkitVersion.Version, versions.ClientVersion(), bv, bp)
	p := parity.Problem()
	if p == "" {
		return nil
	}
	if len(cfg.Nodes) > 1 {
		p = "node " + t.Node.Name + ": " + p
	}
	if cfg.VersionCheck == "strict" && parity.Mismatch {
		return exitcode.With(exitcode.VersionSkew, fmt.Errorf("%s (version-check: strict; set it to warn to build anyway)", p))
	}
	fmt.Fprintf(errOut, "remote-buildkit: WARNING: %s\n", p)
	return nil
}

// explainBuildError names the cause of a failed build where it can.
func explainBuildError(ctx context.Context, cfg *config.Config, auth *registryauth.Sources, t fleet.Assignment, err error) error {
	// A login that failed during the build explains the 401 that followed.
	for host, aerr := range auth.Errors() {
		return exitcode.With(exitcode.RegistryAuth, fmt.Errorf("registry %s: %w", host, aerr))
	}
	if host := builder.RegistryInError(err.Error()); exitcode.Of(err) == exitcode.RegistryAuth && host != "" {
		if src, serr := auth.Source(ctx, host); serr == nil && src == "" {
			return exitcode.With(exitcode.RegistryAuth, fmt.Errorf("registry %s requires a login and none is configured for it (ECR logins: %s): add registry-credentials for it, a docker config entry (DOCKER_CONFIG), or enable ecr for ECR hosts",
				host, map[bool]string{true: "on", false: "off"}[cfg.ECR.Enabled]))
		}
	}
	if exitcode.Of(err) == exitcode.BuildFailed && versions.LooksLikeSkew(err.Error()) {
		parity := versions.Compare(t.Info.BuildkitVersion.Version, versions.ClientVersion(), "", "")
		return exitcode.With(exitcode.BuildFailed, fmt.Errorf("%w (this looks like BuildKit version skew: %s; %s)", err, parity.Summary(), versions.Fix))
	}
	return err
}
