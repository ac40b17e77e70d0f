package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

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

// jobSetDir is where the job keeps its pipeline's own set for node n (the
// top-level set: the job directory itself; a node's secrets-prefix set:
// nodes/<name> in it); "" when n uses no set of the bucket's, or there is
// no job directory.
func jobSetDir(cfg *config.Config, env config.Env, n config.Node) string {
	root := pipelineCertDir(cfg, env)
	switch {
	case root == "":
		return ""
	case n.SecretsPrefix != "":
		return filepath.Join(root, "nodes", config.SafeFileName(n.Name))
	case n.TLSDir == cfg.TLSDir || n.TLSDir == root: // before or after withPipelineCerts
		return root
	}
	return ""
}

// installSet installs the set at prefix for the daemons using sharedDir:
// the pipeline's own (<slug>/<prefix>/) into jobDir when the bucket has one,
// else the default (<prefix>/) into sharedDir. Both are asked for at once
// (one round trip).
func installSet(ctx context.Context, d Deps, cfg *config.Config, prefix, sharedDir, jobDir string) error {
	prefixes := cfg.CertPrefixes(prefix)
	if jobDir == "" || len(prefixes) < 2 {
		return installCerts(ctx, d, cfg, prefixes, sharedDir)
	}
	if err := os.MkdirAll(filepath.Dir(jobDir), 0o700); err != nil {
		return exitcode.With(exitcode.Certs, fmt.Errorf("create %s: %w (set tls-dir to a directory the agent user can write)", filepath.Dir(jobDir), err))
	}
	s3c, err := bucketS3(ctx, cfg, cfg.TLSDir) // one client (and region look-up) for both
	if err != nil {
		return err
	}
	shared, sharedLog := make(chan error, 1), &bytes.Buffer{}
	go func() {
		ds := d
		ds.Err = sharedLog // written out only when the default set is the one used
		shared <- syncCerts(ctx, ds, cfg, s3c, prefixes[1:], sharedDir, false)
	}()
	err = syncCerts(ctx, d, cfg, s3c, prefixes[:1], jobDir, true)
	sharedErr := <-shared
	// Without a job id the jobs of a pipeline share the directory: leave it.
	discard := func() {
		if d.Env.Get("BUILDKITE_JOB_ID") != "" {
			os.RemoveAll(jobDir)
		}
	}
	if errors.Is(err, certs.ErrSetNotFound) {
		discard()
		d.Err.Write(sharedLog.Bytes())
		if errors.Is(sharedErr, certs.ErrSetNotFound) { // neither: name both places, as one request would
			return exitcode.With(exitcode.Certs, certs.SetNotFound(cfg.SecretsBucket, prefixes, cfg.SecretsObjects.CA))
		}
		return sharedErr
	}
	if err != nil {
		discard()
		return err
	}
	if err := os.WriteFile(filepath.Join(jobDir, pipelineCertsMarker), nil, 0o600); err != nil {
		return exitcode.With(exitcode.Certs, err)
	}
	return nil
}

// withPipelineCerts points every daemon whose set the job installed from
// its pipeline's own prefix at that set's job directory: when the
// directory is there, or when the environment hook says it used it (then
// a missing directory fails the dial, naming it).
func withPipelineCerts(cfg *config.Config, env config.Env) *config.Config {
	if pipelineCertDir(cfg, env) == "" {
		return cfg
	}
	used := strings.Split(env.Get(pipelineCertsEnv), "\n")
	c := *cfg
	c.Nodes = append([]config.Node(nil), cfg.Nodes...)
	for i, n := range c.Nodes {
		dir := jobSetDir(cfg, env, n)
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, pipelineCertsMarker)); err == nil || slices.Contains(used, dir) {
			c.Nodes[i].TLSDir = dir
		}
	}
	return &c
}

// usedPipelineSets lists the job directories cfg's daemons use (after
// withPipelineCerts), for the later hooks: newline-separated.
func usedPipelineSets(cfg *config.Config, env config.Env) string {
	var dirs []string
	for _, n := range cfg.Nodes {
		if dir := jobSetDir(cfg, env, n); dir != "" && n.TLSDir == dir && !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	return strings.Join(dirs, "\n")
}

// cleanupPipelineCerts removes the job's pipeline sets (pre-exit).
func cleanupPipelineCerts(d Deps) error {
	var errs []error
	for _, dir := range strings.Split(d.Env.Get(pipelineCertsEnv), "\n") {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, pipelineCertsMarker)); err != nil {
			continue // already gone, or not ours: leave it
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, exitcode.With(exitcode.Internal, fmt.Errorf("remove the job's pipeline certificates %s: %w", dir, err)))
			continue
		}
		os.Remove(filepath.Dir(dir)) // nodes/ of the job directory, once empty
		fmt.Fprintf(d.Err, "remote-buildkit: removed the job's pipeline certificates %s\n", dir)
	}
	return errors.Join(errs...)
}
