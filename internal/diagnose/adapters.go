package diagnose

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	buildkite "github.com/buildkite/go-buildkite/v4"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"

	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// daemonAPI asks the daemon through the BuildKit client.
type daemonAPI struct{}

func (daemonAPI) connect(ctx context.Context, node config.Node, timeout time.Duration) (*client.Client, string, error) {
	cl, info, _, err := solve.Connect(ctx, node, timeout+2*time.Second)
	if err != nil {
		return nil, "", err
	}
	return cl, info.BuildkitVersion.Version, nil
}

func (d daemonAPI) Info(ctx context.Context, node config.Node, timeout time.Duration) (string, error) {
	cl, v, err := d.connect(ctx, node, timeout)
	if err != nil {
		return "", err
	}
	cl.Close()
	return v, nil
}

func (d daemonAPI) Platforms(ctx context.Context, node config.Node, timeout time.Duration) ([]string, error) {
	cl, _, err := d.connect(ctx, node, timeout)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ws, err := cl.ListWorkers(ctx)
	if err != nil {
		return nil, err // the check names the call
	}
	var out []string
	seen := map[string]bool{}
	for _, w := range ws {
		for _, p := range w.Platforms {
			if s := platforms.Format(p); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func (d daemonAPI) Cache(ctx context.Context, node config.Node, timeout time.Duration) (int64, int, error) {
	cl, _, err := d.connect(ctx, node, timeout)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	du, err := cl.DiskUsage(ctx)
	if err != nil {
		return 0, 0, err // the check names the call
	}
	var size int64
	for _, r := range du {
		size += r.Size
	}
	return size, len(du), nil
}

func (d daemonAPI) Active(ctx context.Context, node config.Node, timeout time.Duration) (int, error) {
	cl, _, err := d.connect(ctx, node, timeout)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	return fleet.ActiveBuilds(ctx, cl)
}

// ecrAPI is the ECR call the repository check uses.
type ecrAPI interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
}

// awsAPI asks S3 and ECR; the constructors are seams for tests.
type awsAPI struct {
	bucketS3 func(ctx context.Context, bucket, region, cacheDir string) (certs.HeadObjectAPI, error)
	ecr      func(ctx context.Context, region string) (ecrAPI, error)
}

func newAWSAPI() *awsAPI {
	return &awsAPI{
		bucketS3: func(ctx context.Context, bucket, region, cacheDir string) (certs.HeadObjectAPI, error) {
			c, _, err := certs.BucketS3(ctx, bucket, region, cacheDir)
			return c, err
		},
		ecr: func(ctx context.Context, region string) (ecrAPI, error) {
			awsCfg, err := awsx.Load(ctx, region, "")
			if err != nil {
				return nil, err
			}
			return ecr.NewFromConfig(awsCfg), nil
		},
	}
}

func (a *awsAPI) LocateCerts(ctx context.Context, cfg *config.Config, prefixes []string) (string, []string, error) {
	api, err := a.bucketS3(ctx, cfg.SecretsBucket, cfg.SecretsRegion, cfg.TLSDir)
	if err != nil {
		return "", nil, err
	}
	objs := [3]string{cfg.SecretsObjects.CA, cfg.SecretsObjects.Cert, cfg.SecretsObjects.Key}
	return certs.Locate(ctx, api, cfg.SecretsBucket, prefixes, objs)
}

func (a *awsAPI) Repository(ctx context.Context, reg registryauth.ECRRegistry, repo string) (bool, bool, error) {
	api, err := a.ecr(ctx, reg.Region)
	if err != nil {
		return false, false, err
	}
	out, err := api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{
		RegistryId: &reg.Account, RepositoryNames: []string{repo},
	})
	if err != nil {
		var nf *ecrtypes.RepositoryNotFoundException
		if errors.As(err, &nf) {
			return false, false, nil
		}
		return false, false, err
	}
	if len(out.Repositories) == 0 {
		return false, false, nil
	}
	return true, out.Repositories[0].ImageTagMutability == ecrtypes.ImageTagMutabilityImmutable, nil
}

// registryAPI pings registries and names login sources.
type registryAPI struct{ auth *registryauth.Sources }

func (r *registryAPI) ECRHost(host string) (registryauth.ECRRegistry, bool) {
	return registryauth.ECRRegistryOf(host, r.auth.ECRHosts)
}

func (r *registryAPI) Login(ctx context.Context, host string) (string, error) {
	return r.auth.Source(ctx, host)
}

func (r *registryAPI) Ping(ctx context.Context, host string) (int, error) {
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
		DialContext:     (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
	}}
	schemes := []string{"https"}
	if h, _, err := net.SplitHostPort(host); err == nil && solve.LoopbackHost(h) {
		schemes = []string{"http", "https"} // BuildKit also uses plain HTTP for loopback registries
	}
	var lastErr error
	for _, s := range schemes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s+"://"+host+"/v2/", nil)
		if err != nil {
			return 0, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	return 0, lastErr
}

// buildkiteAPI asks Buildkite's REST API through go-buildkite.
type buildkiteAPI struct{ c *buildkite.Client }

func newBuildkiteAPI(env config.Env) BuildkiteAPI {
	tok := env.Get("BUILDKITE_API_TOKEN")
	if tok == "" {
		return nil
	}
	opts := []buildkite.ClientOpt{buildkite.WithTokenAuth(tok)}
	if u := env.Get("BUILDKITE_API_URL"); u != "" { // for tests against a local stub
		opts = append(opts, buildkite.WithBaseURL(u))
	}
	c, err := buildkite.NewOpts(opts...)
	if err != nil {
		return nil
	}
	return buildkiteAPI{c}
}

func (b buildkiteAPI) TokenScopes(ctx context.Context) ([]string, error) {
	t, _, err := b.c.AccessTokens.Get(ctx)
	return t.Scopes, err
}

func (b buildkiteAPI) Agent(ctx context.Context, org, name string) (bool, string, error) {
	agents, _, err := b.c.Agents.List(ctx, org, &buildkite.AgentListOptions{Name: name})
	if err != nil {
		return false, "", err
	}
	for _, a := range agents {
		if a.Name == name {
			return true, a.ConnectedState, nil
		}
	}
	return false, "", nil
}
