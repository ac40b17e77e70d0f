package pki

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// S3Putter is the S3 call Upload uses.
type S3Putter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// NewS3 is the S3 client of the environment's AWS configuration (region ""
// = AWS_REGION, else us-east-1), with the endpoint overrides awsx honours.
func NewS3(ctx context.Context, region string) (S3Putter, error) {
	cfg, err := awsx.Load(ctx, region, "")
	if err != nil {
		return nil, certsError("%v", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return awsx.S3(cfg), nil
}

// UploadOptions say which client set goes where.
type UploadOptions struct {
	Dir      string // the directory certs init wrote; its client/ set is uploaded
	Bucket   string // the Elastic CI Stack secrets bucket
	Prefix   string // the plugin's secrets-prefix (default buildkit)
	Pipeline string // upload for this pipeline slug only: <pipeline>/<prefix>/
	KMSKeyID string // SSE-KMS key; empty = the bucket's default aws/s3 key
}

// objects are the names the environment hook downloads, with their files.
var objects = [3]string{CAFile, ClientCert, ClientKey}

// Upload verifies DIR/client (chain, key match, expiry) and puts its three
// files into the bucket with SSE-KMS, printing each key written. Nothing is
// uploaded unless the whole set verifies.
func Upload(ctx context.Context, api S3Putter, o UploadOptions, now time.Time, out io.Writer) error {
	if o.Dir == "" {
		return usageError("--dir is required: the directory remote-buildkit certs init wrote")
	}
	if o.Bucket == "" {
		return usageError("--bucket is required: the Elastic CI Stack's secrets bucket (the plugin's secrets-bucket)")
	}
	set, names, err := readClientSet(Layout(o.Dir))
	if err != nil {
		return err
	}
	checked, err := certs.Verify(set, names, now)
	if err != nil {
		return certsError("%v: nothing was uploaded", err)
	}
	prefix := (&config.Config{PipelineSlug: strings.Trim(o.Pipeline, "/")}).CertPrefixes(o.Prefix)[0]
	var written []string
	for i, body := range [3][]byte{set.CA, set.Cert, set.Key} {
		key := prefix + objects[i]
		in := &s3.PutObjectInput{
			Bucket:               &o.Bucket,
			Key:                  &key,
			Body:                 bytes.NewReader(body),
			ContentType:          strPtr("application/x-pem-file"),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms,
		}
		if o.KMSKeyID != "" {
			in.SSEKMSKeyId = &o.KMSKeyID
		}
		if _, err := api.PutObject(ctx, in); err != nil {
			return putError(err, o.Bucket, key, written)
		}
		written = append(written, "s3://"+o.Bucket+"/"+key)
		fmt.Fprintf(out, "uploaded s3://%s/%s (SSE aws:kms)\n", o.Bucket, key)
	}
	fmt.Fprintf(out, "client certificate %s valid until %s: agents install it on their next job (environment hook, secrets-bucket: %s)\n",
		checked.Subject, checked.NotAfter.UTC().Format(time.DateOnly), o.Bucket)
	for _, w := range checked.Warnings {
		fmt.Fprintf(out, "WARNING: %s\n", w)
	}
	return nil
}

func readClientSet(l Layout) (certs.Set, [3]string, error) {
	var names [3]string
	var bodies [3][]byte
	for i, name := range objects {
		names[i] = l.Path(ClientDir, name)
		b, err := readFile(names[i], "point --dir at a directory made by remote-buildkit certs init")
		if err != nil {
			return certs.Set{}, names, err
		}
		bodies[i] = b
	}
	return certs.Set{CA: bodies[0], Cert: bodies[1], Key: bodies[2]}, names, nil
}

// putError is one line naming the object, the status and the fix.
func putError(err error, bucket, key string, written []string) error {
	status, code := 0, ""
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var msg string
	switch {
	case code == "AccessDenied" || status == 403:
		msg = fmt.Sprintf("access denied (403) writing s3://%s/%s: give this role s3:PutObject on arn:aws:s3:::%s/%s (and kms:GenerateDataKey on the KMS key)", bucket, key, bucket, key)
	case code == "NoSuchBucket":
		msg = fmt.Sprintf("bucket s3://%s does not exist (404): fix --bucket (the Elastic CI Stack's secrets bucket)", bucket)
	case code == "PermanentRedirect" || status == 301:
		msg = fmt.Sprintf("s3://%s is in another region (301): pass --region with the bucket's region", bucket)
	case awsx.NoCredentials(err):
		msg = fmt.Sprintf("no AWS credentials to write s3://%s/%s: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for a role that may write the secrets bucket", bucket, key)
	default:
		msg = fmt.Sprintf("writing s3://%s/%s failed (status %d): %s", bucket, key, status, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	if len(written) == 0 {
		msg += "; nothing was uploaded"
	} else {
		msg += "; already uploaded: " + strings.Join(written, ", ") + " (re-run certs upload once fixed: the set there is mixed)"
	}
	return certsError("%s", msg)
}

func strPtr(s string) *string { return &s }
