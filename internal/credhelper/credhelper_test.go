package credhelper

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

func envOf(m map[string]string) config.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// fakeECR is Amazon's ECR token API: AWS:token-<account>.
type fakeECR struct{ calls int }

func (f *fakeECR) GetAuthorizationToken(_ context.Context, in *ecr.GetAuthorizationTokenInput, _ ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	f.calls++
	tok := base64.StdEncoding.EncodeToString([]byte("AWS:token-" + in.RegistryIds[0]))
	return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []ecrtypes.AuthorizationData{{AuthorizationToken: &tok, ExpiresAt: aws.Time(time.Now().Add(12 * time.Hour))}}}, nil
}

// userConfig writes a user's docker config: a plain-text login for
// user.example.com, an identity token for token.example.com, and this
// helper as credsStore (which must not send the helper to itself).
func userConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:from-user-config"))
	js := `{"auths": {"user.example.com": {"auth": "` + auth + `"}, "token.example.com": {"identitytoken": "id-tok"}},
  "credsStore": "remote-buildkit", "credHelpers": {"loop.example.com": "remote-buildkit"}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// protocol runs one request through the docker-credential-helpers protocol.
func protocol(h credentials.Helper, action, in string) (string, error) {
	var out bytes.Buffer
	err := credentials.HandleCommand(h, action, strings.NewReader(in), &out)
	return out.String(), err
}

func newTestHelper(t *testing.T, env map[string]string) (*Helper, *fakeECR) {
	t.Helper()
	s := Settings{
		UserDockerConfig:    userConfig(t),
		ECR:                 config.ECR{Enabled: true, AccountIDs: []string{"123456789012"}},
		RegistryCredentials: []config.RegistryCredential{{Registry: "static.example.com:5000", UsernameEnv: "REG_USER", PasswordEnv: "REG_PASS"}},
	}
	src, err := s.Sources(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	api := &fakeECR{}
	src.ECR.Private = func(context.Context, string) (registryauth.ECRAPI, error) { return api, nil }
	return NewHelper(context.Background(), src, envOf(env), s.RegistryCredentials), api
}

func TestGet(t *testing.T) {
	h, api := newTestHelper(t, map[string]string{"REG_USER": "ci", "REG_PASS": "s3cret"})
	tests := []struct {
		server, user, secret string
	}{
		{"static.example.com:5000", "ci", "s3cret"},                                   // registry-credentials
		{"https://static.example.com:5000/v2/", "ci", "s3cret"},                       // as docker may spell it
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com", "AWS", "token-123456789012"}, // ECR token
		{"user.example.com", "alice", "from-user-config"},                             // the user's docker config
		{"token.example.com", "<token>", "id-tok"},                                    // an identity token
	}
	for _, tt := range tests {
		out, err := protocol(h, "get", tt.server+"\n")
		if err != nil {
			t.Errorf("get %s: %v", tt.server, err)
			continue
		}
		var c credentials.Credentials
		if err := json.Unmarshal([]byte(out), &c); err != nil || c.ServerURL != tt.server || c.Username != tt.user || c.Secret != tt.secret {
			t.Errorf("get %s = %s (%v), want %s/%s", tt.server, out, err, tt.user, tt.secret)
		}
	}
	if api.calls != 1 {
		t.Errorf("%d ECR calls, want 1", api.calls)
	}
	for _, server := range []string{"unknown.example.com", "loop.example.com", "999999999999.dkr.ecr.us-east-1.amazonaws.com"} {
		if _, err := protocol(h, "get", server); !credentials.IsErrCredentialsNotFound(err) {
			t.Errorf("get %s: %v, want credentials not found", server, err)
		}
	}
}

func TestGetNamesAnUnsetVariable(t *testing.T) {
	h, _ := newTestHelper(t, map[string]string{"REG_USER": "ci"})
	_, err := protocol(h, "get", "static.example.com:5000")
	if err == nil || !strings.Contains(err.Error(), "REG_PASS is not set") || !strings.Contains(err.Error(), "registry-credentials") {
		t.Errorf("get with REG_PASS unset: %v", err)
	}
}

func TestListStoreErase(t *testing.T) {
	h, _ := newTestHelper(t, map[string]string{"REG_USER": "ci", "REG_PASS": "s3cret"})
	out, err := protocol(h, "list", "")
	var got map[string]string
	if err != nil || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("list = %q, %v", out, err)
	}
	if got["static.example.com:5000"] != "ci" || got["user.example.com"] != "alice" || strings.Contains(out, "s3cret") {
		t.Errorf("list = %v", got)
	}
	store := func(server string) error {
		_, err := protocol(h, "store", `{"ServerURL": "`+server+`", "Username": "u", "Secret": "p"}`)
		return err
	}
	if err := store("123456789012.dkr.ecr.us-east-1.amazonaws.com"); err != nil {
		t.Errorf("docker login to a served ECR registry: %v, want a no-op", err)
	}
	if err := store("other.example.com"); err == nil || !strings.Contains(err.Error(), "registry-credentials [{registry: other.example.com") {
		t.Errorf("docker login elsewhere: %v, want a refusal naming registry-credentials", err)
	}
	if _, err := protocol(h, "erase", "static.example.com:5000"); err != nil {
		t.Errorf("erase: %v", err)
	}
}

// Run reads the job's settings from $REMOTE_BUILDKIT_BUILDX_DIR.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	s := Settings{UserDockerConfig: userConfig(t), RegistryCredentials: []config.RegistryCredential{{Registry: "static.example.com", UsernameEnv: "U", PasswordEnv: "P"}}}
	if err := s.Write(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, settingsFile)); strings.Contains(string(b), "pw") {
		t.Errorf("settings hold a secret: %s", b)
	}
	got, err := ReadSettings(dir)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("ReadSettings = %+v, %v; want %+v", got, err, s)
	}
	env := envOf(map[string]string{DirEnv: dir, "U": "ci", "P": "pw"})
	var out bytes.Buffer
	if err := Run(context.Background(), "get", strings.NewReader("static.example.com\n"), &out, env); err != nil || !strings.Contains(out.String(), `"Secret":"pw"`) {
		t.Errorf("Run get = %s, %v", out.String(), err)
	}
	out.Reset()
	if err := Run(context.Background(), "version", nil, &out, envOf(nil)); err != nil || !strings.Contains(out.String(), Program) {
		t.Errorf("version = %q, %v", out.String(), err)
	}
	if err := Run(context.Background(), "get", strings.NewReader("x"), &out, envOf(nil)); err == nil || !strings.Contains(err.Error(), DirEnv) {
		t.Errorf("outside a job: %v, want an error naming %s", err, DirEnv)
	}
}
