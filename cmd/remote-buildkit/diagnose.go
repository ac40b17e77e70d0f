package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	buildkite "github.com/buildkite/go-buildkite/v4"
	"github.com/moby/buildkit/client"
	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/diagnose"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

func diagnoseCommand(env config.Env) *cli.Command {
	return &cli.Command{
		Name:  "diagnose",
		Usage: "check every layer from configuration to registry and say what is wrong and how to fix it",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			&cli.BoolFlag{Name: "annotate", Usage: "also post the report as a Buildkite annotation (buildkite-agent annotate)"},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "text" && format != "json" {
				return &usageError{fmt.Errorf("--format %q: want text or json", format)}
			}
			wd, err := os.Getwd()
			if err != nil {
				return exitcode.With(exitcode.Internal, err)
			}
			return runDiagnose(c.Context, env, wd, c.App.Writer, c.App.ErrWriter, format, c.Bool("annotate"))
		},
	}
}

// runDiagnose runs every check and reports; exit 1 when any check fails.
func runDiagnose(ctx context.Context, env config.Env, workDir string, out, errOut io.Writer, format string, annotate bool) error {
	r := &diagnose.Runner{Env: env, LookPath: exec.LookPath, Now: time.Now}
	js, _, err := config.RawFromEnv(env)
	if err == nil {
		r.Config, err = config.ParseForEnvironment(js, env, workDir)
	}
	if err != nil {
		r.ConfigErr = err
		r.Config = fallbackConfig(env)
	}
	if r.Config != nil {
		r.Daemon = daemonAPI{}
		r.AWS = &awsAPI{}
		if auth, err := registryauth.ForConfig(r.Config, env); err == nil {
			r.Registry = &registryAPI{auth: auth}
		}
	}
	if tok := env.Get("BUILDKITE_API_TOKEN"); tok != "" {
		opts := []buildkite.ClientOpt{buildkite.WithTokenAuth(tok)}
		if u := env.Get("BUILDKITE_API_URL"); u != "" { // for tests against a local stub
			opts = append(opts, buildkite.WithBaseURL(u))
		}
		if c, err := buildkite.NewOpts(opts...); err == nil {
			r.Buildkite = buildkiteAPI{c}
		}
	}
	rep := r.Run(ctx)
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(out, "--- :stethoscope: remote-buildkit diagnose")
		for _, c := range rep.Checks {
			line := fmt.Sprintf("%-4s  %-16s %s", c.Status, c.Name, c.Found)
			if c.Fix != "" {
				line += " — fix: " + c.Fix
			}
			fmt.Fprintln(out, line)
		}
	}
	if annotate {
		if err := postAnnotation(ctx, rep); err != nil {
			fmt.Fprintf(errOut, "remote-buildkit: WARNING: could not post the annotation: %v\n", err)
		}
	}
	if !rep.OK {
		var failed []string
		for _, c := range rep.Checks {
			if c.Status == diagnose.Fail {
				failed = append(failed, c.Name)
			}
		}
		return exitcode.With(exitcode.BuildFailed, fmt.Errorf("diagnose: %d check(s) failed: %s", len(failed), strings.Join(failed, ", ")))
	}
	return nil
}

// fallbackConfig lets the checks that don't need the plugin config still run.
func fallbackConfig(env config.Env) *config.Config {
	c, err := config.ParseForEnvironment([]byte(`{}`), env, "/")
	if err != nil {
		return nil
	}
	return c
}

// postAnnotation posts the report as Markdown through buildkite-agent.
func postAnnotation(ctx context.Context, rep *diagnose.Report) error {
	var b strings.Builder
	b.WriteString("### remote-buildkit diagnose\n\n| check | status | found | fix |\n|---|---|---|---|\n")
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Status, mdCell(c.Found), mdCell(c.Fix))
	}
	style := map[diagnose.Status]string{diagnose.Pass: "success", diagnose.Warn: "warning", diagnose.Fail: "error"}[rep.Worst()]
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "buildkite-agent", "annotate", "--style", style, "--context", "remote-buildkit-diagnose")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// daemonAPI asks the daemon through the BuildKit client.
type daemonAPI struct{}

func (daemonAPI) connect(ctx context.Context, node config.Node, timeout time.Duration) (*client.Client, string, error) {
	cl, info, _, err := builder.Connect(ctx, node, timeout+2*time.Second)
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
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, w := range ws {
		for _, p := range w.Platforms {
			s := p.OS + "/" + p.Architecture
			if p.Variant != "" {
				s += "/" + p.Variant
			}
			if !seen[s] {
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
		return 0, 0, err
	}
	var size int64
	for _, r := range du {
		size += r.Size
	}
	return size, len(du), nil
}

// awsAPI asks S3 and ECR.
type awsAPI struct{}

func (awsAPI) LocateCerts(ctx context.Context, cfg *config.Config, prefixes []string) (string, []string, error) {
	region := cfg.SecretsRegion
	if region == "" {
		region = certs.CachedRegion(cfg.TLSDir, cfg.SecretsBucket)
	}
	awsCfg, err := awsx.Load(ctx, region, "")
	if err != nil {
		return "", nil, err
	}
	if region == "" {
		if awsCfg.Region == "" {
			awsCfg.Region = "us-east-1"
		}
		if region, err = certs.LookupRegion(ctx, awsx.S3(awsCfg), cfg.TLSDir, cfg.SecretsBucket); err != nil {
			return "", nil, err
		}
		awsCfg.Region = region
	}
	objs := [3]string{cfg.SecretsObjects.CA, cfg.SecretsObjects.Cert, cfg.SecretsObjects.Key}
	return certs.Locate(ctx, awsx.S3(awsCfg), cfg.SecretsBucket, prefixes, objs)
}

func (awsAPI) Repository(ctx context.Context, reg registryauth.ECRRegistry, repo string) (bool, bool, error) {
	awsCfg, err := awsx.Load(ctx, reg.Region, "")
	if err != nil {
		return false, false, err
	}
	out, err := ecr.NewFromConfig(awsCfg).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{
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
	if h, _, err := net.SplitHostPort(host); err == nil && (h == "localhost" || net.ParseIP(h).IsLoopback()) {
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
