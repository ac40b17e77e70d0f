// Package awsx loads AWS SDK v2 configuration the way the agent's
// environment expects: the default chain (instance role on Elastic CI Stack),
// an optional role to assume, and endpoint overrides (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_S3, ...) that local tests point at an emulator.
package awsx

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// MaxAttempts bounds every AWS call: the SDK's standard retryer retries 5xx,
// throttling and connection errors with exponential backoff (at most
// MaxBackoff between tries), so a brief S3 or ECR outage does not fail the job.
const (
	MaxAttempts = 5
	MaxBackoff  = 2 * time.Second
)

// Load returns the SDK configuration for region ("" = the environment's),
// assuming roleARN when it is set.
func Load(ctx context.Context, region, roleARN string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = MaxAttempts
			o.MaxBackoff = MaxBackoff
		})
	})}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if roleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), roleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "remote-buildkit"
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg, nil
}

// S3 returns an S3 client; with an endpoint override it uses path-style
// addressing, which S3 emulators need. The override is the one the SDK
// resolved from cfg (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, endpoint_url in
// the shared config): nothing here reads the process environment.
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = o.UsePathStyle || o.BaseEndpoint != nil
		// Objects uploaded without checksums would log an SDK debug line each.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// NoCredentials recognises the SDK's failure to find any credentials (no
// instance role, no keys in the environment).
func NoCredentials(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "get credentials:") || strings.Contains(msg, "no EC2 IMDS role found")
}
