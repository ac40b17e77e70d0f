package diagnose

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

var daemonChecks = []string{"host", "dns", "tcp", "tls-mode", "certificates", "server-cert", "ca-expiry", "grpc", "versions", "platforms", "cache"}
var globalChecks = []string{"secrets-bucket", "ecr", "registries", "context", "disk", "buildkite-agent", "buildkite-api"}

func names(rep *Report) []string {
	var out []string
	for _, c := range rep.Checks {
		out = append(out, c.Name)
	}
	return out
}

// A healthy mTLS daemon (a real TLS server) with fake daemon, AWS and
// registry answers: every check passes, in the documented order.
func TestRunHealthy(t *testing.T) {
	ca := newCA(t, "test CA", time.Now().Add(365*day24))
	_, _, server := ca.issue(t, "buildkitd", time.Now().Add(200*day24), true)
	cert, key, _ := ca.issue(t, "agent", time.Now().Add(200*day24), false)
	addr := serveTLS(t, server, tls.RequireAnyClientCert, 0)
	dir := tlsDir(t, ca.pem, cert, key, 0o600)
	r := testRunner()
	r.Probe = 0 // the default
	r.Config = parseCfg(t, map[string]any{"buildkit-host": "tcp://" + addr, "tls-dir": dir, "platforms": []string{"linux/amd64"},
		"secrets-bucket": "b", "tags": []string{ecrHost + "/app:1"}})
	r.Daemon = &fakeDaemon{ver: "v0.34.2", plats: []string{"linux/amd64"}, size: 1 << 20, records: 3}
	r.AWS = &fakeAWS{prefix: "buildkit/", exists: true}
	r.Registry = &fakeRegistry{ecr: map[string]registryauth.ECRRegistry{ecrHost: {Account: "123456789012", Region: "eu-west-1"}}, status: 401, login: "ECR"}
	r.Buildkite = &fakeBuildkite{scopes: []string{"read_agents"}}
	r.LookPath = func(p string) (string, error) {
		if p == "buildkite-agent" {
			return "/bin/buildkite-agent", nil
		}
		return "", os.ErrNotExist
	}
	r.free = func(string) (uint64, error) { return 1 << 30, nil }
	rep := r.Run(context.Background())
	for _, c := range rep.Checks {
		if c.Status != Pass {
			t.Errorf("%s: %s %s — %s", c.Name, c.Status, c.Found, c.Fix)
		}
	}
	wantNames := append(append([]string{"config"}, daemonChecks...), globalChecks...)
	if got := names(rep); strings.Join(got, ",") != strings.Join(wantNames, ",") {
		t.Errorf("checks %v, want %v", got, wantNames)
	}
	if !rep.OK || rep.Worst() != Pass || rep.Err() != nil {
		t.Errorf("OK %v, worst %s, err %v", rep.OK, rep.Worst(), rep.Err())
	}
}

// Every node gets the daemon checks under its name; each is asked with its
// own settings.
func TestRunNodes(t *testing.T) {
	up, down := servePlain(t), closedAddr(t)
	r := testRunner()
	r.Config = parseCfg(t, map[string]any{"nodes": []any{
		map[string]any{"host": "tcp://" + up, "platforms": []string{"linux/arm64"}},
		map[string]any{"host": "tcp://" + down},
	}})
	r.Daemon = &fakeDaemon{ver: "v0.34.2", plats: []string{"linux/arm64"}, records: 1}
	rep := r.Run(context.Background())
	var want []string
	want = append(want, "config")
	for _, n := range []string{"tcp://" + up, "tcp://" + down} {
		for _, c := range daemonChecks {
			want = append(want, n+": "+c)
		}
	}
	want = append(want, "fleet")
	want = append(want, globalChecks...)
	if got := names(rep); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("checks %v, want %v", got, want)
	}
	byName := map[string]Check{}
	for _, c := range rep.Checks {
		byName[c.Name] = c
	}
	if c := byName["tcp://"+up+": platforms"]; c.Status != Pass || !strings.Contains(c.Found, "requested linux/arm64") {
		t.Errorf("first node's platforms: %+v", c)
	}
	if c := byName["tcp://"+down+": tcp"]; c.Status != Fail {
		t.Errorf("stopped node's tcp: %+v", c)
	}
	err := rep.Err()
	if rep.OK || exitcode.Of(err) != exitcode.BuildFailed || err.Error() != "diagnose: 1 check(s) failed: tcp://"+down+": tcp" {
		t.Errorf("Err() = %v (code %d)", err, exitcode.Of(err))
	}
}

func TestNewRunner(t *testing.T) {
	env := testEnv(t, map[string]string{
		"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host":"tcp://127.0.0.1:1234","tags":["registry.example.com/a:1"]}`,
		"BUILDKITE_API_TOKEN":            "t", "BUILDKITE_API_URL": "http://127.0.0.1:1/",
		"DOCKER_CONFIG": t.TempDir(),
	})
	r := NewRunner(env, t.TempDir())
	if r.ConfigErr != nil || r.Config == nil || r.Config.Default().Host != "tcp://127.0.0.1:1234" {
		t.Fatalf("config %+v, err %v", r.Config, r.ConfigErr)
	}
	if r.Daemon == nil || r.AWS == nil || r.Registry == nil || r.Buildkite == nil || r.LookPath == nil || r.Now == nil {
		t.Errorf("adapters missing: %+v", r)
	}

	r = NewRunner(testEnv(t, map[string]string{"BUILDKITE_PLUGIN_CONFIGURATION": `{"pushh":true}`}), t.TempDir())
	if r.ConfigErr == nil || r.Config == nil || r.Buildkite != nil {
		t.Errorf("bad config: err %v, fallback %v, buildkite %v", r.ConfigErr, r.Config, r.Buildkite)
	}
}

// A bad step: the config check lists every problem in one run, and the
// other checks run against the step's own daemon (config.Read's KeepGoing
// mode), not the job's defaults.
func TestNewRunnerBadStep(t *testing.T) {
	env := testEnv(t, map[string]string{
		"BUILDKITE_PLUGIN_CONFIGURATION": `{"buildkit-host":"tcp://127.0.0.1:1234","pushh":true,"connect-timeout":"soon","platforms":5}`,
		"BUILDKIT_HOST":                  "tcp://127.0.0.1:9",
	})
	r := NewRunner(env, t.TempDir())
	if r.Config == nil || r.Config.Default().Host != "tcp://127.0.0.1:1234" {
		t.Fatalf("config %+v: want the step's buildkit-host", r.Config)
	}
	c := r.checkConfig(context.Background(), nil)
	for _, want := range []string{`pushh: unknown option (did you mean "push"?)`, "connect-timeout:", "platforms: must be a string or an array"} {
		if c.Status != Fail || !strings.Contains(c.Found, want) {
			t.Errorf("config check %s %q: want FAIL listing %q", c.Status, c.Found, want)
		}
	}
}

func TestReportFormats(t *testing.T) {
	rep := &Report{Checks: []Check{
		{Name: "config", Status: Pass, Found: "plugin configuration valid"},
		{Name: "tcp", Status: Fail, Found: "connection refused | twice\nreally", Fix: "start buildkitd"},
		{Name: "cache", Status: Warn, Found: "empty"},
	}}
	var text bytes.Buffer
	if err := rep.Write(&text, "text"); err != nil {
		t.Fatal(err)
	}
	wantText := "--- :stethoscope: remote-buildkit diagnose\n" +
		"PASS  config           plugin configuration valid\n" +
		"FAIL  tcp              connection refused | twice\nreally — fix: start buildkitd\n" +
		"WARN  cache            empty\n"
	if text.String() != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), wantText)
	}
	var js bytes.Buffer
	if err := rep.Write(&js, "json"); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Checks) != 3 || back.Checks[1].Fix != "start buildkitd" {
		t.Errorf("json %s: %v", js.String(), err)
	}
	md := rep.Markdown()
	if !strings.Contains(md, "| tcp | FAIL | connection refused \\| twice really | start buildkitd |") || !strings.Contains(md, "| check | status | found | fix |") {
		t.Errorf("markdown:\n%s", md)
	}
	if rep.Worst() != Fail {
		t.Errorf("worst %s", rep.Worst())
	}
}

// fakeAgent is a buildkite-agent that records its arguments and stdin.
func fakeAgent(t *testing.T, exit int) (path, record string) {
	d := t.TempDir()
	record = filepath.Join(d, "record")
	path = filepath.Join(d, "buildkite-agent")
	script := "#!/bin/sh\necho \"$@\" > " + record + "\ncat >> " + record + "\necho 'agent says no' >&2\nexit " + string(rune('0'+exit)) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, record
}

func TestRunnerMain(t *testing.T) {
	agent, record := fakeAgent(t, 0)
	broken, _ := fakeAgent(t, 1)
	job := map[string]string{"BUILDKITE_JOB_ID": "j", "BUILDKITE_AGENT_ACCESS_TOKEN": "a"}
	tests := []struct {
		name     string
		env      map[string]string
		agent    string
		format   string
		annotate bool
		warning  string
		style    string
	}{
		{"text, no annotation", job, agent, "text", false, "", ""},
		{"json with annotation", job, agent, "json", true, "", "--style error --context remote-buildkit-diagnose"},
		{"annotation outside a job", map[string]string{}, agent, "text", true, "could not post the annotation: not running in a Buildkite job", ""},
		{"agent fails", job, broken, "text", true, "could not post the annotation: buildkite-agent annotate --style: exit status 1: agent says no", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(record)
			r := testRunner()
			r.Env = testEnv(t, tt.env)
			r.LookPath = func(string) (string, error) { return tt.agent, nil }
			r.ConfigErr = &config.Error{Problems: []config.Problem{{Key: "pushh", Msg: "unknown option"}}}
			var out, errOut bytes.Buffer
			err := r.Main(context.Background(), &out, &errOut, tt.format, tt.annotate)
			if exitcode.Of(err) != exitcode.BuildFailed || !strings.Contains(err.Error(), "check(s) failed: config, host") {
				t.Errorf("err %v", err)
			}
			if tt.format == "json" && !json.Valid(out.Bytes()) || tt.format == "text" && !strings.HasPrefix(out.String(), "--- :stethoscope:") {
				t.Errorf("output:\n%s", out.String())
			}
			if !strings.Contains(errOut.String(), tt.warning) || tt.warning == "" && errOut.Len() > 0 {
				t.Errorf("stderr %q, want %q", errOut.String(), tt.warning)
			}
			got, _ := os.ReadFile(record)
			if tt.style != "" && (!strings.HasPrefix(string(got), "annotate "+tt.style) || !strings.Contains(string(got), "| config | FAIL |")) {
				t.Errorf("agent got:\n%s", got)
			}
		})
	}
}

func TestRunWithoutConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	err := Run(context.Background(), testEnv(t, map[string]string{}), t.TempDir(), &out, &errOut, "text", false)
	if exitcode.Of(err) != exitcode.BuildFailed || !strings.Contains(out.String(), "FAIL  config") || !strings.Contains(out.String(), "no plugin configuration") {
		t.Errorf("err %v\n%s", err, out.String())
	}
}
