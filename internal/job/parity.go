package job

import (
	"context"
	"fmt"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
	"github.com/remote-buildkit/remote-buildkit/internal/versions"
)

// checkParity applies version-check to one connected daemon.
func checkParity(ctx context.Context, d Deps, cfg *config.Config, t fleet.Assignment) error {
	if cfg.VersionCheck == "off" {
		return nil
	}
	bv, bp := versions.BuildctlVersion(ctx, d.LookPath)
	parity := versions.Compare(t.Info.BuildkitVersion.Version, versions.ClientVersion(), bv, bp)
	p := parity.Problem()
	if p == "" {
		return nil
	}
	if cfg.Several() {
		p = "node " + t.Node.Name + ": " + p
	}
	if cfg.VersionCheck == "strict" && parity.Mismatch {
		return exitcode.With(exitcode.VersionSkew, fmt.Errorf("%s (version-check: strict; set it to warn to build anyway)", p))
	}
	warnf(d.Err, "%s", p)
	return nil
}

// explainBuildError names the cause of a failed build where it can.
func explainBuildError(ctx context.Context, cfg *config.Config, auth *registryauth.Sources, t fleet.Assignment, err error) error {
	// A login that failed during the build explains the 401 that followed.
	for host, aerr := range auth.Errors() {
		return exitcode.With(exitcode.RegistryAuth, fmt.Errorf("registry %s: %w", host, aerr))
	}
	if host := solve.RegistryInError(err.Error()); exitcode.Of(err) == exitcode.RegistryAuth && host != "" {
		if src, serr := auth.Source(ctx, host); serr == nil && src == "" {
			return exitcode.With(exitcode.RegistryAuth, fmt.Errorf("registry %s requires a login and none is configured for it (ECR logins: %s): add registry-credentials for it, a docker config entry (DOCKER_CONFIG), or enable ecr for ECR hosts",
				host, map[bool]string{true: "on", false: "off"}[cfg.ECR.Enabled]))
		}
	}
	if eerr := solve.ExplainEntitlement(err); eerr != err {
		return eerr
	}
	if ie := solve.ClassifyInfra(t.Node.Host, err); ie != nil && ctx.Err() == nil {
		if t.Node.Name != t.Node.Host {
			ie.Node = t.Node.Name
		}
		return exitcode.With(exitcode.Connect, ie)
	}
	if exitcode.Of(err) == exitcode.BuildFailed && versions.LooksLikeSkew(err.Error()) {
		parity := versions.Compare(t.Info.BuildkitVersion.Version, versions.ClientVersion(), "", "")
		return exitcode.With(exitcode.BuildFailed, fmt.Errorf("%w (this looks like BuildKit version skew: %s; %s)", err, parity.Summary(), versions.Fix))
	}
	return err
}
