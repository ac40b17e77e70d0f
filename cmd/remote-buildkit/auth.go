package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"

	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

// authSources assembles the registry logins for a job: registry-credentials
// from the environment, ECR (unless disabled) with its token cache in
// tls-dir, and the job's docker config, read only.
func authSources(cfg *config.Config, env config.Env) (*registryauth.Sources, error) {
	dockerCfg, err := registryauth.LoadDockerConfig(registryauth.DockerConfigDir(env.Get))
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	extra, err := registryauth.ParseECRHosts(env.Get(registryauth.HostsEnv))
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, err)
	}
	s := &registryauth.Sources{
		Static:   registryauth.StaticFromEnv(cfg.RegistryCredentials, env.Get),
		ECRHosts: extra,
		Docker:   dockerCfg,
	}
	if cfg.ECR.Enabled {
		cacheDir := ""
		if cfg.TLSDir != "" && registryauth.DirExists(cfg.TLSDir) {
			cacheDir = cfg.TLSDir
		}
		s.ECR = &registryauth.Tokens{
			Private: func(ctx context.Context, region string) (registryauth.ECRAPI, error) {
				if cfg.ECR.Region != "" {
					region = cfg.ECR.Region
				}
				awsCfg, err := awsx.Load(ctx, region, cfg.ECR.AssumeRole)
				if err != nil {
					return nil, err
				}
				return ecr.NewFromConfig(awsCfg), nil
			},
			Public: func(ctx context.Context) (registryauth.ECRPublicAPI, error) {
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
	return s, nil
}
