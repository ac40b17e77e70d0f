package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/shellquote"
)

func environmentCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "environment",
		Usage: "install the daemon's client certificates and print shell exports (run by hooks/environment)",
		Description: "Downloads ca.pem, cert.pem and key.pem from the secrets bucket into tls-dir when they changed,\n" +
			"checks them, and prints `export` lines for the hook to eval. Logs go to stderr.",
		Action: func(c *cli.Context) error {
			wd, err := os.Getwd()
			if err != nil {
				return exitcode.With(exitcode.Internal, err)
			}
			return runEnvironment(c.Context, env, wd, c.App.Writer, c.App.ErrWriter, time.Now)
		},
	}
}

// runEnvironment is the environment hook's work. Everything on out is eval'd
// by the hook: only quoted export lines go there; logs go to log.
func runEnvironment(ctx context.Context, env config.Env, workDir string, out, log io.Writer, now func() time.Time) error {
	js, _, err := config.RawFromEnv(env)
	if err != nil {
		return exitcode.With(exitcode.BadConfig, err)
	}
	cfg, err := config.ParseForEnvironment(js, env, workDir)
	if err != nil {
		return exitcode.With(exitcode.BadConfig, err)
	}

	if cfg.SecretsBucket != "" {
		shared := len(cfg.Nodes) == 0 // is the top-level set used by anyone?
		for _, n := range cfg.Nodes {
			shared = shared || n.SecretsPrefix == ""
		}
		if shared {
			if err := installCerts(ctx, cfg, cfg.SecretsPrefix, cfg.TLSDir, log, now()); err != nil {
				return err
			}
		}
		for _, n := range cfg.Nodes {
			if n.SecretsPrefix != "" {
				if err := installCerts(ctx, cfg, n.SecretsPrefix, n.TLSDir, log, now()); err != nil {
					return exitcode.With(exitcode.Of(err), fmt.Errorf("node %s: %w", n.Name, err))
				}
			}
		}
	} else if set, ok := readLocalSet(ctx, cfg.TLSDir); ok {
		names := [3]string{filepath.Join(cfg.TLSDir, config.CAFile), filepath.Join(cfg.TLSDir, config.CertFile), filepath.Join(cfg.TLSDir, config.KeyFile)}
		checked, err := certs.Verify(set, names, now())
		if err != nil {
			return exitcode.With(exitcode.Certs, err)
		}
		fmt.Fprintf(log, "remote-buildkit: using the client certificates in %s (no secrets bucket configured), valid until %s\n", cfg.TLSDir, checked.NotAfter.UTC().Format(time.DateOnly))
		warn(log, checked.Warnings)
	}

	node := cfg.Default()
	tlsMode, err := builder.ResolveTLS(node)
	if err != nil {
		return err
	}
	if node.Host != "" && !tlsMode.Enabled && strings.HasPrefix(node.Host, "tcp://") {
		if cfg.RequireTLS {
			return exitcode.With(exitcode.Connect, fmt.Errorf("require-tls is set but there are no client certificates for %s: configure secrets-bucket (or BUILDKITE_PLUGIN_S3_SECRETS_BUCKET), or put ca.pem, cert.pem and key.pem in %s", node.Host, cfg.TLSDir))
		}
		if u, err := url.Parse(node.Host); err != nil || !builder.LoopbackHost(u.Hostname()) {
			fmt.Fprintf(log, "remote-buildkit: WARNING: %s will be used without TLS: anyone who can reach that port can run builds and read their secrets. Keep it inside a private VPC with security groups, or set up mTLS (secrets-bucket) and require-tls: true\n", node.Host)
		}
	}

	var b strings.Builder
	if node.Host != "" && len(cfg.Nodes) <= 1 { // a pool or nodes have no single address
		b.WriteString(shellquote.Export("BUILDKIT_HOST", node.Host))
	}
	if tlsMode.Enabled {
		b.WriteString(shellquote.Export("BUILDKIT_TLS_DIR", filepath.Dir(tlsMode.CA)))
		b.WriteString(shellquote.Export("BUILDKIT_TLS_CA_CERT", tlsMode.CA))
		if tlsMode.ClientCertUsed {
			b.WriteString(shellquote.Export("BUILDKIT_TLS_CERT", tlsMode.Cert))
			b.WriteString(shellquote.Export("BUILDKIT_TLS_KEY", tlsMode.Key))
		}
		if node.TLSServerName != "" {
			b.WriteString(shellquote.Export("BUILDKIT_TLS_SERVER_NAME", node.TLSServerName))
		}
	}
	if cfg.DockerConfig {
		auth, err := registryauth.ForConfig(cfg, env)
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
		fmt.Fprintf(log, "remote-buildkit: wrote a job-scoped docker config with %d registry logins (removed by the pre-exit hook)\n", len(hosts))
		b.WriteString(shellquote.Export("DOCKER_CONFIG", dir))
		b.WriteString(shellquote.Export("REMOTE_BUILDKIT_JOB_DOCKER_CONFIG", dir))
	}
	_, err = io.WriteString(out, b.String())
	return err
}

func installCerts(ctx context.Context, cfg *config.Config, secretsPrefix, tlsDir string, log io.Writer, now time.Time) error {
	start := time.Now()
	region := cfg.SecretsRegion
	if region == "" {
		region = certs.CachedRegion(tlsDir, cfg.SecretsBucket)
	}
	awsCfg, err := awsx.Load(ctx, region, "")
	if err != nil {
		return exitcode.With(exitcode.Certs, err)
	}
	if region == "" {
		if awsCfg.Region == "" {
			awsCfg.Region = "us-east-1" // any region answers HeadBucket with the bucket's own
		}
		region, err = certs.LookupRegion(ctx, awsx.S3(awsCfg), tlsDir, cfg.SecretsBucket)
		if err != nil {
			return exitcode.With(exitcode.Certs, err)
		}
	}
	awsCfg.Region = region
	res, err := certs.Sync(ctx, awsx.S3(awsCfg), certs.Request{
		Bucket:   cfg.SecretsBucket,
		Prefixes: cfg.CertPrefixes(secretsPrefix),
		Objects:  [3]string{cfg.SecretsObjects.CA, cfg.SecretsObjects.Cert, cfg.SecretsObjects.Key},
		Files:    [3]string{config.CAFile, config.CertFile, config.KeyFile},
		Dir:      tlsDir,
		Now:      now,
	})
	if err != nil {
		return exitcode.With(exitcode.Certs, err)
	}
	fmt.Fprintf(log, "remote-buildkit: client certificates from s3://%s/%s → %s: %d downloaded, %d unchanged (%dms); valid until %s\n",
		cfg.SecretsBucket, res.Prefix, tlsDir, res.Downloaded, res.Unchanged, time.Since(start).Milliseconds(), res.Checked.NotAfter.UTC().Format(time.DateOnly))
	warn(log, res.Checked.Warnings)
	return nil
}

func warn(log io.Writer, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(log, "remote-buildkit: WARNING: %s\n", w)
	}
}

// readLocalSet reads the three files of an existing tls-dir.
func readLocalSet(ctx context.Context, dir string) (certs.Set, bool) {
	if dir == "" {
		return certs.Set{}, false
	}
	if unlock, err := certs.RLock(ctx, dir); err == nil { // skipped for a read-only dir
		defer unlock()
	}
	var s certs.Set
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{config.CAFile, &s.CA}, {config.CertFile, &s.Cert}, {config.KeyFile, &s.Key}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return certs.Set{}, false
		}
		*f.dst = b
	}
	return s, true
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
