package diagnose

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
	"github.com/remote-buildkit/remote-buildkit/internal/versions"
)

// DaemonAPI is what diagnose asks the daemon.
type DaemonAPI interface {
	Info(ctx context.Context, node config.Node, timeout time.Duration) (version string, err error)
	Platforms(ctx context.Context, node config.Node, timeout time.Duration) ([]string, error)
	// Cache returns the daemon's build cache size and record count.
	Cache(ctx context.Context, node config.Node, timeout time.Duration) (bytes int64, records int, err error)
	// Active returns how many builds the daemon is running now.
	Active(ctx context.Context, node config.Node, timeout time.Duration) (int, error)
}

// AWSAPI is what diagnose asks AWS.
type AWSAPI interface {
	// LocateCerts reports the prefix holding the set and missing objects.
	LocateCerts(ctx context.Context, cfg *config.Config, prefixes []string) (prefix string, missing []string, err error)
	// Repository reports whether an ECR repository exists and its tags are immutable.
	Repository(ctx context.Context, reg registryauth.ECRRegistry, repo string) (exists, immutable bool, err error)
}

// RegistryAPI is what diagnose asks registries.
type RegistryAPI interface {
	// Ping GETs /v2/ and returns the HTTP status.
	Ping(ctx context.Context, host string) (status int, err error)
	// Login returns where the credentials for host come from ("" = none).
	Login(ctx context.Context, host string) (source string, err error)
	// ECRHost maps a host to an ECR registry.
	ECRHost(host string) (registryauth.ECRRegistry, bool)
}

// BuildkiteAPI is what diagnose asks Buildkite's REST API.
type BuildkiteAPI interface {
	TokenScopes(ctx context.Context) ([]string, error)
	Agent(ctx context.Context, org, name string) (found bool, state string, err error)
}

// clientTLS reports whether this client will use TLS.
func clientTLS(n config.Node) (bool, error) {
	t, err := solve.ResolveTLS(n)
	return t.Enabled, err
}

func checkCertFiles(n config.Node, serverChain []*x509.Certificate, u *url.URL, now time.Time) Check {
	dir := n.TLSDir
	tlsDir, set, ok, err := certs.ReadDir(context.Background(), dir)
	if err != nil {
		return fail(oneLine(err), "chmod go-w "+dir+" and the files in it")
	}
	if !ok {
		return fail(fmt.Sprintf("%s is missing", tlsDir.CA()), "fetch the set from the secrets bucket (secrets-bucket) or copy it there")
	}
	if mode, bad := tlsDir.KeyReadableByOthers(); bad { // certificates are public; the key is not
		return fail(fmt.Sprintf("%s has mode %04o: the private key is readable by other users", tlsDir.Key(), mode), fmt.Sprintf("chmod 600 %s", tlsDir.Key()))
	}
	found := []string{}
	var warnings []string
	if set.Cert != nil {
		checked, err := certs.Verify(set, [3]string{config.CAFile, config.CertFile, config.KeyFile}, now)
		if err != nil {
			return fail(oneLine(err), "upload a matching, current set to the secrets bucket (or tls-dir)")
		}
		found = append(found, fmt.Sprintf("client certificate valid until %s", checked.NotAfter.UTC().Format(time.DateOnly)))
		warnings = checked.Warnings
	}
	if len(serverChain) > 0 {
		leaf := serverChain[0]
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(set.CA) {
			return fail(config.CAFile+" holds no certificate", "put the daemon's CA in "+filepath.Join(dir, config.CAFile))
		}
		inter := x509.NewCertPool()
		for _, c := range serverChain[1:] {
			inter.AddCert(c)
		}
		at := now
		if at.After(leaf.NotAfter) {
			at = leaf.NotAfter // expiry is server-cert's to report; this check judges trust and names
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at}); err != nil {
			return fail(fmt.Sprintf("the daemon's certificate is not trusted by %s: %v", config.CAFile, oneLine(err)),
				"put the CA that signed buildkitd's --tlscert in "+filepath.Join(dir, config.CAFile))
		}
		name := n.TLSServerName
		if name == "" && u != nil {
			name = u.Hostname()
		}
		if err := leaf.VerifyHostname(name); err != nil {
			valid := append(append([]string{}, leaf.DNSNames...), ipStrings(leaf)...)
			return fail(fmt.Sprintf("the daemon's certificate does not cover %q (it is valid for %s)", name, strings.Join(valid, ", ")),
				"set tls-server-name to one of those names, or reissue the server certificate with a SAN for "+name)
		}
		found = append(found, fmt.Sprintf("server certificate covers %s, valid until %s", name, leaf.NotAfter.UTC().Format(time.DateOnly)))
	}
	if len(warnings) > 0 {
		return warn(strings.Join(append(found, warnings...), "; "), "issue new certificates before they expire")
	}
	return pass("%s", strings.Join(found, "; "))
}

func ipStrings(c *x509.Certificate) []string {
	var out []string
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

func (r *Runner) checkVersions(ctx context.Context, s *state) Check {
	if !s.connected {
		return skip("daemon not reached")
	}
	bv, bp := versions.BuildctlVersion(ctx, r.LookPath)
	rep := versions.Compare(s.daemonVer, r.clientVersion(), bv, bp)
	p := rep.Problem()
	switch {
	case p == "":
		return pass("%s", rep.Summary())
	case rep.Mismatch && s.cfg.VersionCheck == "strict":
		return fail(p, versions.Fix)
	}
	return warn(p, versions.Fix)
}

func (r *Runner) checkPlatforms(ctx context.Context, s *state) Check {
	if !s.connected {
		return skip("daemon not reached")
	}
	have, err := r.Daemon.Platforms(ctx, s.node, r.Probe)
	if err != nil {
		return fail("cannot list the daemon's workers: "+oneLine(err), "check buildkitd's log")
	}
	if len(have) == 0 {
		return fail("the daemon has no workers", "start buildkitd with a working OCI or containerd worker (runc installed)")
	}
	nativeArch := map[string]bool{} // what the daemon's CPU runs without emulation
	for _, p := range fleet.Native(have) {
		if spec, err := platforms.Parse(p); err == nil {
			nativeArch[spec.Architecture] = true
		}
	}
	listed := map[string]bool{}
	for _, p := range have {
		if spec, err := platforms.Parse(p); err == nil {
			listed[spec.OS+"/"+spec.Architecture] = true
		}
	}
	if len(s.platforms) == 0 {
		return pass("workers: %s (builds default to %s)", strings.Join(have, ", "), have[0])
	}
	var native, emulated, missing []string
	for _, p := range s.platforms {
		spec, _ := platforms.Parse(p)
		switch {
		case !listed[spec.OS+"/"+spec.Architecture]:
			missing = append(missing, p)
		case nativeArch[spec.Architecture]:
			native = append(native, p)
		default:
			emulated = append(emulated, p)
		}
	}
	found := fmt.Sprintf("requested %s: native %s", strings.Join(s.platforms, ", "), listOrNone(native))
	switch {
	case len(missing) > 0:
		return warn(found+fmt.Sprintf(", not supported by the workers: %s (workers: %s)", strings.Join(missing, ", "), strings.Join(have, ", ")),
			"RUN steps for those platforms will fail: install QEMU binfmt handlers on the builder (docker run --privileged tonistiigi/binfmt --install all), add a native builder, or build them with FROM --platform=$BUILDPLATFORM")
	case len(emulated) > 0:
		return warn(found+", emulated (QEMU): "+strings.Join(emulated, ", "),
			"emulated RUN steps are 5-20x slower: add a native builder for those platforms")
	}
	return pass("%s", found)
}

func (r *Runner) checkCache(ctx context.Context, s *state) Check {
	if !s.connected {
		return skip("daemon not reached")
	}
	size, n, err := r.Daemon.Cache(ctx, s.node, r.Probe)
	if err != nil {
		return warn("cannot read the daemon's cache usage: "+oneLine(err), "")
	}
	if n == 0 {
		return warn("the daemon's build cache is empty",
			"if builds never reuse layers, put buildkitd's --root (/var/lib/buildkit) on a persistent EBS volume and keep enough cache (--oci-worker-gc-keepstorage); or use cache-to/cache-from type=registry")
	}
	return pass("%d cache records, %.1f MB", n, float64(size)/(1<<20))
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func (r *Runner) checkBucket(ctx context.Context, s *state) Check {
	if s.cfg == nil || s.cfg.SecretsBucket == "" {
		return skip("no secrets bucket configured")
	}
	if r.AWS == nil {
		return skip("AWS client unavailable")
	}
	prefixes := s.cfg.CertPrefixes(s.cfg.SecretsPrefix)
	p := prefixes[len(prefixes)-1]
	prefix, missing, err := r.AWS.LocateCerts(ctx, s.cfg, prefixes)
	if err != nil {
		return fail(oneLine(err), "see the message")
	}
	objs := []string{s.cfg.SecretsObjects.CA, s.cfg.SecretsObjects.Cert, s.cfg.SecretsObjects.Key}
	if len(missing) > 0 {
		where := "s3://" + s.cfg.SecretsBucket + "/" + prefix
		if prefix == "" && len(missing) == 1 && missing[0] == objs[0] {
			var tried []string
			for _, pr := range prefixes {
				tried = append(tried, "s3://"+s.cfg.SecretsBucket+"/"+pr)
			}
			where = strings.Join(tried, " or ")
		}
		return fail(fmt.Sprintf("missing in %s: %s", where, strings.Join(missing, ", ")),
			fmt.Sprintf("upload them: aws s3 cp <file> s3://%s/%s<name> --sse aws:kms", s.cfg.SecretsBucket, p))
	}
	return pass("s3://%s/%s holds %s", s.cfg.SecretsBucket, prefix, strings.Join(objs, ", "))
}

func (r *Runner) checkECR(ctx context.Context, s *state) Check {
	if s.cfg == nil || !s.cfg.ECR.Enabled || r.Registry == nil {
		return skip("ECR logins disabled")
	}
	var found, problems []string
	for _, t := range append(append([]string{}, s.cfg.Tags...), cacheRefs(s.cfg)...) {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			continue
		}
		host := config.NormalizeRegistry(reference.Domain(named))
		reg, ok := r.Registry.ECRHost(host)
		if !ok || reg.Public {
			continue
		}
		src, err := r.Registry.Login(ctx, host)
		if err != nil {
			return fail(oneLine(err), "give the agent's role ecr:GetAuthorizationToken, or set ecr.assume-role")
		}
		repo := reference.Path(named)
		if r.AWS == nil {
			found = append(found, fmt.Sprintf("%s: token from %s", host, src))
			continue
		}
		exists, immutable, err := r.AWS.Repository(ctx, reg, repo)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("cannot describe %s/%s: %s", host, repo, oneLine(err)))
		case !exists:
			return fail(fmt.Sprintf("ECR repository %s does not exist in %s", repo, reg), fmt.Sprintf("create it: aws ecr create-repository --repository-name %s --region %s", repo, reg.Region))
		case immutable && strings.HasSuffix(t, ":latest"):
			problems = append(problems, fmt.Sprintf("%s has immutable tags: pushing %s again will fail", repo, t))
		default:
			note := ""
			if immutable {
				note = " (immutable tags)"
			}
			found = append(found, fmt.Sprintf("%s/%s exists%s, token obtained", host, repo, note))
		}
	}
	if len(found)+len(problems) == 0 {
		return skip("no ECR registry in tags or caches")
	}
	if len(problems) > 0 {
		return warn(strings.Join(append(found, problems...), "; "), "use unique tags (e.g. the commit) with immutable repositories, and grant ecr:DescribeRepositories for this check")
	}
	sort.Strings(found)
	return pass("%s", strings.Join(found, "; "))
}

func cacheRefs(c *config.Config) []string {
	var out []string
	for _, e := range append(append([]config.Attrs{}, c.CacheFrom...), c.CacheTo...) {
		if e.Attrs["ref"] != "" {
			out = append(out, e.Attrs["ref"])
		}
	}
	return out
}

func (r *Runner) checkRegistries(ctx context.Context, s *state) Check {
	if s.cfg == nil || r.Registry == nil {
		return skip("no configuration")
	}
	hosts := s.cfg.RegistryHosts()
	if len(hosts) == 0 {
		return skip("no registry in tags, outputs or caches")
	}
	var found []string
	for _, h := range hosts {
		status, err := r.Registry.Ping(ctx, h)
		if err != nil {
			return fail(fmt.Sprintf("registry %s unreachable: %s", h, oneLine(err)), "check the registry host and the agent's outbound network (NAT or VPC endpoint)")
		}
		if status != 200 && status != 401 {
			return fail(fmt.Sprintf("registry %s answered /v2/ with HTTP %d", h, status), "check that the host is a container registry")
		}
		src, err := r.Registry.Login(ctx, h)
		if err != nil {
			return fail(fmt.Sprintf("registry %s: %s", h, oneLine(err)), "fix the login source named in the message")
		}
		if src == "" {
			if status == 401 {
				return fail(fmt.Sprintf("registry %s requires a login and none is configured", h), "add registry-credentials for it, `docker login` into the job's DOCKER_CONFIG, or use ECR")
			}
			src = "anonymous"
		}
		found = append(found, fmt.Sprintf("%s (HTTP %d, login: %s)", h, status, src))
	}
	return pass("%s", strings.Join(found, "; "))
}

func (r *Runner) checkBuildkiteAPI(ctx context.Context, _ *state) Check {
	if r.Buildkite == nil {
		return skip("BUILDKITE_API_TOKEN not set")
	}
	scopes, err := r.Buildkite.TokenScopes(ctx)
	if err != nil {
		return fail("Buildkite API token rejected: "+oneLine(err), "create an API access token with read_agents at buildkite.com/user/api-access-tokens")
	}
	has := map[string]bool{}
	for _, sc := range scopes {
		has[sc] = true
	}
	if !has["read_agents"] {
		return warn(fmt.Sprintf("token scopes %s lack read_agents", strings.Join(scopes, ", ")), "add the read_agents scope to the token")
	}
	org, name := r.Env.Get("BUILDKITE_ORGANIZATION_SLUG"), r.Env.Get("BUILDKITE_AGENT_NAME")
	if org == "" || name == "" {
		return pass("token scopes: %s (BUILDKITE_ORGANIZATION_SLUG/BUILDKITE_AGENT_NAME unset: agent record not checked)", strings.Join(scopes, ", "))
	}
	ok, state, err := r.Buildkite.Agent(ctx, org, name)
	switch {
	case err != nil:
		return fail("cannot list agents: "+oneLine(err), "check the organization slug and the token's organization access")
	case !ok:
		return warn(fmt.Sprintf("no agent named %s in %s", name, org), "run diagnose on a registered agent, or check BUILDKITE_AGENT_NAME")
	}
	return pass("token scopes %s; agent %s is %s", strings.Join(scopes, ", "), name, state)
}

func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
