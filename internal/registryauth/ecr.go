package registryauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/smithy-go"

	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
)

// ECRAPI and ECRPublicAPI are the parts of the ECR clients used.
type ECRAPI interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, opts ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

type ECRPublicAPI interface {
	GetAuthorizationToken(ctx context.Context, in *ecrpublic.GetAuthorizationTokenInput, opts ...func(*ecrpublic.Options)) (*ecrpublic.GetAuthorizationTokenOutput, error)
}

// ECRRegistry identifies a private registry (account + region) or ECR Public.
type ECRRegistry struct {
	Account, Region string
	Public          bool
}

func (r ECRRegistry) String() string {
	if r.Public {
		return "ECR Public"
	}
	return fmt.Sprintf("ECR %s in %s", r.Account, r.Region)
}

func (r ECRRegistry) cacheKey() string {
	if r.Public {
		return "public.ecr.aws"
	}
	return r.Account + "/" + r.Region
}

var ecrHost = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|on\.aws|sc2s\.sgov\.gov|c2s\.ic\.gov)$`)
})

// HostsEnv names the variable that maps extra hosts to ECR registries, for
// tests against a local registry: "127.0.0.1:5000=123456789012/us-east-1,...".
// Only a test build (build tag remote_buildkit_test) reads it.
const HostsEnv = "REMOTE_BUILDKIT_ECR_HOSTS"

// ParseECRHosts reads HostsEnv's value.
func ParseECRHosts(v string) (map[string]ECRRegistry, error) {
	out := map[string]ECRRegistry{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		host, reg, ok := strings.Cut(item, "=")
		account, region, ok2 := strings.Cut(reg, "/")
		if !ok || !ok2 || len(account) != 12 || region == "" {
			return nil, fmt.Errorf("%s: %q is not host=account/region (e.g. 127.0.0.1:5000=123456789012/us-east-1)", HostsEnv, item)
		}
		out[strings.ToLower(host)] = ECRRegistry{Account: account, Region: region}
	}
	return out, nil
}

// ECRRegistryOf says whether host is an ECR registry, and which.
func ECRRegistryOf(host string, extra map[string]ECRRegistry) (ECRRegistry, bool) {
	host = strings.ToLower(host)
	if r, ok := extra[host]; ok {
		return r, true
	}
	if host == "public.ecr.aws" {
		return ECRRegistry{Public: true, Region: "us-east-1"}, true
	}
	if m := ecrHost().FindStringSubmatch(host); m != nil {
		return ECRRegistry{Account: m[1], Region: m[2]}, true
	}
	return ECRRegistry{}, false
}

// Token is a registry login.
type Token struct {
	Username string    `json:"username"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
}

// Tokens obtains ECR tokens and caches them until shortly before expiry, in
// memory and in a 0600 file in CacheDir so later steps on the agent skip the
// API call.
type Tokens struct {
	Private  func(ctx context.Context, region string) (ECRAPI, error)
	Public   func(ctx context.Context) (ECRPublicAPI, error)
	Accounts []string // if set, only these accounts get tokens
	Identity string   // who fetches (Identity): part of every cache key
	CacheDir string   // "" = memory only
	Now      func() time.Time
	Calls    int // API calls made (for logs and tests)

	mu  sync.Mutex
	mem map[string]Token
}

// tokenMargin is how long before expiry a cached token is no longer used.
const tokenMargin = 30 * time.Minute

// TokenFile is the disk cache's name in CacheDir.
const TokenFile = ".ecr-tokens.json"

// Covers reports whether tokens should be fetched for r (account-ids).
func (t *Tokens) Covers(r ECRRegistry) bool {
	if r.Public || len(t.Accounts) == 0 {
		return true
	}
	for _, a := range t.Accounts {
		if a == r.Account {
			return true
		}
	}
	return false
}

// Get returns a valid token for r.
func (t *Tokens) Get(ctx context.Context, r ECRRegistry) (Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	key := r.cacheKey() + "/" + t.Identity
	if tok, ok := t.mem[key]; ok && now.Add(tokenMargin).Before(tok.Expires) {
		return tok, nil
	}
	disk := t.load()
	if tok, ok := disk[key]; ok && now.Add(tokenMargin).Before(tok.Expires) {
		t.remember(key, tok)
		return tok, nil
	}
	tok, err := t.fetch(ctx, r)
	if err != nil {
		return Token{}, err
	}
	t.remember(key, tok)
	if t.CacheDir != "" {
		disk[key] = tok
		for k, v := range disk { // drop expired entries
			if now.After(v.Expires) {
				delete(disk, k)
			}
		}
		t.save(disk) // best effort: a failed cache write only costs an API call later
	}
	return tok, nil
}

func (t *Tokens) remember(key string, tok Token) {
	if t.mem == nil {
		t.mem = map[string]Token{}
	}
	t.mem[key] = tok
}

func (t *Tokens) fetch(ctx context.Context, r ECRRegistry) (Token, error) {
	t.Calls++
	var b64 string
	var expires time.Time
	if r.Public {
		api, err := t.Public(ctx)
		if err != nil {
			return Token{}, err
		}
		out, err := api.GetAuthorizationToken(ctx, &ecrpublic.GetAuthorizationTokenInput{})
		if err != nil {
			return Token{}, explainECR(r, err)
		}
		if out.AuthorizationData == nil || out.AuthorizationData.AuthorizationToken == nil {
			return Token{}, fmt.Errorf("%s: GetAuthorizationToken returned no token", r)
		}
		b64 = *out.AuthorizationData.AuthorizationToken
		if out.AuthorizationData.ExpiresAt != nil {
			expires = *out.AuthorizationData.ExpiresAt
		}
	} else {
		api, err := t.Private(ctx, r.Region)
		if err != nil {
			return Token{}, err
		}
		out, err := api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{RegistryIds: []string{r.Account}})
		if err != nil {
			return Token{}, explainECR(r, err)
		}
		if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
			return Token{}, fmt.Errorf("%s: GetAuthorizationToken returned no token", r)
		}
		b64 = *out.AuthorizationData[0].AuthorizationToken
		if out.AuthorizationData[0].ExpiresAt != nil {
			expires = *out.AuthorizationData[0].ExpiresAt
		}
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	user, pass, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok {
		return Token{}, fmt.Errorf("%s: GetAuthorizationToken returned a token that is not base64 user:password", r)
	}
	if !expires.After(t.Now()) {
		// No usable expiry (emulators answer a fixed past date): assume
		// ECR's documented 12-hour token lifetime.
		expires = t.Now().Add(12 * time.Hour)
	}
	return Token{Username: user, Password: pass, Expires: expires}, nil
}

func explainECR(r ECRRegistry, err error) error {
	var api smithy.APIError
	code := ""
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var re *awshttp.ResponseError
	if code == "" && errors.As(err, &re) && re.HTTPStatusCode() == 403 {
		code = "403 Forbidden"
	}
	switch code {
	case "AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "403 Forbidden":
		return fmt.Errorf("%s: GetAuthorizationToken was denied (%s): give the agent's IAM role ecr:GetAuthorizationToken (and the repository's push/pull actions), or set ecr.assume-role", r, code)
	case "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch", "ExpiredTokenException", "ExpiredToken":
		return fmt.Errorf("%s: AWS rejected the agent's credentials (%s) for GetAuthorizationToken: check the instance role or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", r, code)
	}
	if awsx.NoCredentials(err) {
		return fmt.Errorf("%s: no AWS credentials for GetAuthorizationToken: run on an instance with an IAM role (Elastic CI Stack agents have one) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", r)
	}
	return fmt.Errorf("%s: GetAuthorizationToken: %w", r, err)
}

func (t *Tokens) load() map[string]Token {
	m := map[string]Token{}
	if t.CacheDir == "" {
		return m
	}
	if b, err := os.ReadFile(filepath.Join(t.CacheDir, TokenFile)); err == nil {
		_ = json.Unmarshal(b, &m) // a corrupt cache is refetched
	}
	return m
}

func (t *Tokens) save(m map[string]Token) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	_ = atomicfile.WriteFile(filepath.Join(t.CacheDir, TokenFile), b, 0o600) // best effort: a later job fetches again
}
