package registryauth

import (
	"context"
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
	extra, err := ParseECRHosts(env.Get(HostsEnv))
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	s := &Sources{
		Static:   StaticFromEnv(cfg.RegistryCredentials, env.Get),
		ECRHosts: extra,
		Docker:   dockerCfg,
	}
	if cfg.ECR.Enabled {
		s.ECR = ecrTokens(cfg)
	}
	return s, nil
}

// ecrTokens fetches ECR and ECR Public tokens with the job's AWS credentials.
func ecrTokens(cfg *config.Config) *Tokens {
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
		CacheDir: cacheDir,
		Now:      time.Now,
	}
}
