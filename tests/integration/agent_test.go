package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// agentJob runs jobs with the real `buildkite-agent bootstrap`, the plugin
// referenced from a clone of this repository's committed tree, against the
// local stack and a stub of the agent API that records requests.
type agentJob struct {
	t        *testing.T
	s        *stack
	a        *awsStack
	agent    string // buildkite-agent binary
	plugin   string // file:// URL of the plugin clone, with #commit
	stubAddr string
	stubLog  string
	bucket   *bucket
}

func requireAgent(t *testing.T) *agentJob {
	t.Helper()
	s := requireStack(t)
	a := requireAWS(t)
	agent := os.Getenv("STACK_BUILDKITE_AGENT")
	if agent == "" {
		t.Fatal("STACK_BUILDKITE_AGENT is unset: the stack's env file is out of date (re-run `make stack-up`)")
	}
	j := &agentJob{t: t, s: s, a: a, agent: agent}

	// The plugin, as an agent gets it: a clone of the committed tree named
	// remote-buildkit (the agent derives the plugin's name from it).
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "remote-buildkit")
	if out, err := exec.Command("git", "clone", "-q", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone the plugin: %v\n%s", err, out)
	}
	head, err := exec.Command("git", "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	j.plugin = "file://" + clone + "#" + strings.TrimSpace(string(head))

	// The agent API stub, built by the stack.
	stub := os.Getenv("STACK_AGENT_STUB")
	if stub == "" {
		t.Fatal("STACK_AGENT_STUB is unset: the stack's env file is out of date (re-run `make stack-up`)")
	}
	dir := t.TempDir()
	j.stubLog = filepath.Join(dir, "requests.jsonl")
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(stub, "-addr-file", addrFile, "-log", j.stubLog)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if b, err := os.ReadFile(addrFile); err == nil {
			j.stubAddr = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j.stubAddr == "" {
		t.Fatal("agent API stub did not start")
	}

	// The secrets bucket with the daemon's client certificates.
	j.bucket = newBucket(t, s3Client(a.Moto, "test", "test"))
	j.bucket.putSet("buildkit/", stackClientSet(t))
	return j
}

// checkout makes a git repository holding the job's source.
func (j *agentJob) checkout(files map[string]string) (repo, commit string) {
	j.t.Helper()
	repo = writeFiles(j.t, files)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "-m", "job"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			j.t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, _ := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	return repo, strings.TrimSpace(string(out))
}

// env is a job's environment as the agent passes it to bootstrap.
func (j *agentJob) env(repo, commit string, cfg map[string]any, extra ...string) []string {
	js, _ := json.Marshal([]map[string]any{{j.plugin: cfg}})
	base := t2dirs(j.t)
	binAbs, _ := filepath.Abs(bin)
	env := []string{
		"PATH=" + filepath.Dir(j.agent) + ":" + os.Getenv("PATH"),
		"HOME=" + base.home,
		"BUILDKITE=true",
		"BUILDKITE_JOB_ID=job-" + fmt.Sprint(time.Now().UnixNano()),
		"BUILDKITE_BUILD_ID=build-1",
		"BUILDKITE_BUILD_NUMBER=1",
		"BUILDKITE_AGENT_NAME=e2e-agent",
		"BUILDKITE_ORGANIZATION_SLUG=e2e",
		"BUILDKITE_PIPELINE_SLUG=" + pipelineSlug,
		"BUILDKITE_PIPELINE_PROVIDER=git",
		"BUILDKITE_BUILD_PATH=" + base.builds,
		"BUILDKITE_HOOKS_PATH=" + base.hooks,
		"BUILDKITE_PLUGINS_PATH=" + base.plugins,
		"BUILDKITE_PLUGINS_ALWAYS_CLONE_FRESH=true",
		"BUILDKITE_BIN_PATH=" + filepath.Dir(j.agent),
		"BUILDKITE_REPO=" + repo,
		"BUILDKITE_COMMIT=" + commit,
		"BUILDKITE_BRANCH=main",
		"BUILDKITE_COMMAND=",
		"BUILDKITE_PLUGINS=" + string(js),
		"BUILDKITE_AGENT_ACCESS_TOKEN=e2e-token",
		"BUILDKITE_AGENT_ENDPOINT=http://" + j.stubAddr + "/v3",
		"BUILDKITE_PLUGIN_S3_SECRETS_BUCKET=" + j.bucket.Name,
		"BUILDKITE_PLUGIN_S3_SECRETS_REGION=us-east-1",
		"BUILDKIT_HOST=" + j.s.BuildkitHost, // as the stack's env hook in Buildkite's guide sets it
		"REMOTE_BUILDKIT_BIN=" + binAbs,
		"DOCKER_CONFIG=" + j.s.DockerConfig,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=" + j.a.Moto,
	}
	return mergeEnv(env, extra)
}

type dirs struct{ home, builds, hooks, plugins string }

func t2dirs(t *testing.T) dirs {
	d := dirs{home: t.TempDir(), builds: t.TempDir(), hooks: t.TempDir(), plugins: t.TempDir()}
	return d
}

// bootstrap runs the job; the returned cmd has finished unless start is used.
func (j *agentJob) bootstrap(env []string) (*exec.Cmd, *syncBuffer) {
	cmd := exec.Command(j.agent, "bootstrap", "--phases", "plugin,checkout,command")
	cmd.Env = env
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, out
}

type stubRequest struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body"`
}

func (j *agentJob) requests() []stubRequest {
	j.t.Helper()
	f, err := os.Open(j.stubLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		j.t.Fatal(err)
	}
	defer f.Close()
	var out []stubRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r stubRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err == nil {
			out = append(out, r)
		}
	}
	return out
}

func (j *agentJob) annotations() []map[string]any {
	var out []map[string]any
	for _, r := range j.requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/annotations") {
			var a map[string]any
			json.Unmarshal(r.Body, &a)
			out = append(out, a)
		}
	}
	return out
}

// A job with the plugin (environment + command hooks) fetches the
// certificates, builds and pushes; the agent API got one annotation with the
// digest and tags and the digest as meta-data; it is the registry's digest.
func TestAgentJobBuildsAndReports(t *testing.T) {
	j := requireAgent(t)
	repo := j.s.repo(t)
	src, commit := j.checkout(map[string]string{
		"Dockerfile": "FROM " + j.s.BaseImage + "\nRUN echo e2e > /e2e\n",
	})
	env := j.env(src, commit, map[string]any{"tags": []string{repo + ":e2e", repo + ":" + commit[:8]}, "push": true})
	cmd, out := j.bootstrap(env)
	start := time.Now()
	err := cmd.Run()
	t.Logf("bootstrap took %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("job failed: %v\n%s", err, out.String())
	}
	digest := lineValue(out.String(), "digest")
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("no digest in the job log:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "client certificates from s3://"+j.bucket.Name+"/buildkit/") {
		t.Errorf("the environment hook did not fetch the certificates:\n%s", out.String())
	}
	if got := j.s.descriptor(t, repo+":e2e").Digest.String(); got != digest {
		t.Errorf("registry has %s, job printed %s", got, digest)
	}
	anns := j.annotations()
	if len(anns) != 1 {
		t.Fatalf("want 1 annotation, got %d: %v", len(anns), anns)
	}
	body, _ := anns[0]["body"].(string)
	if anns[0]["context"] != "remote-buildkit" || anns[0]["style"] != "success" ||
		!strings.Contains(body, digest) || !strings.Contains(body, repo+":e2e") || !strings.Contains(body, repo+":"+commit[:8]) {
		t.Errorf("annotation = %v", anns[0])
	}
	var meta bool
	for _, r := range j.requests() {
		if strings.HasSuffix(r.Path, "/data/set") {
			var kv struct{ Key, Value string }
			json.Unmarshal(r.Body, &kv)
			if kv.Key == "remote-buildkit-digest" && kv.Value == digest {
				meta = true
			}
		}
	}
	if !meta {
		t.Errorf("no meta-data remote-buildkit-digest=%s among %v", digest, j.requests())
	}
}

// A failing Dockerfile fails the job with the binary's exit code; the
// annotation is style error and names the failing instruction.
func TestAgentJobFailingDockerfile(t *testing.T) {
	j := requireAgent(t)
	src, commit := j.checkout(map[string]string{
		"Dockerfile": "FROM " + j.s.BaseImage + "\nRUN echo about to fail && exit 7\n",
	})
	cmd, out := j.bootstrap(j.env(src, commit, map[string]any{"tags": []string{j.s.repo(t) + ":x"}, "push": true}))
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("want exit 1 (the binary's build failure), got %d (%v)\n%s", code, err, out.String())
	}
	anns := j.annotations()
	if len(anns) != 1 || anns[0]["style"] != "error" {
		t.Fatalf("want one error annotation, got %v", anns)
	}
	body, _ := anns[0]["body"].(string)
	if !strings.Contains(body, "RUN echo about to fail") || !strings.Contains(body, "about to fail") {
		t.Errorf("annotation does not name the failing instruction and its log:\n%s", body)
	}
}

// Cancel: SIGTERM to bootstrap during a long RUN → bootstrap exits within
// 10 s and the daemon has no running build afterwards.
func TestAgentJobCancel(t *testing.T) {
	j := requireAgent(t)
	marker := fmt.Sprintf("cancel-%d", time.Now().UnixNano())
	src, commit := j.checkout(map[string]string{
		"Dockerfile": "FROM " + j.s.BaseImage + "\nRUN echo " + marker + " && sleep 120\n",
	})
	cmd, out := j.bootstrap(j.env(src, commit, map[string]any{"build-args": []string{"MARKER=" + marker}}))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "sleep 120") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !j.running(marker) {
		time.Sleep(time.Second)
	}
	if !j.running(marker) {
		t.Fatalf("the build never showed as running on the daemon:\n%s", out.String())
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("bootstrap still running 15 s after SIGTERM:\n%s", out.String())
	}
	took := time.Since(start)
	t.Logf("bootstrap exited %s after SIGTERM (exit %d)", took.Round(time.Millisecond), cmd.ProcessState.ExitCode())
	if took > 10*time.Second {
		t.Errorf("took %s, want < 10 s", took)
	}
	if cmd.ProcessState.ExitCode() == 0 {
		t.Errorf("a cancelled job exited 0")
	}
	if !strings.Contains(out.String(), "build cancelled") {
		t.Errorf("no 'build cancelled' line:\n%s", out.String())
	}
	// The daemon finishes the record shortly after the session goes away.
	for i := 0; i < 50 && j.running(marker); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if j.running(marker) {
		t.Errorf("the daemon still runs the cancelled build")
	}
}

// running reports whether the daemon's build history has an unfinished
// record of a build with this marker build-arg.
func (j *agentJob) running(marker string) bool {
	j.t.Helper()
	out, err := exec.Command(j.s.Buildctl, "--addr", j.s.BuildkitHost, "--tlsdir", j.s.TLSDir,
		"debug", "histories", "--format", "{{json .}}").Output()
	if err != nil {
		j.t.Fatalf("buildctl debug histories: %v", err)
	}
	for _, l := range bytes.Split(out, []byte("\n")) {
		var h struct {
			Record struct {
				FrontendAttrs map[string]string
				CompletedAt   *struct{ Seconds int64 }
			} `json:"record"`
		}
		if json.Unmarshal(l, &h) != nil {
			continue
		}
		if h.Record.FrontendAttrs["build-arg:MARKER"] == marker && h.Record.CompletedAt == nil {
			return true
		}
	}
	return false
}

// An invalid configuration fails in the environment hook with the schema
// error, before any network call.
func TestAgentJobInvalidConfig(t *testing.T) {
	j := requireAgent(t)
	src, commit := j.checkout(map[string]string{"Dockerfile": "FROM scratch\n"})
	// S3 and ECR point at a listener that counts connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	faultkit.Serve(ln, func(net.Conn) { conns.Add(1) })
	env := j.env(src, commit, map[string]any{"tags": "app:1", "pushh": true, "platforms": 5},
		"AWS_ENDPOINT_URL=http://"+ln.Addr().String())
	cmd, out := j.bootstrap(env)
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("want exit 2, got %d\n%s", code, out.String())
	}
	log := out.String()
	for _, want := range []string{`pushh: unknown option (did you mean "push"?)`, "platforms: must be a string or an array"} {
		if !strings.Contains(log, want) {
			t.Errorf("job log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "remote-buildkit: building") || strings.Contains(log, "Connected to BuildKit") {
		t.Errorf("the command hook ran after the environment hook failed:\n%s", log)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d network connections were made before the configuration error", n)
	}
}

// diagnose --annotate posts the report through the real buildkite-agent.
func TestAgentDiagnoseAnnotates(t *testing.T) {
	j := requireAgent(t)
	js, _ := json.Marshal(map[string]any{"buildkit-host": j.s.BuildkitHost, "tls-dir": j.s.TLSDir})
	cmd := exec.Command(bin, "diagnose", "--annotate")
	cmd.Env = mergeEnv(os.Environ(), []string{
		"PATH=" + filepath.Dir(j.agent) + ":" + os.Getenv("PATH"),
		"BUILDKITE_PLUGIN_CONFIGURATION=" + string(js),
		"BUILDKITE_JOB_ID=diag-job", "BUILDKITE_AGENT_ACCESS_TOKEN=e2e-token",
		"BUILDKITE_AGENT_ENDPOINT=http://" + j.stubAddr + "/v3",
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("diagnose --annotate: %v\n%s", err, out)
	}
	anns := j.annotations()
	if len(anns) != 1 || anns[0]["context"] != "remote-buildkit-diagnose" {
		t.Fatalf("want one remote-buildkit-diagnose annotation, got %v", anns)
	}
	body, _ := anns[0]["body"].(string)
	if !strings.Contains(body, "| grpc | PASS |") || !strings.Contains(body, "| tls-mode | PASS |") {
		t.Errorf("annotation body lacks the checks:\n%s", body)
	}
}

// artifact: true uploads the build's JSON metadata through the real agent;
// meta-data per-tag sets one key per tag.
func TestAgentJobArtifactAndPerTagMetaData(t *testing.T) {
	j := requireAgent(t)
	repo := j.s.repo(t)
	src, commit := j.checkout(map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	cfg := map[string]any{"tags": []string{repo + ":art"}, "push": true, "artifact": true,
		"meta-data": map[string]any{"key": "image-digest", "per-tag": true}}
	cmd, out := j.bootstrap(j.env(src, commit, cfg))
	if err := cmd.Run(); err != nil {
		t.Fatalf("job failed: %v\n%s", err, out.String())
	}
	digest := lineValue(out.String(), "digest")
	var uploaded map[string]string
	keys := map[string]string{}
	for _, r := range j.requests() {
		switch {
		case r.Path == "/upload":
			json.Unmarshal(r.Body, &uploaded)
		case strings.HasSuffix(r.Path, "/data/set"):
			var kv struct{ Key, Value string }
			json.Unmarshal(r.Body, &kv)
			keys[kv.Key] = kv.Value
		}
	}
	if uploaded["path"] != "remote-buildkit-metadata.json" {
		t.Fatalf("no upload of remote-buildkit-metadata.json: %v\n%s", uploaded, out.String())
	}
	var meta map[string]any
	if err := json.Unmarshal([]byte(uploaded["content"]), &meta); err != nil || meta["containerimage.digest"] != digest {
		t.Errorf("uploaded metadata %q does not hold the digest %s (%v)", uploaded["content"], digest, err)
	}
	if keys["image-digest"] != digest || keys["image-digest:"+repo+":art"] != digest {
		t.Errorf("meta-data keys %v, want image-digest and image-digest:%s:art = %s", keys, repo, digest)
	}
}
