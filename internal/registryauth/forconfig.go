package registryauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"

	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// ForConfig assembles the registry logins for a job: registry-credentials
// from the environment, ECR (unless disabled) with its token cache in
// tls-dir, and the job's docker config, read only.
func ForConfig(cfg *config.Config, env config.Env) (*Sources, error) {
	dockerCfg, err := LoadDockerConfig(DockerConfigDir(env.Get))
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	extra, err := testECRHosts(env)
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	s := &Sources{
		Static:   StaticFromEnv(cfg.RegistryCredentials, env.Get),
		ECRHosts: extra,
		Docker:   dockerCfg,
	}
	if cfg.ECR.Enabled {
		s.ECR = ecrTokens(cfg, env)
	}
	return s, nil
}

// testECRHosts is HostsEnv's mapping in a test build (build tag
// remote_buildkit_test, which the Makefile's build sets); a released
// binary ignores the variable.
func testECRHosts(env config.Env) (map[string]ECRRegistry, error) {
	if !testOverrides {
		return nil, nil
	}
	return ParseECRHosts(env.Get(HostsEnv))
}

// Identity names who fetches a job's ECR tokens: the assumed role, and where
// the SDK takes the agent's own credentials from (profile, access key,
// web identity, container credentials). Tokens are cached per identity, so
// a token one identity fetched never reaches a job of another.
func Identity(assumeRole string, env config.Env) string {
	h := sha256.New()
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"} {
		fmt.Fprintf(h, "%s=%s\n", k, env.Get(k))
	}
	fmt.Fprintf(h, "assume-role=%s\n", assumeRole)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ecrTokens fetches ECR and ECR Public tokens with the job's AWS credentials.
func ecrTokens(cfg *config.Config, env config.Env) *Tokens {
	cacheDir := ""
	if cfg.TLSDir != "" && DirExists(cfg.TLSDir) {
		cacheDir = cfg.TLSDir
	}
	return &Tokens{
		Private: func(ctx context.Context, region string) (ECRAPI, error) {
			if cfg.ECR.Region != "" {
				region = cfg.ECR.Region
			}
			awsCfg, err := awsx.Load(ctx, region, cfg.ECR.AssumeRole)
			if err != nil {
				return nil, err
			}
			return ecr.NewFromConfig(awsCfg), nil
		},
		Public: func(ctx context.Context) (ECRPublicAPI, error) {
			awsCfg, err := awsx.Load(ctx, "us-east-1", cfg.ECR.AssumeRole) // ECR Public's API lives there
			if err != nil {
				return nil, err
			}
			return ecrpublic.NewFromConfig(awsCfg), nil
		},
		Accounts: cfg.ECR.AccountIDs,
		Identity: Identity(cfg.ECR.AssumeRole, env),
		CacheDir: cacheDir,
		Now:      time.Now,
	}
}
