package diagnose

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/config/types"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

func TestRegistryPing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	r := &registryAPI{auth: &registryauth.Sources{Static: map[string]types.AuthConfig{host: {Username: "u", Password: "p"}}}}
	if status, err := r.Ping(context.Background(), host); err != nil || status != 401 {
		t.Errorf("loopback registry over plain HTTP: %d, %v", status, err)
	}
	if _, err := r.Ping(context.Background(), closedAddr(t)); err == nil {
		t.Error("a closed port answered")
	}
	if src, err := r.Login(context.Background(), host); err != nil || src != "registry-credentials" {
		t.Errorf("Login = %q, %v", src, err)
	}
	if _, ok := r.ECRHost(host); ok {
		t.Error("a local registry counted as ECR")
	}
	if reg, ok := r.ECRHost(ecrHost); !ok || reg.Region != "eu-west-1" {
		t.Errorf("ECRHost(%s) = %+v, %v", ecrHost, reg, ok)
	}
}

func TestBuildkiteREST(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer tok":
			w.WriteHeader(http.StatusUnauthorized)
		case strings.HasSuffix(r.URL.Path, "/v2/access-token"):
			fmt.Fprint(w, `{"uuid":"u","scopes":["read_agents"]}`)
		case strings.HasSuffix(r.URL.Path, "/v2/organizations/acme/agents"):
			fmt.Fprintf(w, `[{"name":"other","connection_state":"connected"},{"name":%q,"connection_state":"lost"}]`, r.URL.Query().Get("name"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if newBuildkiteAPI(testEnv(t, map[string]string{})) != nil {
		t.Error("a client without BUILDKITE_API_TOKEN")
	}
	api := newBuildkiteAPI(testEnv(t, map[string]string{"BUILDKITE_API_TOKEN": "tok", "BUILDKITE_API_URL": srv.URL + "/"}))
	ctx := context.Background()
	if scopes, err := api.TokenScopes(ctx); err != nil || len(scopes) != 1 || scopes[0] != "read_agents" {
		t.Errorf("scopes %v, %v", scopes, err)
	}
	if ok, state, err := api.Agent(ctx, "acme", "agent-1"); err != nil || !ok || state != "lost" {
		t.Errorf("agent: %v %q %v", ok, state, err)
	}
	if _, _, err := api.Agent(ctx, "nobody", "agent-1"); err == nil {
		t.Error("no error for an unknown organization")
	}
	bad := newBuildkiteAPI(testEnv(t, map[string]string{"BUILDKITE_API_TOKEN": "wrong", "BUILDKITE_API_URL": srv.URL + "/"}))
	if _, err := bad.TokenScopes(ctx); err == nil {
		t.Error("a wrong token was accepted")
	}
}

// fakeAWSEndpoint is S3 and ECR behind AWS_ENDPOINT_URL: the bucket "certs"
// lives in eu-west-1 and holds buildkit/ca.pem and buildkit/cert.pem; ECR
// knows the repository "app" (immutable tags).
func fakeAWSEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if target := r.Header.Get("X-Amz-Target"); strings.HasSuffix(target, ".DescribeRepositories") {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			if !strings.Contains(string(body), `"app"`) {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"__type":"RepositoryNotFoundException","message":"not found"}`)
				return
			}
			fmt.Fprint(w, `{"repositories":[{"repositoryName":"app","imageTagMutability":"IMMUTABLE"}]}`)
			return
		}
		switch r.URL.Path {
		case "/certs":
			w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
		case "/certs/buildkit/ca.pem", "/certs/buildkit/cert.pem":
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
}

func TestAWSThroughTheSDK(t *testing.T) {
	fakeAWSEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := parseCfg(t, map[string]any{"secrets-bucket": "certs", "tls-dir": t.TempDir()})
	a := newAWSAPI()
	for i := range 2 { // the second run takes the region from tls-dir
		prefix, missing, err := a.LocateCerts(ctx, cfg, cfg.CertPrefixes(cfg.SecretsPrefix))
		if err != nil || prefix != "buildkit/" || len(missing) != 1 || missing[0] != "key.pem" {
			t.Errorf("run %d: LocateCerts = %q, %v, %v", i, prefix, missing, err)
		}
	}
	reg := registryauth.ECRRegistry{Account: "123456789012", Region: "eu-west-1"}
	if exists, immutable, err := a.Repository(ctx, reg, "app"); err != nil || !exists || !immutable {
		t.Errorf("Repository(app) = %v, %v, %v", exists, immutable, err)
	}
	if exists, _, err := a.Repository(ctx, reg, "nope"); err != nil || exists {
		t.Errorf("Repository(nope) = %v, %v", exists, err)
	}
}

func TestAWSClientErrors(t *testing.T) {
	boom := fmt.Errorf("load AWS configuration: %w", io.ErrUnexpectedEOF)
	a := &awsAPI{
		bucketS3: func(context.Context, string, string, string) (certs.HeadObjectAPI, error) { return nil, boom },
		ecr:      func(context.Context, string) (ecrAPI, error) { return nil, boom },
	}
	if _, _, err := a.LocateCerts(context.Background(), &config.Config{}, nil); err != boom {
		t.Errorf("LocateCerts: %v", err)
	}
	if _, _, err := a.Repository(context.Background(), registryauth.ECRRegistry{}, "app"); err != boom {
		t.Errorf("Repository: %v", err)
	}
}

// The daemon adapter reports a node it cannot even dial.
func TestDaemonAdapterErrors(t *testing.T) {
	n := config.Node{Host: "tcp://127.0.0.1:1", TLSDir: t.TempDir(), TLSDirSet: true} // tls-dir without files
	ctx := context.Background()
	d := daemonAPI{}
	if _, err := d.Info(ctx, n, time.Second); err == nil || !strings.Contains(err.Error(), "TLS files missing") {
		t.Errorf("Info: %v", err)
	}
	if _, err := d.Platforms(ctx, n, time.Second); err == nil {
		t.Error("Platforms: no error")
	}
	if _, _, err := d.Cache(ctx, n, time.Second); err == nil {
		t.Error("Cache: no error")
	}
}
