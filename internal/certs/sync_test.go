package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// fakeS3 serves objects by key, answers 304 to a matching If-None-Match and
// NoSuchKey for a missing key.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	etags   map[string]string
}

func newFakeS3() *fakeS3 {
	return &fakeS3{objects: map[string][]byte{}, etags: map[string]string{}}
}

func (f *fakeS3) put(key string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = body
	f.etags[key] = fmt.Sprintf(`"%x-%d"`, len(body), len(f.etags)+1)
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, ok := f.objects[*in.Key]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: "The specified key does not exist."}
	}
	etag := f.etags[*in.Key]
	if in.IfNoneMatch != nil && *in.IfNoneMatch == etag {
		return nil, &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusNotModified}},
			Err:      errors.New("not modified"),
		}}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(body)), ETag: &etag}, nil
}

func syncRequest(dir string) Request {
	return Request{
		Bucket:   "secrets",
		Prefixes: []string{"pipeline/buildkit/", "buildkit/"},
		Objects:  [3]string{"ca.pem", "cert.pem", "key.pem"},
		Files:    [3]string{"ca.pem", "cert.pem", "key.pem"},
		Dir:      dir,
		Now:      time.Now(),
	}
}

// bucketWithSet is a fake bucket holding a valid set under buildkit/.
func bucketWithSet(t *testing.T) (api *fakeS3, ca *pki, cert, key []byte, year time.Time) {
	t.Helper()
	year = time.Now().Add(365 * 24 * time.Hour)
	ca = newCA(t, year)
	cert, key = ca.client(year, x509.ExtKeyUsageClientAuth)
	api = newFakeS3()
	api.put("buildkit/ca.pem", ca.pem)
	api.put("buildkit/cert.pem", cert)
	api.put("buildkit/key.pem", key)
	return api, ca, cert, key, year
}

func TestSync(t *testing.T) {
	api, ca, cert, key, year := bucketWithSet(t)
	dir := filepath.Join(t.TempDir(), "tls")
	req := syncRequest(dir)

	res, err := Sync(context.Background(), api, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prefix != "buildkit/" || res.Downloaded != 3 || res.Unchanged != 0 || res.Checked == nil {
		t.Fatalf("first sync = %+v, want all 3 downloaded from buildkit/", res)
	}
	for i, want := range [][]byte{ca.pem, cert, key} {
		got, err := os.ReadFile(filepath.Join(dir, req.Files[i]))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, content differs: %v", req.Files[i], err, !bytes.Equal(got, want))
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("tls-dir mode: %v %v, want 0700", fi.Mode(), err)
	}

	res, err = Sync(context.Background(), api, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Downloaded != 0 || res.Unchanged != 3 {
		t.Errorf("second sync = %+v, want 3 unchanged (304)", res)
	}

	// A new key only: one download, and a local edit forces a full one.
	cert2, key2 := ca.client(year, x509.ExtKeyUsageClientAuth)
	api.put("buildkit/cert.pem", cert2)
	api.put("buildkit/key.pem", key2)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), append(append([]byte{}, ca.pem...), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = Sync(context.Background(), api, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Downloaded != 3 || res.Unchanged != 0 {
		t.Errorf("sync after rotation and a local edit = %+v, want 3 downloaded", res)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(got, ca.pem) {
		t.Errorf("the edited ca.pem was not replaced")
	}

	// The pipeline's own prefix wins once it has a CA.
	api.put("pipeline/buildkit/ca.pem", ca.pem)
	api.put("pipeline/buildkit/cert.pem", cert)
	api.put("pipeline/buildkit/key.pem", key)
	res, err = Sync(context.Background(), api, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prefix != "pipeline/buildkit/" || res.Downloaded != 3 {
		t.Errorf("sync with a pipeline set = %+v, want 3 downloaded from pipeline/buildkit/", res)
	}
}

func TestSyncFailures(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := newCA(t, year)
	cert, key := ca.client(year, x509.ExtKeyUsageClientAuth)
	other := newCA(t, year)
	tests := []struct {
		name    string
		objects map[string][]byte
		wantErr []string
	}{
		{"nothing there", nil, []string{"s3://secrets/pipeline/buildkit/ca.pem and s3://secrets/buildkit/ca.pem not found", "secrets-prefix"}},
		{"CA only", map[string][]byte{"buildkit/ca.pem": ca.pem, "buildkit/key.pem": key},
			[]string{"s3://secrets/buildkit/cert.pem not found, but ca.pem is there", "ca.pem, cert.pem, key.pem"}},
		{"never mixes prefixes", map[string][]byte{"pipeline/buildkit/ca.pem": ca.pem, "buildkit/cert.pem": cert, "buildkit/key.pem": key},
			[]string{"s3://secrets/pipeline/buildkit/", "not found, but ca.pem is there"}},
		{"cert of another CA", map[string][]byte{"buildkit/ca.pem": other.pem, "buildkit/cert.pem": cert, "buildkit/key.pem": key},
			[]string{"s3://secrets/buildkit/cert.pem is not signed by the CA in s3://secrets/buildkit/ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeS3()
			for k, v := range tt.objects {
				api.put(k, v)
			}
			dir := t.TempDir()
			old := []byte("the previous set\n")
			for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
				if err := os.WriteFile(filepath.Join(dir, f), old, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Sync(context.Background(), api, syncRequest(dir))
			if err == nil {
				t.Fatalf("Sync() = %+v, nil; want an error", res)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
			for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
				if got, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Equal(got, old) {
					t.Errorf("%s changed after a failed sync", f)
				}
			}
		})
	}
}

// barrierS3 holds every GET until want GETs are in flight together (or a
// deadline passes, which fails the GET).
type barrierS3 struct {
	*fakeS3
	want    int
	mu      sync.Mutex
	waiting int
	open    chan struct{}
}

func (b *barrierS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	b.mu.Lock()
	b.waiting++
	if b.waiting == b.want {
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("GET %s: only %d of %d requests were in flight together", *in.Key, b.waiting, b.want)
	}
	return b.fakeS3.GetObject(ctx, in, opts...)
}

func TestSyncWarmIsOneRoundTrip(t *testing.T) {
	api, _, _, _, _ := bucketWithSet(t)
	req := syncRequest(filepath.Join(t.TempDir(), "tls"))
	if _, err := Sync(context.Background(), api, req); err != nil {
		t.Fatal(err)
	}
	// Warm: the CA at both prefixes and the installed prefix's certificate
	// and key, all four at once.
	res, err := Sync(context.Background(), &barrierS3{fakeS3: api, want: 4, open: make(chan struct{})}, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prefix != "buildkit/" || res.Unchanged != 3 || res.Downloaded != 0 {
		t.Fatalf("warm sync = %+v, want 3 unchanged from buildkit/", res)
	}
}

// slowS3 delays the answers for some keys, so speculative fetches are still
// running when Sync has decided on another prefix and installs.
type slowS3 struct {
	*fakeS3
	slow map[string]time.Duration
}

func (s slowS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if d := s.slow[*in.Key]; d > 0 {
		time.Sleep(d)
	}
	return s.fakeS3.GetObject(ctx, in, opts...)
}

// The guessed prefix's certificate and key are fetched speculatively; when
// the CA then comes from another prefix, Sync installs that one. The
// speculative fetches must be finished (and never share the installed
// state) by then: go test -race catches a read of the state map during
// install.
func TestSyncSpeculativeFetchesJoinedBeforeInstall(t *testing.T) {
	api, ca, cert, key, year := bucketWithSet(t)
	dir := t.TempDir()
	if _, err := Sync(context.Background(), api, syncRequest(dir)); err != nil {
		t.Fatal(err)
	}
	cert2, key2 := ca.client(year, x509.ExtKeyUsageClientAuth)
	api.put("pipeline/buildkit/ca.pem", ca.pem)
	api.put("pipeline/buildkit/cert.pem", cert2)
	api.put("pipeline/buildkit/key.pem", key2)
	slow := slowS3{api, map[string]time.Duration{"buildkit/cert.pem": 5 * time.Millisecond, "buildkit/key.pem": 5 * time.Millisecond}}
	res, err := Sync(context.Background(), slow, syncRequest(dir))
	if err != nil {
		t.Fatal(err)
	}
	if res.Prefix != "pipeline/buildkit/" {
		t.Fatalf("prefix %q, want pipeline/buildkit/", res.Prefix)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if !bytes.Equal(got, cert2) || bytes.Equal(got, cert) {
		t.Fatal("the pipeline's certificate was not installed")
	}
	_ = key
}
