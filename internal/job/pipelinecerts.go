package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// A pipeline's own certificate set (<slug>/<secrets-prefix>/ in the
// secrets bucket) is installed for its job alone, in its own directory
// under tls-dir — never over the default set every pipeline uses — and
// removed by the pre-exit hook, so a later job of another pipeline on the
// agent finds nothing of it, and concurrent jobs never overwrite each
// other's set.

// pipelineCertsEnv tells the later hooks that the job uses its pipeline's
// own set: the command hook then requires that directory.
const pipelineCertsEnv = "REMOTE_BUILDKIT_PIPELINE_CERTS"

// pipelineCertsMarker marks a directory as a job's pipeline set (cleanup
// removes only marked directories).
const pipelineCertsMarker = ".remote-buildkit-job-certs"

// pipelineCertDir is the job's directory for its pipeline's set: under
// tls-dir, named by pipeline and job ("" without a secrets bucket or slug).
func pipelineCertDir(cfg *config.Config, env config.Env) string {
	if cfg.SecretsBucket == "" || cfg.PipelineSlug == "" || cfg.TLSDir == "" {
		return ""
	}
	name := config.SafeFileName(cfg.PipelineSlug)
	if id := env.Get("BUILDKITE_JOB_ID"); id != "" {
		name += "." + config.SafeFileName(id)
	}
	return filepath.Join(cfg.TLSDir, "pipelines", name)
}

// installTopLevel installs the set the top-level options name: the
// pipeline's own into its job directory when the bucket has one, else the
// default set into tls-dir. Both are asked for at once (one round trip).
func installTopLevel(ctx context.Context, d Deps, cfg *config.Config) error {
	prefixes := cfg.CertPrefixes(cfg.SecretsPrefix)
	dir := pipelineCertDir(cfg, d.Env)
	if dir == "" || len(prefixes) < 2 {
		return installCerts(ctx, d, cfg, prefixes, cfg.TLSDir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return exitcode.With(exitcode.Certs, fmt.Errorf("create %s: %w (set tls-dir to a directory the agent user can write)", filepath.Dir(dir), err))
	}
	s3c, err := bucketS3(ctx, cfg, cfg.TLSDir) // one client (and region look-up) for both
	if err != nil {
		return err
	}
	shared, sharedLog := make(chan error, 1), &bytes.Buffer{}
	go func() {
		ds := d
		ds.Err = sharedLog // written out only when the default set is the one used
		shared <- syncCerts(ctx, ds, cfg, s3c, prefixes[1:], cfg.TLSDir, false)
	}()
	err = syncCerts(ctx, d, cfg, s3c, prefixes[:1], dir, true)
	sharedErr := <-shared
	if errors.Is(err, certs.ErrSetNotFound) {
		os.RemoveAll(dir)
		d.Err.Write(sharedLog.Bytes())
		if errors.Is(sharedErr, certs.ErrSetNotFound) { // neither: name both places, as one request would
			return exitcode.With(exitcode.Certs, certs.SetNotFound(cfg.SecretsBucket, prefixes, cfg.SecretsObjects.CA))
		}
		return sharedErr
	}
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, pipelineCertsMarker), nil, 0o600); err != nil {
		return exitcode.With(exitcode.Certs, err)
	}
	return nil
}

// withPipelineCerts points the daemons that use the top-level set at the
// job's pipeline set, when the environment hook installed one (or says it
// did: then a missing directory fails the dial, naming it).
func withPipelineCerts(cfg *config.Config, env config.Env) *config.Config {
	dir := pipelineCertDir(cfg, env)
	if dir == "" {
		return cfg
	}
	if _, err := os.Stat(filepath.Join(dir, pipelineCertsMarker)); err != nil && env.Get(pipelineCertsEnv) == "" {
		return cfg
	}
	c := *cfg
	c.Nodes = append([]config.Node(nil), cfg.Nodes...)
	for i, n := range c.Nodes {
		if n.SecretsPrefix == "" && n.TLSDir == cfg.TLSDir {
			c.Nodes[i].TLSDir = dir
		}
	}
	return &c
}

// cleanupPipelineCerts removes the job's pipeline set (pre-exit).
func cleanupPipelineCerts(d Deps) error {
	dir := d.Env.Get(pipelineCertsEnv)
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, pipelineCertsMarker)); err != nil {
		return nil // already gone, or not ours: leave it
	}
	if err := os.RemoveAll(dir); err != nil {
		return exitcode.With(exitcode.Internal, fmt.Errorf("remove the job's pipeline certificates %s: %w", dir, err))
	}
	fmt.Fprintf(d.Err, "remote-buildkit: removed the job's pipeline certificates %s\n", dir)
	return nil
}
