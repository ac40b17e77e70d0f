package certs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
)

// HeadObjectAPI is the S3 call Locate uses.
type HeadObjectAPI interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Locate finds which prefix holds the set (the CA decides, as in Sync) and
// which of its objects are missing, without downloading anything.
func Locate(ctx context.Context, api HeadObjectAPI, bucket string, prefixes []string, objects [3]string) (prefix string, missing []string, err error) {
	head := func(key string, last bool) (bool, error) {
		_, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err == nil {
			return true, nil
		}
		switch code := errorCode(err); code {
		case "NoSuchKey", "NotFound":
			return false, nil
		case "AccessDenied", "Forbidden":
			if !last {
				return false, nil
			}
			return false, fmt.Errorf("access denied reading s3://%s/%s: give the agent's IAM role s3:GetObject on it (and s3:ListBucket on the bucket)", bucket, key)
		case "NoSuchBucket":
			return false, fmt.Errorf("bucket s3://%s does not exist: fix secrets-bucket", bucket)
		default:
			if awsx.NoCredentials(err) {
				return false, fmt.Errorf("no AWS credentials to read s3://%s: run with an instance role or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", bucket)
			}
			return false, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
		}
	}
	found := false
	for i, p := range prefixes {
		ok, err := head(p+objects[0], i == len(prefixes)-1)
		if err != nil {
			return "", nil, err
		}
		if ok {
			prefix, found = p, true
			break
		}
	}
	if !found {
		return "", []string{objects[0]}, nil
	}
	for _, o := range objects[1:] {
		ok, err := head(prefix+o, true)
		if err != nil {
			return prefix, nil, err
		}
		if !ok {
			missing = append(missing, o)
		}
	}
	return prefix, missing, nil
}
