package pki

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// fakeS3 records puts; fail makes the n-th put (1-based) return err.
type fakeS3 struct {
	puts   []*s3.PutObjectInput
	bodies map[string][]byte
	failAt int
	err    error
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f.failAt == len(f.puts)+1 {
		return nil, f.err
	}
	f.puts = append(f.puts, in)
	b, _ := io.ReadAll(in.Body)
	if f.bodies == nil {
		f.bodies = map[string][]byte{}
	}
	f.bodies[*in.Key] = b
	return &s3.PutObjectOutput{}, nil
}

func apiError(status int, code string) error {
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status}}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: resp, Err: &smithy.GenericAPIError{Code: code, Message: code}},
	}}
}

func TestUploadKeysAndEncryption(t *testing.T) {
	l := initDir(t, []string{"b"}, nil)
	for _, tc := range []struct {
		name     string
		o        UploadOptions
		wantKeys []string
	}{
		{name: "default prefix", o: UploadOptions{Prefix: "buildkit"}, wantKeys: []string{"buildkit/ca.pem", "buildkit/cert.pem", "buildkit/key.pem"}},
		{name: "pipeline", o: UploadOptions{Prefix: "buildkit", Pipeline: "my-app"}, wantKeys: []string{"my-app/buildkit/ca.pem", "my-app/buildkit/cert.pem", "my-app/buildkit/key.pem"}},
		{name: "slashes trimmed, KMS key", o: UploadOptions{Prefix: "/certs/x/", KMSKeyID: "alias/buildkite"}, wantKeys: []string{"certs/x/ca.pem", "certs/x/cert.pem", "certs/x/key.pem"}},
		{name: "bucket root", o: UploadOptions{Prefix: ""}, wantKeys: []string{"ca.pem", "cert.pem", "key.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeS3{}
			tc.o.Dir, tc.o.Bucket = string(l), "secrets"
			var out bytes.Buffer
			if err := Upload(context.Background(), api, tc.o, t0, &out); err != nil {
				t.Fatal(err)
			}
			if len(api.puts) != 3 {
				t.Fatalf("%d puts, want 3", len(api.puts))
			}
			for i, in := range api.puts {
				if *in.Bucket != "secrets" || *in.Key != tc.wantKeys[i] {
					t.Errorf("put %d: s3://%s/%s, want s3://secrets/%s", i, *in.Bucket, *in.Key, tc.wantKeys[i])
				}
				if in.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
					t.Errorf("put %d: SSE %q, want aws:kms", i, in.ServerSideEncryption)
				}
				if got := deref(in.SSEKMSKeyId); got != tc.o.KMSKeyID {
					t.Errorf("put %d: KMS key %q, want %q", i, got, tc.o.KMSKeyID)
				}
				if !strings.Contains(out.String(), "uploaded s3://secrets/"+tc.wantKeys[i]+" ") {
					t.Errorf("key %s not printed:\n%s", tc.wantKeys[i], out.String())
				}
			}
			if !bytes.Equal(api.bodies[tc.wantKeys[2]], mustRead(t, l.Path(ClientDir, ClientKey))) {
				t.Error("key.pem uploaded with other content")
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestUploadVerifiesFirst(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(l Layout)
		now    time.Time
		want   string
	}{
		{name: "key of another certificate", damage: func(l Layout) {
			other := initDir(t, []string{"o"}, nil)
			os.WriteFile(l.Path(ClientDir, ClientKey), mustRead(t, other.Path(ClientDir, ClientKey)), 0o600)
		}, want: "key.pem does not belong to"},
		{name: "cert of another CA", damage: func(l Layout) {
			other := initDir(t, []string{"o"}, nil)
			os.WriteFile(l.Path(ClientDir, CAFile), mustRead(t, other.Path(ClientDir, CAFile)), 0o600)
		}, want: "is not signed by the CA"},
		{name: "server certificate as the client one", damage: func(l Layout) {
			os.WriteFile(l.Path(ClientDir, ClientCert), mustRead(t, l.Path(DaemonDir, ServerFile)), 0o600)
			os.WriteFile(l.Path(ClientDir, ClientKey), mustRead(t, l.Path(DaemonDir, ServerKey)), 0o600)
		}, want: "for client authentication"},
		{name: "expired", now: t0.Add(DefaultValidity + time.Hour), want: "expired on"},
		{name: "missing file", damage: func(l Layout) { os.Remove(l.Path(ClientDir, ClientCert)) }, want: "cert.pem does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := initDir(t, []string{"b"}, nil)
			if tc.damage != nil {
				tc.damage(l)
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			api := &fakeS3{}
			err := Upload(context.Background(), api, UploadOptions{Dir: string(l), Bucket: "secrets", Prefix: "buildkit"}, now, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.Of(err) != exitcode.Certs {
				t.Fatalf("err = %v (exit %d), want %q, exit 6", err, exitcode.Of(err), tc.want)
			}
			if len(api.puts) != 0 {
				t.Errorf("%d objects uploaded before the set verified", len(api.puts))
			}
		})
	}
}

func TestUploadErrors(t *testing.T) {
	l := initDir(t, []string{"b"}, nil)
	for _, tc := range []struct {
		name   string
		o      UploadOptions
		failAt int
		err    error
		want   []string
		code   int
	}{
		{name: "no bucket", o: UploadOptions{Dir: string(l)}, want: []string{"--bucket is required"}, code: exitcode.BadConfig},
		{name: "no dir", o: UploadOptions{Bucket: "b"}, want: []string{"--dir is required"}, code: exitcode.BadConfig},
		{name: "access denied on the first put", failAt: 1, err: apiError(403, "AccessDenied"),
			want: []string{"access denied (403) writing s3://secrets/buildkit/ca.pem", "s3:PutObject", "nothing was uploaded"}, code: exitcode.Certs},
		{name: "access denied on the second put", failAt: 2, err: apiError(403, "AccessDenied"),
			want: []string{"s3://secrets/buildkit/cert.pem", "already uploaded: s3://secrets/buildkit/ca.pem ("}, code: exitcode.Certs},
		{name: "no such bucket", failAt: 1, err: apiError(404, "NoSuchBucket"), want: []string{"bucket s3://secrets does not exist (404)", "--bucket"}, code: exitcode.Certs},
		{name: "other region", failAt: 1, err: apiError(301, "PermanentRedirect"), want: []string{"(301)", "--region"}, code: exitcode.Certs},
		{name: "other failure", failAt: 3, err: errors.New("connection reset\nby peer"),
			want: []string{"writing s3://secrets/buildkit/key.pem failed (status 0): connection reset by peer", "already uploaded: s3://secrets/buildkit/ca.pem, s3://secrets/buildkit/cert.pem"}, code: exitcode.Certs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Dir == "" && tc.o.Bucket == "" {
				tc.o = UploadOptions{Dir: string(l), Bucket: "secrets", Prefix: "buildkit"}
			}
			api := &fakeS3{failAt: tc.failAt, err: tc.err}
			err := Upload(context.Background(), api, tc.o, t0, io.Discard)
			if err == nil || exitcode.Of(err) != tc.code || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %q (exit %d), want one line, exit %d", err, exitcode.Of(err), tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
