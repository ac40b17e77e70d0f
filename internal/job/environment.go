package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/shellquote"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// Environment is the environment hook's work: install the client
// certificates, check the TLS set-up, and write the shell exports the hook
// evals to d.Out (only quoted export lines go there; logs go to d.Err).
func Environment(ctx context.Context, d Deps) error {
	cfg, err := Load(d, config.Environment)
	if err != nil {
		return err
	}
	return environment(ctx, d, cfg)
}

func environment(ctx context.Context, d Deps, cfg *config.Config) error {
	if err := installAll(ctx, d, cfg); err != nil {
		return err
	}
	cfg = withPipelineCerts(cfg, d.Env)
	cfg, err := solve.DecideAll(cfg, solve.JobIntent(cfg, d.Env))
	if err != nil {
		return err
	}
	if err := checkTLS(d, cfg); err != nil {
		return err
	}
	node := cfg.Default()
	tlsMode, err := solve.ResolveTLS(node)
	if err != nil {
		return err
	}
	if err := checkPlaintext(d, cfg, node, tlsMode); err != nil {
		return err
	}
	var b strings.Builder
	if node.Host != "" && !cfg.Several() { // a pool or nodes have no single address
		b.WriteString(shellquote.Export("BUILDKIT_HOST", node.Host))
	}
	if tlsMode.Enabled {
		exportTLS(&b, node, tlsMode)
	}
	if dirs := usedPipelineSets(cfg, d.Env); dirs != "" {
		b.WriteString(shellquote.Export(pipelineCertsEnv, dirs)) // required by the command hook, removed by pre-exit
	}
	if m := jobTLSMode(cfg); m != "" {
		b.WriteString(shellquote.Export(solve.TLSEnv, m)) // the later hooks can't forget it
	}
	if cfg.DockerConfig {
		if err := writeDockerConfig(ctx, d, cfg, &b); err != nil {
			return err
		}
	}
	if cfg.Buildx != "" {
		if err := setUpBuildx(ctx, d, cfg, &b); err != nil {
			return err
		}
	}
	_, err = io.WriteString(d.Out, b.String())
	return err
}

// jobTLSMode is the strongest TLS decision of the job's daemons, as the
// later hooks get it ("" when every one is plaintext).
func jobTLSMode(cfg *config.Config) string {
	m := config.TLSOff
	for _, n := range cfg.Nodes {
		m = max(m, n.TLS)
	}
	return solve.FormatTLSMode(m)
}

// installAll installs every certificate set the daemons use: the top-level
// one, and each node's own secrets-prefix; without a bucket it checks the
// files already in tls-dir.
func installAll(ctx context.Context, d Deps, cfg *config.Config) error {
	if cfg.SecretsBucket == "" {
		return checkLocalSet(ctx, d, cfg.TLSDir)
	}
	shared := false // is the top-level set used by anyone?
	for _, n := range cfg.Nodes {
		shared = shared || n.SecretsPrefix == ""
	}
	if shared {
		if err := installSet(ctx, d, cfg, cfg.SecretsPrefix, cfg.TLSDir, jobSetDir(cfg, d.Env, config.Node{TLSDir: cfg.TLSDir})); err != nil {
			return err
		}
	}
	for _, n := range cfg.Nodes {
		if n.SecretsPrefix != "" {
			if err := installSet(ctx, d, cfg, n.SecretsPrefix, n.TLSDir, jobSetDir(cfg, d.Env, n)); err != nil {
				return exitcode.With(exitcode.Of(err), fmt.Errorf("node %s: %w", n.Name, err))
			}
		}
	}
	return nil
}

// checkPlaintext refuses (require-tls) or warns about a tcp daemon without TLS.
func checkPlaintext(d Deps, cfg *config.Config, node config.Node, tlsMode solve.TLS) error {
	if node.Host == "" || tlsMode.Enabled || !(strings.HasPrefix(node.Host, "tcp://") || strings.HasPrefix(node.Host, "dns://")) {
		return nil
	}
	if cfg.RequireTLS {
		return exitcode.With(exitcode.Connect, fmt.Errorf("require-tls is set but there are no client certificates for %s: configure secrets-bucket (or BUILDKITE_PLUGIN_S3_SECRETS_BUCKET), or put ca.pem, cert.pem and key.pem in %s", node.Host, cfg.TLSDir))
	}
	if u, err := url.Parse(node.Host); err != nil || !solve.LoopbackHost(u.Hostname()) {
		warnf(d.Err, "%s will be used without TLS: anyone who can reach that port can run builds and read their secrets. Keep it inside a private VPC with security groups, or set up mTLS (secrets-bucket) and require-tls: true", node.Host)
	}
	return nil
}

func exportTLS(b *strings.Builder, node config.Node, t solve.TLS) {
	b.WriteString(shellquote.Export("BUILDKIT_TLS_DIR", filepath.Dir(t.CA)))
	b.WriteString(shellquote.Export("BUILDKIT_TLS_CA_CERT", t.CA))
	if t.ClientCertUsed {
		b.WriteString(shellquote.Export("BUILDKIT_TLS_CERT", t.Cert))
		b.WriteString(shellquote.Export("BUILDKIT_TLS_KEY", t.Key))
	}
	if node.TLSServerName != "" {
		b.WriteString(shellquote.Export("BUILDKIT_TLS_SERVER_NAME", node.TLSServerName))
	}
}

// writeDockerConfig writes the job-scoped docker config (docker-config: true).
func writeDockerConfig(ctx context.Context, d Deps, cfg *config.Config, b *strings.Builder) error {
	auth, err := registryauth.ForConfig(cfg, d.Env)
	if err != nil {
		return err
	}
	hosts := cfg.RegistryHosts()
	for _, rc := range cfg.RegistryCredentials {
		hosts = append(hosts, rc.Registry)
	}
	dir, err := auth.WriteDockerConfig(ctx, dedupe(hosts))
	if err != nil {
		return exitcode.With(exitcode.RegistryAuth, err)
	}
	fmt.Fprintf(d.Err, "remote-buildkit: wrote a job-scoped docker config with %d registry logins (removed by the pre-exit hook)\n", len(hosts))
	b.WriteString(shellquote.Export("DOCKER_CONFIG", dir))
	b.WriteString(shellquote.Export("REMOTE_BUILDKIT_JOB_DOCKER_CONFIG", dir))
	return nil
}

// installCerts fetches one certificate set from the secrets bucket, from
// the first of prefixes that holds one.
func installCerts(ctx context.Context, d Deps, cfg *config.Config, prefixes []string, tlsDir string) error {
	s3c, err := bucketS3(ctx, cfg, tlsDir)
	if err != nil {
		return err
	}
	return syncCerts(ctx, d, cfg, s3c, prefixes, tlsDir, false)
}

// bucketS3 is the secrets bucket's client, its region cached in regionDir.
func bucketS3(ctx context.Context, cfg *config.Config, regionDir string) (certs.S3, error) {
	s3c, _, err := certs.BucketS3(ctx, cfg.SecretsBucket, cfg.SecretsRegion, regionDir)
	if err != nil {
		return nil, exitcode.With(exitcode.Certs, err)
	}
	return s3c, nil
}

// syncCerts installs the set at the first of prefixes into tlsDir
// (optional: an absent set is certs.ErrSetNotFound).
func syncCerts(ctx context.Context, d Deps, cfg *config.Config, s3c certs.S3, prefixes []string, tlsDir string, optional bool) error {
	start := time.Now()
	res, err := certs.Sync(ctx, s3c, certs.Request{
		Bucket:   cfg.SecretsBucket,
		Prefixes: prefixes,
		Objects:  [3]string{cfg.SecretsObjects.CA, cfg.SecretsObjects.Cert, cfg.SecretsObjects.Key},
		Files:    certs.FileNames,
		Dir:      tlsDir,
		Now:      d.Now(),
		Optional: optional,
	})
	if err != nil {
		return exitcode.With(exitcode.Certs, err)
	}
	fmt.Fprintf(d.Err, "remote-buildkit: client certificates from s3://%s/%s → %s: %d downloaded, %d unchanged (%dms); valid until %s\n",
		cfg.SecretsBucket, res.Prefix, tlsDir, res.Downloaded, res.Unchanged, time.Since(start).Milliseconds(), res.Checked.NotAfter.UTC().Format(time.DateOnly))
	warnAll(d.Err, res.Checked.Warnings)
	return nil
}

// checkLocalSet checks the certificates already in tls-dir, if any.
func checkLocalSet(ctx context.Context, d Deps, dir string) error {
	if dir == "" {
		return nil
	}
	tlsDir, set, ok, err := certs.ReadDir(ctx, dir)
	if err != nil {
		return exitcode.With(exitcode.Certs, err)
	}
	if !ok || set.Cert == nil || set.Key == nil {
		return nil // nothing, or an incomplete set: the TLS decision names what is missing
	}
	checked, err := certs.Verify(set, tlsDir.Paths, d.Now())
	if err != nil {
		return exitcode.With(exitcode.Certs, err)
	}
	fmt.Fprintf(d.Err, "remote-buildkit: using the client certificates in %s (no secrets bucket configured), valid until %s\n", dir, checked.NotAfter.UTC().Format(time.DateOnly))
	warnAll(d.Err, checked.Warnings)
	return nil
}

func warnAll(w io.Writer, warnings []string) {
	for _, s := range warnings {
		warnf(w, "%s", s)
	}
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Cleanup removes what Environment made for the job — the docker config of
// docker-config: true, the buildx directory of buildx — only directories
// this tool created and marked. Cached certificates and tokens stay.
func Cleanup(d Deps) error {
	return errors.Join(cleanupDockerConfig(d), cleanupBuildx(d), cleanupPipelineCerts(d))
}

func cleanupDockerConfig(d Deps) error {
	dir := d.Env.Get("REMOTE_BUILDKIT_JOB_DOCKER_CONFIG")
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, registryauth.MarkerFile)); err != nil {
		if os.IsNotExist(err) {
			return nil // already gone, or not ours: leave it
		}
		return exitcode.With(exitcode.Internal, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return exitcode.With(exitcode.Internal, fmt.Errorf("remove job docker config %s: %w", dir, err))
	}
	fmt.Fprintf(d.Err, "remote-buildkit: removed the job's docker config %s\n", dir)
	return nil
}
