package integration

// Existing pipelines go remote unchanged, on real components: the
// docker CLI v29 with buildx and compose as its plugins (built by
// tests/stack/stack.sh from the Go module proxy), the stack's Docker engine,
// buildkitd, registry and moto, and jobs run by the real buildkite-agent.
// The step's own `docker buildx build`, `docker build` and `docker compose
// build` run against the builder the plugin's environment hook registers.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
)

// dockerTools are the stack's docker CLI, its cli-plugins directory (buildx
// and compose) and its own Docker engine.
type dockerTools struct{ cli, plugins, host string }

func requireDocker(t *testing.T) dockerTools {
	t.Helper()
	d := dockerTools{cli: os.Getenv("STACK_DOCKER_CLI"), plugins: os.Getenv("STACK_DOCKER_CLI_PLUGINS"), host: os.Getenv("STACK_DOCKER_HOST")}
	if d.cli == "" || d.plugins == "" || d.host == "" {
		t.Fatal("STACK_DOCKER_CLI/STACK_DOCKER_CLI_PLUGINS/STACK_DOCKER_HOST unset: re-run `make stack-up` (tests/stack/stack.sh install builds the docker CLI and compose)")
	}
	return d
}

// userConfig is a user's own docker config directory, as on an agent:
// config.json with logins (host → "user:password") in plain text, and
// cli-plugins holding buildx and compose.
func (d dockerTools) userConfig(t *testing.T, logins map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	auths := map[string]any{}
	for host, login := range logins {
		auths[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(login))}
	}
	js, _ := json.Marshal(map[string]any{"auths": auths, "proxies": map[string]any{}})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(d.plugins, filepath.Join(dir, "cli-plugins")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// env is a job's environment for the docker commands: the CLI on PATH, the
// user's docker config, the stack's engine, a TMPDIR of the test's own
// (where the job's buildx directory goes) and the step's command.
func (d dockerTools) env(t *testing.T, userDir, tmp, command string) []string {
	return []string{
		"PATH=" + filepath.Dir(d.cli) + ":" + filepath.Dir(os.Getenv("STACK_BUILDKITE_AGENT")) + ":" + os.Getenv("PATH"),
		"DOCKER_CONFIG=" + userDir, "DOCKER_HOST=" + d.host, "TMPDIR=" + tmp,
		"BUILDKITE_COMMAND=" + command,
	}
}

// snapshot is every entry below dir: file contents, link targets, modes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			m[p] = "link " + target
			return err
		case fi.IsDir():
			m[p] = "dir " + fi.Mode().String()
		default:
			b, err := os.ReadFile(p)
			m[p] = fi.Mode().String() + " " + string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// buildxDirs lists the job buildx directories left in tmp.
func buildxDirs(t *testing.T, tmp string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(tmp, "remote-buildkit-buildx-*"))
	return m
}

var jobDirLine = regexp.MustCompile(`buildx builder (\S+) for this job: (.*); docker buildx, docker build and docker compose build use it \(DOCKER_CONFIG (\S+), \d+ms\)`)

// histories lists the build-arg NONCE of every finished build in the
// daemon's history (the records buildx's builds leave there too).
func histories(t *testing.T, s *stack, host string, tlsArgs ...string) []string {
	t.Helper()
	if len(tlsArgs) == 0 {
		tlsArgs = []string{"--tlsdir", s.TLSDir}
	}
	args := append(append([]string{"--addr", host}, tlsArgs...), "debug", "histories", "--format", "{{json .}}")
	out, err := exec.Command(s.Buildctl, args...).Output()
	if err != nil {
		t.Fatalf("buildctl debug histories on %s: %v", host, err)
	}
	var nonces []string
	for _, l := range strings.Split(string(out), "\n") {
		var h struct {
			Record struct {
				FrontendAttrs map[string]string
				CompletedAt   *struct{ Seconds int64 }
			} `json:"record"`
		}
		if json.Unmarshal([]byte(l), &h) == nil && h.Record.CompletedAt != nil && h.Record.FrontendAttrs["build-arg:NONCE"] != "" {
			nonces = append(nonces, h.Record.FrontendAttrs["build-arg:NONCE"])
		}
	}
	return nonces
}

// secretsIn reports each secret found in a file below dir (links not followed).
func secretsIn(t *testing.T, dir string, secrets ...string) []string {
	t.Helper()
	var found []string
	for p, content := range snapshot(t, dir) {
		for _, s := range secrets {
			if s != "" && strings.Contains(content, s) {
				found = append(found, p+" holds "+s)
			}
		}
	}
	return found
}

// buildxJob is one agent job in buildx mode: the checkout, the plugin's
// configuration, the step's command and the user's docker config.
type buildxJob struct {
	files   map[string]string
	cfg     map[string]any
	command string
	logins  map[string]string // the user's own docker config logins
	home    string            // HOME, a new one when ""
	env     []string
}

type buildxRun struct {
	e2eRun
	builder, nodes, jobDir string // from the environment hook's log line
	userDir, tmp, home     string
	userBefore             map[string]string
}

func runBuildxJob(t *testing.T, j *agentJob, d dockerTools, bj buildxJob) buildxRun {
	t.Helper()
	r := buildxRun{userDir: d.userConfig(t, bj.logins), tmp: t.TempDir(), home: bj.home}
	if r.home == "" {
		r.home = t.TempDir()
	}
	r.userBefore = snapshot(t, r.userDir)
	env := append(d.env(t, r.userDir, r.tmp, bj.command), "HOME="+r.home)
	r.e2eRun = runE2E(t, j, bj.files, bj.cfg, append(env, bj.env...)...)
	if m := jobDirLine.FindStringSubmatch(r.out); m != nil {
		r.builder, r.nodes, r.jobDir = m[1], m[2], m[3]
	}
	return r
}

// checkLeftNothing: pre-exit removed the job's buildx directory, the user's
// docker config is as it was, HOME got no docker or buildx state.
func (r buildxRun) checkLeftNothing(t *testing.T) {
	t.Helper()
	if r.jobDir == "" {
		t.Fatalf("the environment hook did not report the job's buildx directory:\n%s", r.out)
	}
	if left := buildxDirs(t, r.tmp); len(left) > 0 {
		t.Errorf("pre-exit left %v", left)
	}
	if !strings.Contains(r.out, "removed the job's buildx builder and docker config "+r.jobDir) {
		t.Errorf("pre-exit did not report removing %s", r.jobDir)
	}
	if after := snapshot(t, r.userDir); fmt.Sprint(after) != fmt.Sprint(r.userBefore) {
		t.Errorf("the user's docker config changed:\nbefore %v\nafter  %v", r.userBefore, after)
	}
	if _, err := os.Stat(filepath.Join(r.home, ".docker")); err == nil {
		t.Errorf("HOME got a .docker directory")
	}
}

// seeCommand saves what the step saw of its docker config (links kept) and
// builders before running cmd.
func seeCommand(cmd string) string {
	return `cp -rP "$DOCKER_CONFIG" seen-docker-config && docker buildx ls > seen-buildx-ls.txt && ` + cmd
}

// Through the real agent: the step's own `docker buildx build --push` runs
// (not the plugin's build) on the builder the environment hook registered,
// pushes with a registry-credentials login served by the credential
// helper, and the stack's buildkitd has the build in its history. The job's
// docker config holds no login, the user's is untouched, pre-exit leaves
// nothing.
func TestBuildxAgentBuildxBuildPush(t *testing.T) {
	j := requireAgent(t)
	d := requireDocker(t)
	repo, nonce := j.s.repo(t), "bx-"+randomHex(t)
	r := runBuildxJob(t, j, d, buildxJob{
		files: map[string]string{"Dockerfile": "FROM " + j.s.BaseImage + "\nARG NONCE\nRUN echo \"$NONCE\" > /nonce\n"},
		cfg: map[string]any{"buildx": true, "registry-credentials": []any{
			map[string]any{"registry": j.s.Registry, "username-env": "REG_USER", "password-env": "REG_PASS"}}},
		command: seeCommand("docker buildx build --push --provenance=false --build-arg NONCE=" + nonce + " -t " + repo + ":bx ."),
		env:     []string{"REG_USER=" + j.s.User, "REG_PASS=" + j.s.Pass},
	})
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	if got := j.s.imageFile(t, repo+":bx", "nonce"); got != nonce+"\n" {
		t.Errorf("pushed image /nonce = %q, want %q", got, nonce)
	}
	if !slices.Contains(histories(t, j.s, j.s.BuildkitHost), nonce) {
		t.Errorf("the stack's buildkitd has no finished build with NONCE=%s in its history", nonce)
	}
	if strings.Contains(r.out, "remote-buildkit: building") || len(j.annotations()) != 0 {
		t.Errorf("the plugin's own build ran instead of the step's command:\n%s", r.out)
	}
	seen := filepath.Join(r.dir, "seen-docker-config")
	cfg, err := os.ReadFile(filepath.Join(seen, "config.json"))
	if err != nil || strings.Contains(string(cfg), "auths") || !strings.Contains(string(cfg), `"credsStore": "remote-buildkit"`) ||
		!strings.Contains(string(cfg), `"`+j.s.Registry+`": "remote-buildkit"`) {
		t.Errorf("the job's config.json (%v):\n%s", err, cfg)
	}
	if found := secretsIn(t, seen, j.s.Pass, base64.StdEncoding.EncodeToString([]byte(j.s.User+":"+j.s.Pass))); len(found) > 0 {
		t.Errorf("a login in plain text in the job's docker config: %v", found)
	}
	ls, _ := os.ReadFile(filepath.Join(r.dir, "seen-buildx-ls.txt"))
	wantAll(t, "docker buildx ls", string(ls), "remote-buildkit*", "remote", j.s.BuildkitHost)
	r.checkLeftNothing(t)
}

// `docker build` goes through buildx to the remote daemon; with the job's
// Docker engine the image is loaded (default-load) so `docker image
// inspect` and `docker push` from the engine work, the push's login coming
// from the user's own docker config through the helper.
func TestBuildxAgentDockerBuild(t *testing.T) {
	j := requireAgent(t)
	d := requireDocker(t)
	repo, nonce := j.s.repo(t), "db-"+randomHex(t)
	r := runBuildxJob(t, j, d, buildxJob{
		files:   map[string]string{"Dockerfile": "FROM " + j.s.BaseImage + "\nARG NONCE\nRUN echo \"$NONCE\" > /nonce\n"},
		cfg:     map[string]any{"buildx": true},
		command: "docker build --build-arg NONCE=" + nonce + " -t " + repo + ":db . && docker image inspect --format '{{.Id}}' " + repo + ":db > loaded-id.txt && docker push " + repo + ":db",
		logins:  map[string]string{j.s.Registry: j.s.User + ":" + j.s.Pass},
	})
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	if id, _ := os.ReadFile(filepath.Join(r.dir, "loaded-id.txt")); !strings.HasPrefix(string(id), "sha256:") {
		t.Errorf("the image was not loaded into the job's engine: %q", id)
	}
	if got := j.s.imageFile(t, repo+":db", "nonce"); got != nonce+"\n" {
		t.Errorf("pushed image /nonce = %q, want %q", got, nonce)
	}
	if !slices.Contains(histories(t, j.s, j.s.BuildkitHost), nonce) {
		t.Errorf("the stack's buildkitd has no build with NONCE=%s: docker build did not build remotely", nonce)
	}
	r.checkLeftNothing(t)
}

// `docker compose build --push` of a two-service compose file: compose runs
// buildx bake on the job's builder; both images are pushed and both builds
// are in the daemon's history.
func TestBuildxAgentComposeBuild(t *testing.T) {
	j := requireAgent(t)
	d := requireDocker(t)
	repo, nonce := j.s.repo(t), "cb-"+randomHex(t)
	compose := fmt.Sprintf(`services:
  api:
    image: %[1]s-api:cb
    build: {context: api, args: {NONCE: %[2]s-api}}
  web:
    image: %[1]s-web:cb
    build: {context: web, args: {NONCE: %[2]s-web}}
`, repo, nonce)
	dockerfile := "FROM " + j.s.BaseImage + "\nARG NONCE\nRUN echo \"$NONCE\" > /nonce\n"
	r := runBuildxJob(t, j, d, buildxJob{
		files:   map[string]string{"compose.yaml": compose, "api/Dockerfile": dockerfile, "web/Dockerfile": dockerfile},
		cfg:     map[string]any{"buildx": "compose-ci"},
		command: "docker compose build --push",
		logins:  map[string]string{j.s.Registry: j.s.User + ":" + j.s.Pass},
	})
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	if r.builder != "compose-ci" {
		t.Errorf("builder %q, want compose-ci", r.builder)
	}
	built := histories(t, j.s, j.s.BuildkitHost)
	for _, svc := range []string{"api", "web"} {
		if got := j.s.imageFile(t, repo+"-"+svc+":cb", "nonce"); got != nonce+"-"+svc+"\n" {
			t.Errorf("%s: pushed /nonce = %q", svc, got)
		}
		if !slices.Contains(built, nonce+"-"+svc) {
			t.Errorf("%s: not in the stack's buildkitd history", svc)
		}
	}
	r.checkLeftNothing(t)
}

// Two jobs on one HOME at once, each with its own builder: both push, each
// step's `docker buildx ls` shows its own builder and not the other's, and
// pre-exit leaves nothing of either.
func TestBuildxTwoJobsOneHome(t *testing.T) {
	d := requireDocker(t)
	home := t.TempDir()
	jobs := map[string]*agentJob{"alpha": requireAgent(t), "beta": requireAgent(t)}
	runs := map[string]buildxRun{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, j := range jobs {
		wg.Go(func() {
			r := runBuildxJob(t, j, d, buildxJob{
				files:   map[string]string{"Dockerfile": "FROM scratch\nARG NONCE\nCOPY Dockerfile /" + name + "\n"},
				cfg:     map[string]any{"buildx": name},
				command: seeCommand("docker buildx build --push --provenance=false --build-arg NONCE=" + name + "-" + randomHex(t) + " -t " + j.s.repo(t) + ":" + name + " ."),
				logins:  map[string]string{j.s.Registry: j.s.User + ":" + j.s.Pass},
				home:    home,
			})
			mu.Lock()
			runs[name] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	for name, r := range runs {
		other := map[string]string{"alpha": "beta", "beta": "alpha"}[name]
		if r.code != 0 {
			t.Errorf("job %s exited %d:\n%s", name, r.code, r.out)
			continue
		}
		ls, _ := os.ReadFile(filepath.Join(r.dir, "seen-buildx-ls.txt"))
		if !strings.Contains(string(ls), name+"*") || strings.Contains(string(ls), other) {
			t.Errorf("job %s's docker buildx ls:\n%s", name, ls)
		}
		if r.jobDir == runs[other].jobDir {
			t.Errorf("both jobs used %s", r.jobDir)
		}
		r.checkLeftNothing(t)
	}
}

// A push through buildx to an ECR-shaped registry: the helper gets the
// token from ECR (moto) with the job's AWS credentials and caches it 0600
// in tls-dir; no login is written in the job's docker config.
func TestBuildxAgentECR(t *testing.T) {
	j := requireAgent(t)
	d := requireDocker(t)
	repo := j.s.repo(t)
	home := t.TempDir()
	r := runBuildxJob(t, j, d, buildxJob{
		files:   map[string]string{"Dockerfile": "FROM " + j.s.BaseImage + "\nRUN echo ecr > /ecr\n"},
		cfg:     map[string]any{"buildx": true},
		command: seeCommand("docker buildx build --push -t " + repo + ":ecr ."),
		home:    home,
		env:     []string{ecrHosts},
	})
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	if got := j.s.imageFile(t, repo+":ecr", "ecr"); got != "ecr\n" {
		t.Errorf("pushed /ecr = %q", got)
	}
	seen := filepath.Join(r.dir, "seen-docker-config")
	if found := secretsIn(t, seen, ecrPassword, base64.StdEncoding.EncodeToString([]byte("AWS:"+ecrPassword)), `"auths"`); len(found) > 0 {
		t.Errorf("the job's docker config holds logins: %v", found)
	}
	cache := filepath.Join(home, ".buildkit", ".ecr-tokens.json")
	if m := mode(t, cache); m != 0o600 {
		t.Errorf("%s has mode %v, want 0600", cache, m)
	}
	r.checkLeftNothing(t)
}

// Agent-wide mode: the agent's own environment hook runs `remote-buildkit
// environment --buildx` (as the Elastic CI Stack's secrets-bucket env file
// would) and its pre-exit hook `remote-buildkit cleanup`; a step with no
// plugin at all builds remotely, with the user's own docker config login.
func TestBuildxAgentWide(t *testing.T) {
	j := requireAgent(t)
	d := requireDocker(t)
	repo, nonce := j.s.repo(t), "aw-"+randomHex(t)
	hooks := agentWideHooks(t)
	r := runBuildxJob(t, j, d, buildxJob{
		files:   map[string]string{"Dockerfile": "FROM " + j.s.BaseImage + "\nARG NONCE\nRUN echo \"$NONCE\" > /nonce\n"},
		command: "docker buildx build --push --provenance=false --build-arg NONCE=" + nonce + " -t " + repo + ":aw .",
		logins:  map[string]string{j.s.Registry: j.s.User + ":" + j.s.Pass},
		env:     []string{"BUILDKITE_PLUGINS=[]", "BUILDKITE_HOOKS_PATH=" + hooks},
	})
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	if got := j.s.imageFile(t, repo+":aw", "nonce"); got != nonce+"\n" || !slices.Contains(histories(t, j.s, j.s.BuildkitHost), nonce) {
		t.Errorf("pushed /nonce = %q; in the daemon's history: %v", got, slices.Contains(histories(t, j.s, j.s.BuildkitHost), nonce))
	}
	r.checkLeftNothing(t)
}

// Agent-wide mode and the plugin in one job: the agent's hook already uses
// the step's plugin configuration, and the plugin's own environment hook
// rewrites the builder in the same job directory (not a second one); the
// step builds with it and pre-exit leaves nothing.
func TestBuildxAgentWideWithPlugin(t *testing.T) {
	j := requireAgent(t)
	d := requireDocker(t)
	repo := j.s.repo(t)
	hooks := agentWideHooks(t)
	r := runBuildxJob(t, j, d, buildxJob{
		files:   map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"},
		cfg:     map[string]any{"buildx": "from-plugin"},
		command: seeCommand("docker buildx build --push --provenance=false -t " + repo + ":awp ."),
		logins:  map[string]string{j.s.Registry: j.s.User + ":" + j.s.Pass},
		env:     []string{"BUILDKITE_HOOKS_PATH=" + hooks},
	})
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	lines := jobDirLine.FindAllStringSubmatch(r.out, -1)
	if len(lines) != 2 || lines[0][1] != "from-plugin" || lines[1][1] != "from-plugin" || lines[0][3] != lines[1][3] {
		t.Errorf("want the agent's hook, then the plugin's, with builder from-plugin in one job directory: %q", lines)
	}
	ls, _ := os.ReadFile(filepath.Join(r.dir, "seen-buildx-ls.txt"))
	if !strings.Contains(string(ls), "from-plugin*") || strings.Contains(string(ls), "remote-buildkit") {
		t.Errorf("docker buildx ls:\n%s", ls)
	}
	j.s.descriptor(t, repo+":awp")
	r.checkLeftNothing(t)
}

// agentWideHooks is an agent hooks directory whose environment hook runs
// `remote-buildkit environment --buildx` and whose pre-exit runs cleanup.
func agentWideHooks(t *testing.T) string {
	t.Helper()
	hooks := t.TempDir()
	for name, body := range map[string]string{
		"environment": "exports=\"$(\"$REMOTE_BUILDKIT_BIN\" environment --buildx)\" || exit 1\neval \"$exports\"\n",
		"pre-exit":    "\"$REMOTE_BUILDKIT_BIN\" cleanup\n",
	} {
		if err := os.WriteFile(filepath.Join(hooks, name), []byte("#!/bin/bash\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return hooks
}

// hookBuild runs the plugin's environment hook in the job's shell, then cmd
// with its exports, then cleanup (as pre-exit).
func hookBuild(t *testing.T, s *stack, d dockerTools, cfg map[string]any, cmd string, env ...string) hookResult {
	t.Helper()
	user, tmp := d.userConfig(t, map[string]string{s.Registry: s.User + ":" + s.Pass}), t.TempDir()
	r := requireAWS(t).hooks(t, s, hookRun{Cfg: cfg, Dir: writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nARG NONCE\nCOPY Dockerfile /\n"}),
		Env:   append(d.env(t, user, tmp, cmd), env...),
		After: cmd + ` && "$REMOTE_BUILDKIT_BIN" cleanup`})
	if left := buildxDirs(t, tmp); len(left) > 0 {
		t.Errorf("left %v", left)
	}
	return r
}

// A pool: the builder points at the member the plugin's own build of the
// pipeline goes to, and buildx's build runs there.
func TestParallelBuildxPoolMember(t *testing.T) {
	s := requireStack(t)
	d := requireDocker(t)
	ds := startDaemons(t, s, "p1", "p2", "p3")
	var named []map[string]any
	for _, dm := range ds {
		named = append(named, map[string]any{"name": dm.Name, "host": dm.Host})
	}
	slug := "buildx-pool-" + randomHex(t)
	meta := filepath.Join(t.TempDir(), "m.json")
	own := s.run(t, writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"}),
		map[string]any{"tls-dir": s.TLSDir, "nodes": named, "metadata-file": meta}, "BUILDKITE_PIPELINE_SLUG="+slug)
	if own.Code != 0 {
		t.Fatalf("the plugin's own build: %s", own)
	}
	member, _ := readMetadata(t, meta)["remote-buildkit"].(map[string]any)["node"].(string)
	nonce := "pool-" + randomHex(t)
	r := hookBuild(t, s, d, map[string]any{"tls-dir": s.TLSDir, "nodes": named, "buildx": true},
		"docker buildx build --output type=cacheonly --build-arg NONCE="+nonce+" .", "BUILDKITE_PIPELINE_SLUG="+slug)
	if r.Code != 0 {
		t.Fatalf("hooks: %s", r.result)
	}
	for _, dm := range ds {
		if got := slices.Contains(histories(t, s, dm.Host), nonce); got != (dm.Name == member) {
			t.Errorf("daemon %s has the buildx build: %v; the plugin's build went to %s\n%s", dm.Name, got, member, r.Stderr)
		}
	}
	if m := jobDirLine.FindStringSubmatch(r.Stderr); m == nil || !strings.HasPrefix(m[2], member+" → ") {
		t.Errorf("the environment hook's builder line does not name %s:\n%s", member, r.Stderr)
	}
}

// A dns:// fleet: the builder's node is the pipeline's member (by
// rendezvous rank on an idle fleet, as the plugin's own build), reached at
// its IP with the fleet's name as the TLS server name.
func TestParallelBuildxDNSFleetMember(t *testing.T) {
	s := requireStack(t)
	d := requireDocker(t)
	e := newFleetEnv(t)
	for _, ip := range fleetIPs {
		e.startDaemon(ip)
	}
	slug := "buildx-fleet-" + randomHex(t)
	meta := filepath.Join(t.TempDir(), "m.json")
	own := s.run(t, writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"}),
		e.hostConfig(map[string]any{"metadata-file": meta}), "BUILDKITE_PIPELINE_SLUG="+slug)
	if own.Code != 0 {
		t.Fatalf("the plugin's own build: %s", own)
	}
	host, _ := readMetadata(t, meta)["remote-buildkit"].(map[string]any)["buildkit_host"].(string)
	if want := fleet.Ordered(fleet.Key(slug, "Dockerfile"), e.members())[0].Host; host != want {
		t.Fatalf("the plugin's build went to %s, its rendezvous winner is %s", host, want)
	}
	nonce := "fleet-" + randomHex(t)
	r := hookBuild(t, s, d, e.hostConfig(map[string]any{"buildx": true}),
		"docker buildx build --output type=cacheonly --build-arg NONCE="+nonce+" .", "BUILDKITE_PIPELINE_SLUG="+slug)
	if r.Code != 0 {
		t.Fatalf("hooks: %s", r.result)
	}
	for _, m := range e.members() {
		tls := []string{"--tlsdir", e.ClientDir, "--tlsservername", fleetName}
		if got := slices.Contains(histories(t, s, m.Host, tls...), nonce); got != (m.Host == host) {
			t.Errorf("member %s has the buildx build: %v; the plugin's build went to %s", m.Host, got, host)
		}
	}
}

// Split nodes: one builder with one buildx node per platform; a
// two-platform `docker buildx build --push` builds each platform on its
// node and pushes one index.
func TestParallelBuildxSplitNodes(t *testing.T) {
	s := requireStack(t)
	d := requireDocker(t)
	ds := startDaemons(t, s, "amd", "arm")
	repo, nonce := s.repo(t), "split-"+randomHex(t)
	nodes := []map[string]any{
		{"name": "amd", "host": ds[0].Host, "platforms": []string{"linux/amd64"}},
		{"name": "arm", "host": ds[1].Host, "platforms": []string{"linux/arm64"}},
	}
	dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(splitDockerfile, s.BaseImage, "true")})
	user, tmp := d.userConfig(t, map[string]string{s.Registry: s.User + ":" + s.Pass}), t.TempDir()
	cmd := "docker buildx build --platform linux/amd64,linux/arm64 --push --provenance=false --build-arg NONCE=" + nonce + " -t " + repo + ":split ."
	r := requireAWS(t).hooks(t, s, hookRun{Cfg: map[string]any{"tls-dir": s.TLSDir, "nodes": nodes, "buildx": true}, Dir: dir,
		Env: d.env(t, user, tmp, cmd), After: cmd + ` && "$REMOTE_BUILDKIT_BIN" cleanup`})
	if r.Code != 0 {
		t.Fatalf("hooks: %s", r.result)
	}
	m := jobDirLine.FindStringSubmatch(r.Stderr)
	if m == nil || m[2] != "amd → "+ds[0].Host+" (linux/amd64); arm → "+ds[1].Host+" (linux/arm64)" {
		t.Errorf("builder nodes: %q", m)
	}
	if got := platformsBuilt(t, s, ds[0].Host); strings.Join(got, ",") != "linux/amd64" {
		t.Errorf("node amd built %v, want only linux/amd64", got)
	}
	if got := platformsBuilt(t, s, ds[1].Host); strings.Join(got, ",") != "linux/arm64" {
		t.Errorf("node arm built %v, want only linux/arm64", got)
	}
	idx, err := s.descriptor(t, repo+":split").ImageIndex()
	if err != nil {
		t.Fatalf("%s:split is not an index: %v", repo, err)
	}
	im, _ := idx.IndexManifest()
	var ps []string
	for _, md := range im.Manifests {
		ps = append(ps, md.Platform.String())
	}
	slices.Sort(ps)
	if strings.Join(ps, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("index platforms %v", ps)
	}
}

// A missing or bad TLS set-up fails the environment hook with the build's
// own one-line error and exit code, and leaves nothing behind.
func TestBuildxTLSErrorsAsABuild(t *testing.T) {
	s := requireStack(t)
	d := requireDocker(t)
	tests := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"tls files missing", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": t.TempDir()}, "TLS files missing in"},
		{"wrong server name", map[string]any{"buildkit-host": s.BuildkitHost, "tls-dir": s.TLSDir, "tls-server-name": "wrong.example"}, "wrong.example"},
		{"no certificates for a TLS daemon", map[string]any{"buildkit-host": s.BuildkitHost}, "expects TLS"},
	}
	// The build runs itself again after an unreachable daemon (retries); the
	// hook has no build to run again, so the build's line ends "; retried 1 time".
	retried := regexp.MustCompile(`; retried \d+ times?$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			build := s.run(t, writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"}), tt.cfg, "HOME="+home)
			cfg := map[string]any{"buildx": true}
			for k, v := range tt.cfg {
				cfg[k] = v
			}
			tmp := t.TempDir()
			r := requireAWS(t).hooks(t, s, hookRun{Cfg: cfg, Home: home, Env: append(d.env(t, t.TempDir(), tmp, "docker buildx build ."), "-BUILDKITE_PLUGIN_S3_SECRETS_BUCKET")})
			want, got := errorLines(build.Stderr), errorLines(r.Stderr)
			for i := range want {
				want[i] = retried.ReplaceAllString(want[i], "")
			}
			if len(got) != 1 || !slices.Equal(got, want) || r.Code != build.Code || r.Code != 3 || !strings.Contains(got[0], tt.want) {
				t.Errorf("environment hook: exit %d %q; the build: exit %d %q; want the same single line with %q, exit 3", r.Code, got, build.Code, want, tt.want)
			}
			if left := buildxDirs(t, tmp); len(left) > 0 || strings.Contains(r.Exports, "BUILDX") {
				t.Errorf("a failed set-up left %v, exports %q", left, r.Exports)
			}
		})
	}
}

// diagnose checks the builder it would register: the node answers buildx's
// remote driver with the TLS files of tls-dir, and lists its platforms.
func TestBuildxDiagnose(t *testing.T) {
	s := requireStack(t)
	rep, r := diag(t, s, s.baseConfig(map[string]any{"buildx": true}))
	st, found, fix := rep.check(t, "buildx")
	if st != "PASS" || r.Code != 0 {
		t.Fatalf("buildx = %s %q (fix %q); exit %d", st, found, fix, r.Code)
	}
	wantAll(t, "buildx check", found, "builder remote-buildkit (remote driver)", s.BuildkitHost, "BuildKit v0.34.2", "linux/amd64",
		"cacert="+filepath.Join(s.TLSDir, "ca.pem"), "cert="+filepath.Join(s.TLSDir, "cert.pem"))
	rep, r = diag(t, s, s.baseConfig(map[string]any{"buildx": true, "tls-server-name": "wrong.example"}))
	if st, found, _ := rep.check(t, "buildx"); st != "FAIL" || r.Code != 1 || !strings.Contains(found, "wrong.example") {
		t.Errorf("with a wrong server name: buildx = %s %q; exit %d", st, found, r.Code)
	}
}
