package diagnose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     Status
		found, fix string
	}{
		{"valid", nil, Pass, "plugin configuration valid", ""},
		{"invalid", &config.Error{Problems: []config.Problem{{Key: "pushh", Msg: "unknown option"}, {Key: "tags", Msg: "must be an array"}}},
			Fail, "plugin configuration invalid: pushh: unknown option; tags: must be an array", "configuration reference"},
		{"none", errors.New("no plugin configuration"), Fail, "no plugin configuration", "BUILDKITE_PLUGIN_CONFIGURATION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.ConfigErr = tt.err
			want(t, r.checkConfig(context.Background(), &state{}), tt.status, tt.found, tt.fix)
		})
	}
}

func TestGRPC(t *testing.T) {
	yes, no := true, false
	tcp := func(ok bool, daemonTLS *bool, clientTLS bool) *state {
		s := tlsFree(t, "tcp://127.0.0.1:1234")
		s.tcpOK, s.daemonTLS, s.clientTLS = ok, daemonTLS, clientTLS
		return s
	}
	tests := []struct {
		name       string
		s          *state
		daemon     *fakeDaemon
		status     Status
		found, fix string
	}{
		{"answers", tcp(true, &yes, true), &fakeDaemon{ver: "v0.34.2"}, Pass, "BuildKit daemon v0.34.2 answers Info", ""},
		{"plaintext answers", tcp(true, &no, false), &fakeDaemon{ver: "v0.34.2"}, Pass, "answers Info", ""},
		{"helper address", tlsFree(t, "docker-container://bk"), &fakeDaemon{ver: "v0.34.2"}, Pass, "answers Info", ""},
		{"Info fails", tcp(true, &yes, true), &fakeDaemon{err: errors.New("rpc error:\n  denied")}, Fail, "rpc error: denied", "names the setting"},
		{"no connection", tcp(false, nil, true), &fakeDaemon{}, Skip, "no connection", ""},
		{"mode mismatch", tcp(true, &yes, false), &fakeDaemon{}, Skip, "TLS mode mismatch", ""},
		{"no TLS answer", tcp(true, nil, false), &fakeDaemon{}, Skip, "did not answer", ""},
		{"no configuration", &state{}, &fakeDaemon{}, Skip, "no configuration", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.Daemon = tt.daemon
			want(t, r.checkGRPC(context.Background(), tt.s), tt.status, tt.found, tt.fix)
			if tt.s.connected != (tt.status == Pass) {
				t.Errorf("connected = %v", tt.s.connected)
			}
		})
	}
}

// tlsFree is a configured state for host after the host check.
func tlsFree(t *testing.T, host string) *state {
	s := &state{cfg: parseCfg(t, map[string]any{}), node: config.Node{Host: host}}
	testRunner().checkHost(context.Background(), s)
	return s
}

func TestVersions(t *testing.T) {
	buildctl := filepath.Join(t.TempDir(), "buildctl")
	os.WriteFile(buildctl, []byte("#!/bin/sh\necho buildctl github.com/moby/buildkit v0.1.0 abc\n"), 0o755)
	tests := []struct {
		name      string
		connected bool
		daemon    string
		policy    string
		buildctl  string
		status    Status
		found     string
	}{
		{"same", true, "v0.34.2", "warn", "", Pass, "v0.34.2"},
		{"skew warns", true, "v0.1.0", "warn", "", Warn, "BuildKit daemon and client versions differ"},
		{"skew fails when strict", true, "v0.1.0", "strict", "", Fail, "versions differ"},
		{"old buildctl warns, even when strict", true, "v0.34.2", "strict", buildctl, Warn, "the agent's buildctl differs from the daemon"},
		{"unknown daemon version", true, "dev", "warn", "", Warn, "a BuildKit version is unknown"},
		{"not reached", false, "", "warn", "", Skip, "daemon not reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			if tt.buildctl != "" {
				r.LookPath = func(string) (string, error) { return tt.buildctl, nil }
			}
			s := &state{cfg: parseCfg(t, map[string]any{"version-check": tt.policy}), connected: tt.connected, daemonVer: tt.daemon}
			want(t, r.checkVersions(context.Background(), s), tt.status, tt.found, "")
		})
	}
}

func TestPlatforms(t *testing.T) {
	amd := []string{"linux/amd64", "linux/amd64/v2", "linux/386"}
	tests := []struct {
		name       string
		have       []string
		err        error
		wanted     []string
		status     Status
		found, fix string
	}{
		{"defaults", amd, nil, nil, Pass, "workers: linux/amd64, linux/amd64/v2, linux/386 (builds default to linux/amd64)", ""},
		{"native", amd, nil, []string{"linux/amd64", "linux/386"}, Pass, "requested linux/amd64, linux/386: native linux/amd64, linux/386", ""},
		{"arm on arm64", []string{"linux/arm64", "linux/arm/v7"}, nil, []string{"linux/arm/v7"}, Pass, "native linux/arm/v7", ""},
		{"emulated", append(amd, "linux/arm64"), nil, []string{"linux/amd64", "linux/arm64"}, Warn, "native linux/amd64, emulated (QEMU): linux/arm64", "native builder"},
		{"missing", amd, nil, []string{"linux/arm64"}, Warn, "native none, not supported by the workers: linux/arm64", "binfmt"},
		{"no workers", nil, nil, nil, Fail, "the daemon has no workers", "runc"},
		{"cannot list", nil, errors.New("unavailable"), nil, Fail, "cannot list the daemon's workers: unavailable", "buildkitd's log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.Daemon = &fakeDaemon{plats: tt.have, platErr: tt.err}
			want(t, r.checkPlatforms(context.Background(), &state{connected: true, platforms: tt.wanted}), tt.status, tt.found, tt.fix)
		})
	}
	want(t, testRunner().checkPlatforms(context.Background(), &state{}), Skip, "daemon not reached", "")
}

func TestCache(t *testing.T) {
	tests := []struct {
		name       string
		d          *fakeDaemon
		status     Status
		found, fix string
	}{
		{"records", &fakeDaemon{size: 3 << 20, records: 7}, Pass, "7 cache records, 3.0 MB", ""},
		{"empty", &fakeDaemon{}, Warn, "build cache is empty", "persistent EBS volume"},
		{"unreadable", &fakeDaemon{cacheErr: errors.New("denied")}, Warn, "cannot read the daemon's cache usage: denied", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.Daemon = tt.d
			want(t, r.checkCache(context.Background(), &state{connected: true}), tt.status, tt.found, tt.fix)
		})
	}
	want(t, testRunner().checkCache(context.Background(), &state{}), Skip, "daemon not reached", "")
}

func TestBucket(t *testing.T) {
	tests := []struct {
		name       string
		opts       map[string]any
		aws        AWSAPI
		status     Status
		found, fix string
	}{
		{"complete set", map[string]any{"secrets-bucket": "b"}, &fakeAWS{prefix: "buildkit/"}, Pass, "s3://b/buildkit/ holds ca.pem, cert.pem, key.pem", ""},
		{"key missing", map[string]any{"secrets-bucket": "b"}, &fakeAWS{prefix: "buildkit/", missing: []string{"key.pem"}}, Fail, "missing in s3://b/buildkit/: key.pem", "aws s3 cp <file> s3://b/buildkit/<name>"},
		{"no CA under any prefix", map[string]any{"secrets-bucket": "b", "secrets-prefix": "team"}, &fakeAWS{missing: []string{"ca.pem"}}, Fail, "missing in s3://b/team/: ca.pem", "s3://b/team/<name>"},
		{"AWS error", map[string]any{"secrets-bucket": "b"}, &fakeAWS{err: errors.New("access denied reading s3://b/buildkit/ca.pem")}, Fail, "access denied", "see the message"},
		{"no AWS client", map[string]any{"secrets-bucket": "b"}, nil, Skip, "AWS client unavailable", ""},
		{"no bucket", map[string]any{}, &fakeAWS{}, Skip, "no secrets bucket configured", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.AWS = tt.aws
			want(t, r.checkBucket(context.Background(), &state{cfg: parseCfg(t, tt.opts)}), tt.status, tt.found, tt.fix)
		})
	}
}

func TestBucketTriedPrefixes(t *testing.T) {
	r := testRunner()
	r.AWS = &fakeAWS{missing: []string{"ca.pem"}}
	cfg := parseCfg(t, map[string]any{"secrets-bucket": "b"})
	cfg.PipelineSlug = "app"
	want(t, r.checkBucket(context.Background(), &state{cfg: cfg}), Fail, "missing in s3://b/app/buildkit/ or s3://b/buildkit/: ca.pem", "s3://b/buildkit/<name>")
}

const ecrHost = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"

func TestECR(t *testing.T) {
	reg := &fakeRegistry{ecr: map[string]registryauth.ECRRegistry{
		ecrHost:          {Account: "123456789012", Region: "eu-west-1"},
		"public.ecr.aws": {Public: true},
	}, login: "ECR 123456789012 in eu-west-1"}
	tags := map[string]any{"tags": []string{ecrHost + "/app:1", "public.ecr.aws/x/y:1", "docker.io/library/busybox:1"}}
	latest := map[string]any{"tags": []string{ecrHost + "/app:latest"}}
	cache := map[string]any{"cache-from": []string{"type=registry,ref=" + ecrHost + "/cache:main"}}
	denied := *reg
	denied.loginErr = errors.New("ecr:GetAuthorizationToken denied")
	tests := []struct {
		name       string
		opts       map[string]any
		reg        RegistryAPI
		aws        AWSAPI
		status     Status
		found, fix string
	}{
		{"repository exists", tags, reg, &fakeAWS{exists: true}, Pass, ecrHost + "/app exists, token obtained", ""},
		{"immutable tags", tags, reg, &fakeAWS{exists: true, immutable: true}, Pass, "exists (immutable tags)", ""},
		{"cache ref counts", cache, reg, &fakeAWS{exists: true}, Pass, ecrHost + "/cache exists", ""},
		{"no AWS: token only", tags, reg, nil, Pass, ecrHost + ": token from ECR 123456789012 in eu-west-1", ""},
		{"immutable latest", latest, reg, &fakeAWS{exists: true, immutable: true}, Warn, "pushing " + ecrHost + "/app:latest again will fail", "unique tags"},
		{"cannot describe", tags, reg, &fakeAWS{repoErr: errors.New("AccessDenied")}, Warn, "cannot describe " + ecrHost + "/app: AccessDenied", "ecr:DescribeRepositories"},
		{"repository missing", tags, reg, &fakeAWS{}, Fail, "ECR repository app does not exist in ECR 123456789012 in eu-west-1", "aws ecr create-repository --repository-name app --region eu-west-1"},
		{"token denied", tags, &denied, &fakeAWS{}, Fail, "GetAuthorizationToken denied", "ecr:GetAuthorizationToken"},
		{"no ECR tag", map[string]any{"tags": []string{"docker.io/library/busybox:1"}}, reg, &fakeAWS{}, Skip, "no ECR registry", ""},
		{"ECR disabled", map[string]any{"tags": []string{ecrHost + "/app:1"}, "ecr": false}, reg, &fakeAWS{}, Skip, "ECR logins disabled", ""},
		{"no registry client", tags, nil, &fakeAWS{}, Skip, "ECR logins disabled", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.Registry, r.AWS = tt.reg, tt.aws
			want(t, r.checkECR(context.Background(), &state{cfg: parseCfg(t, tt.opts)}), tt.status, tt.found, tt.fix)
		})
	}
}

func TestRegistries(t *testing.T) {
	tags := map[string]any{"tags": []string{"registry.example.com/app:1"}}
	tests := []struct {
		name       string
		opts       map[string]any
		reg        *fakeRegistry
		status     Status
		found, fix string
	}{
		{"anonymous", tags, &fakeRegistry{status: 200}, Pass, "registry.example.com (HTTP 200, login: anonymous)", ""},
		{"logged in", tags, &fakeRegistry{status: 401, login: "docker config"}, Pass, "(HTTP 401, login: docker config)", ""},
		{"login required", tags, &fakeRegistry{status: 401}, Fail, "requires a login and none is configured", "registry-credentials"},
		{"not a registry", tags, &fakeRegistry{status: 404}, Fail, "answered /v2/ with HTTP 404", "container registry"},
		{"unreachable", tags, &fakeRegistry{pingErr: errors.New("dial tcp: i/o timeout")}, Fail, "registry registry.example.com unreachable: dial tcp: i/o timeout", "outbound network"},
		{"login broken", tags, &fakeRegistry{status: 200, loginErr: errors.New("bad docker config")}, Fail, "registry registry.example.com: bad docker config", "login source"},
		{"no registry", map[string]any{}, &fakeRegistry{}, Skip, "no registry in tags", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.Registry = tt.reg
			want(t, r.checkRegistries(context.Background(), &state{cfg: parseCfg(t, tt.opts)}), tt.status, tt.found, tt.fix)
		})
	}
	want(t, testRunner().checkRegistries(context.Background(), &state{}), Skip, "no configuration", "")
}

func TestDisk(t *testing.T) {
	tests := []struct {
		name       string
		free       uint64
		err        error
		status     Status
		found, fix string
	}{
		{"plenty", 5 << 30, nil, Pass, "5120 MB free in ", ""},
		{"low", 50 << 20, nil, Warn, "has only 50 MB free", "free disk space"},
		{"full", 1 << 10, nil, Fail, "has no free space", "free disk space"},
		{"unreadable", 0, errors.New("statfs: denied"), Warn, "cannot read free space", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			var asked string
			r.free = func(dir string) (uint64, error) { asked = dir; return tt.free, tt.err }
			root := t.TempDir()
			want(t, r.checkDisk(context.Background(), &state{cfg: &config.Config{TLSDir: root + "/not/yet"}}), tt.status, tt.found, tt.fix)
			if asked != root {
				t.Errorf("asked about %q, want the nearest existing parent %q", asked, root)
			}
		})
	}
	want(t, testRunner().checkDisk(context.Background(), &state{cfg: &config.Config{}}), Skip, "no tls-dir", "")
	free, err := freeBytes(t.TempDir())
	if err != nil || free == 0 {
		t.Errorf("freeBytes = %d, %v", free, err)
	}
}

func TestAgentOnPath(t *testing.T) {
	r := testRunner()
	want(t, r.checkAgent(context.Background(), &state{}), Warn, "buildkite-agent is not on PATH", "install the agent")
	r.LookPath = func(string) (string, error) { return "/usr/bin/buildkite-agent", nil }
	want(t, r.checkAgent(context.Background(), &state{}), Pass, "/usr/bin/buildkite-agent", "")
}

func TestBuildkiteAPI(t *testing.T) {
	scoped := []string{"read_agents", "read_builds"}
	agentEnv := map[string]string{"BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_AGENT_NAME": "agent-1"}
	tests := []struct {
		name       string
		api        BuildkiteAPI
		env        map[string]string
		status     Status
		found, fix string
	}{
		{"agent connected", &fakeBuildkite{scopes: scoped, found: true, state: "connected"}, agentEnv, Pass, "token scopes read_agents, read_builds; agent agent-1 is connected", ""},
		{"no agent identity", &fakeBuildkite{scopes: scoped}, map[string]string{}, Pass, "agent record not checked", ""},
		{"agent unknown", &fakeBuildkite{scopes: scoped}, agentEnv, Warn, "no agent named agent-1 in acme", "BUILDKITE_AGENT_NAME"},
		{"cannot list agents", &fakeBuildkite{scopes: scoped, agentErr: errors.New("403")}, agentEnv, Fail, "cannot list agents: 403", "organization slug"},
		{"lacks read_agents", &fakeBuildkite{scopes: []string{"read_builds"}}, agentEnv, Warn, "token scopes read_builds lack read_agents", "add the read_agents scope"},
		{"token rejected", &fakeBuildkite{scopesErr: errors.New("401 Unauthorized")}, agentEnv, Fail, "Buildkite API token rejected: 401 Unauthorized", "api-access-tokens"},
		{"no token", nil, agentEnv, Skip, "BUILDKITE_API_TOKEN not set", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.Buildkite, r.Env = tt.api, testEnv(t, tt.env)
			want(t, r.checkBuildkiteAPI(context.Background(), &state{}), tt.status, tt.found, tt.fix)
		})
	}
}
