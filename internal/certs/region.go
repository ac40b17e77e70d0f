package certs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
)

// HeadBucketAPI is the S3 call the region lookup uses.
type HeadBucketAPI interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

const regionFile = ".s3-bucket-regions.json"

// CachedRegion returns the region recorded for bucket in dir, if any.
func CachedRegion(dir, bucket string) string {
	m := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(dir, regionFile)); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m[bucket]
}

// LookupRegion asks S3 where bucket lives and records it in dir, so warm
// runs skip the call.
func LookupRegion(ctx context.Context, api HeadBucketAPI, dir, bucket string) (string, error) {
	out, err := api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
	if err != nil {
		switch errorCode(err) {
		case "NotFound", "NoSuchBucket":
			return "", fmt.Errorf("bucket s3://%s does not exist: fix secrets-bucket (or BUILDKITE_PLUGIN_S3_SECRETS_BUCKET)", bucket)
		case "AccessDenied", "Forbidden":
			return "", fmt.Errorf("cannot look up the region of s3://%s (access denied): set secrets-region or BUILDKITE_PLUGIN_S3_SECRETS_REGION", bucket)
		}
		if awsx.NoCredentials(err) {
			return "", fmt.Errorf("no AWS credentials to look up s3://%s: run on an instance with an IAM role (Elastic CI Stack agents have one) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", bucket)
		}
		return "", fmt.Errorf("look up the region of s3://%s: %w (set secrets-region to skip the lookup)", bucket, err)
	}
	region := "us-east-1"
	if out.BucketRegion != nil && *out.BucketRegion != "" {
		region = *out.BucketRegion
	}
	if err := EnsureDir(dir); err == nil {
		m := map[string]string{}
		if b, err := os.ReadFile(filepath.Join(dir, regionFile)); err == nil {
			_ = json.Unmarshal(b, &m)
		}
		m[bucket] = region
		if b, err := json.Marshal(m); err == nil {
			_ = atomicfile.WriteFile(filepath.Join(dir, regionFile), b, 0o600) // a cache: best effort
		}
	}
	return region, nil
}

// BucketS3 returns an S3 client for bucket's own region and that region:
// region when set, else the one recorded in cacheDir, else asked of S3 (and
// recorded in cacheDir for the next run).
func BucketS3(ctx context.Context, bucket, region, cacheDir string) (*s3.Client, string, error) {
	if region == "" {
		region = CachedRegion(cacheDir, bucket)
	}
	awsCfg, err := awsx.Load(ctx, region, "")
	if err != nil {
		return nil, "", err
	}
	if region == "" {
		if awsCfg.Region == "" {
			awsCfg.Region = "us-east-1" // any region answers HeadBucket with the bucket's own
		}
		if region, err = LookupRegion(ctx, awsx.S3(awsCfg), cacheDir, bucket); err != nil {
			return nil, "", err
		}
	}
	awsCfg.Region = region
	return awsx.S3(awsCfg), region, nil
}
