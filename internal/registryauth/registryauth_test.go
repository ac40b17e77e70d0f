package registryauth

import (
	"context"
	"encoding/base64"
	"errors"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
)

func TestECRRegistryOf(t *testing.T) {
	extra, err := ParseECRHosts("127.0.0.1:5000=123456789012/eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want ECRRegistry
		ok   bool
	}{
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com", ECRRegistry{Account: "123456789012", Region: "us-east-1"}, true},
		{"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", ECRRegistry{Account: "123456789012", Region: "us-gov-west-1"}, true},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", ECRRegistry{Account: "123456789012", Region: "cn-north-1"}, true},
		{"public.ecr.aws", ECRRegistry{Public: true, Region: "us-east-1"}, true},
		{"127.0.0.1:5000", ECRRegistry{Account: "123456789012", Region: "eu-west-1"}, true},
		{"registry-1.docker.io", ECRRegistry{}, false},
		{"12345.dkr.ecr.us-east-1.amazonaws.com", ECRRegistry{}, false},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", ECRRegistry{}, false},
	}
	for _, tt := range tests {
		got, ok := ECRRegistryOf(tt.host, extra)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ECRRegistryOf(%q) = %+v, %v; want %+v, %v", tt.host, got, ok, tt.want, tt.ok)
		}
	}
	if _, err := ParseECRHosts("127.0.0.1:5000=us-east-1"); err == nil || !strings.Contains(err.Error(), HostsEnv) {
		t.Errorf("bad map accepted or error does not name %s: %v", HostsEnv, err)
	}
}

// fakeECR stands in for Amazon's ECR backend.
type fakeECR struct {
	calls   int
	err     error
	expires time.Time
}

func (f *fakeECR) GetAuthorizationToken(_ context.Context, in *ecr.GetAuthorizationTokenInput, _ ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	tok := base64.StdEncoding.EncodeToString([]byte("AWS:secret-for-" + in.RegistryIds[0]))
	return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []ecrtypes.AuthorizationData{{AuthorizationToken: &tok, ExpiresAt: aws.Time(f.expires)}}}, nil
}

func TestTokensAreCachedInMemoryAndOnDisk(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	api := &fakeECR{expires: now.Add(12 * time.Hour)}
	dir := t.TempDir()
	newTokens := func() *Tokens {
		return &Tokens{
			Private:  func(context.Context, string) (ECRAPI, error) { return api, nil },
			CacheDir: dir,
			Now:      func() time.Time { return now },
		}
	}
	reg := ECRRegistry{Account: "123456789012", Region: "us-east-1"}
	tok, err := newTokens().Get(context.Background(), reg)
	if err != nil || tok.Username != "AWS" || tok.Password != "secret-for-123456789012" {
		t.Fatalf("Get = %+v, %v", tok, err)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token cache file: %v, mode %v", err, fi.Mode())
	}
	// A later process (new Tokens) uses the disk cache: no API call.
	if _, err := newTokens().Get(context.Background(), reg); err != nil || api.calls != 1 {
		t.Errorf("second process made %d calls (%v), want the cached token", api.calls, err)
	}
	// Close to expiry, the token is fetched again.
	now = now.Add(12*time.Hour - 10*time.Minute)
	if _, err := newTokens().Get(context.Background(), reg); err != nil || api.calls != 2 {
		t.Errorf("near expiry: %d calls (%v), want a refresh", api.calls, err)
	}
}

func TestTokensExplainDenial(t *testing.T) {
	api := &fakeECR{err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}}
	tk := &Tokens{Private: func(context.Context, string) (ECRAPI, error) { return api, nil }, Now: time.Now}
	_, err := tk.Get(context.Background(), ECRRegistry{Account: "123456789012", Region: "us-east-1"})
	if err == nil || !strings.Contains(err.Error(), "ECR 123456789012 in us-east-1: GetAuthorizationToken was denied") || !strings.Contains(err.Error(), "ecr:GetAuthorizationToken") {
		t.Errorf("err = %v", err)
	}
}

func TestSourcesOrder(t *testing.T) {
	api := &fakeECR{expires: time.Now().Add(time.Hour)}
	cf := configfile.New("config.json")
	cf.AuthConfigs["registry.example.com"] = types.AuthConfig{Username: "from-docker", Password: "p"}
	cf.AuthConfigs["123456789012.dkr.ecr.us-east-1.amazonaws.com"] = types.AuthConfig{Username: "stale-docker-login", Password: "p"}
	s := &Sources{
		Static: map[string]types.AuthConfig{"static.example.com": {Username: "from-env", Password: "p"}},
		ECR: &Tokens{
			Private:  func(context.Context, string) (ECRAPI, error) { return api, nil },
			Accounts: []string{"123456789012"},
			Now:      time.Now,
		},
		Docker: cf,
	}
	ctx := context.Background()
	for host, want := range map[string]string{
		"static.example.com":                           "from-env",
		"registry.example.com":                         "from-docker",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com": "AWS", // ECR wins over a stale docker login
		"999999999999.dkr.ecr.us-east-1.amazonaws.com": "",    // not in account-ids, no docker login
		"unknown.example.com":                          "",
	} {
		ac, err := s.Lookup(ctx, host)
		if err != nil || ac.Username != want {
			t.Errorf("Lookup(%s) = %q, %v; want user %q", host, ac.Username, err, want)
		}
	}
	api.err = errors.New("boom")
	api.expires = time.Time{}
	s.ECR = &Tokens{Private: func(context.Context, string) (ECRAPI, error) { return api, nil }, Now: time.Now}
	if err := s.Preflight(ctx, []string{"registry.example.com", "111111111111.dkr.ecr.eu-west-1.amazonaws.com"}); err == nil || !strings.Contains(err.Error(), "registry 111111111111.dkr.ecr.eu-west-1.amazonaws.com") {
		t.Errorf("Preflight = %v, want the ECR host's error", err)
	}
}

// A token is cached per identity: a job with another role, profile or
// access key does not get the token the first one fetched.
func TestTokensCachedPerIdentity(t *testing.T) {
	now := time.Now()
	api := &fakeECR{expires: now.Add(12 * time.Hour)}
	dir := t.TempDir()
	get := func(identity string) {
		tk := &Tokens{Private: func(context.Context, string) (ECRAPI, error) { return api, nil }, CacheDir: dir, Now: time.Now, Identity: identity}
		if _, err := tk.Get(context.Background(), ECRRegistry{Account: "123456789012", Region: "us-east-1"}); err != nil {
			t.Fatal(err)
		}
	}
	env := func(kv ...string) config.Env {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	base := Identity("", env("AWS_ACCESS_KEY_ID", "AKIA1"))
	ids := []string{
		Identity("arn:aws:iam::123456789012:role/deploy", env("AWS_ACCESS_KEY_ID", "AKIA1")),
		Identity("", env("AWS_ACCESS_KEY_ID", "AKIA2")),
		Identity("", env("AWS_ACCESS_KEY_ID", "AKIA1", "AWS_PROFILE", "other")),
	}
	get(base)
	for i, id := range ids {
		if id == base {
			t.Fatalf("identity %d equals the base identity", i)
		}
		get(id)
		if api.calls != i+2 {
			t.Fatalf("identity %d reused another identity's token (%d calls)", i, api.calls)
		}
	}
	get(base)
	if api.calls != len(ids)+1 {
		t.Errorf("the same identity fetched again (%d calls)", api.calls)
	}
}
