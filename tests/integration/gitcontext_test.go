package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext/gitcontexttest"
)

// gitJob is a job's checkout of a repository on the test's git servers.
type gitJob struct {
	dir, commit, name string
}

// newGitJob commits files (plus a file unique to this call, so the daemon
// has never fetched the commit) and publishes the repository.
func newGitJob(t *testing.T, g *gitServers, files map[string]string) gitJob {
	t.Helper()
	all := map[string]string{"unique.txt": fmt.Sprint(rand.Int64())}
	for k, v := range files {
		all[k] = v
	}
	dir, commit := gitcontexttest.New(t, 1700000000, all)
	return gitJob{dir: dir, commit: commit, name: g.publish(t, dir)}
}

// env is the job's environment for a repository at remote.
func (j gitJob) env(remote string, extra ...string) []string {
	return append([]string{"BUILDKITE_REPO=" + remote, "BUILDKITE_COMMIT=" + j.commit, "BUILDKITE_PIPELINE_SLUG=git-it"}, extra...)
}

// outFile reads a file of a type=local output.
func outFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("output %s: %v", name, err)
	}
	return strings.TrimSpace(string(b))
}

// bigRepo is a 50 MB repository: 500 incompressible 100 KB files under
// app/data, an ignored file, and a Dockerfile outside the context that
// reports what the context held.
func bigRepo(base string) map[string]string {
	files := map[string]string{
		"app/.dockerignore": "ignored.txt\n",
		"app/ignored.txt":   "must not reach the image\n",
		"docker/Dockerfile": "FROM " + base + " AS b\nCOPY . /src\n" +
			"RUN du -sk /src/data | cut -f1 > /kb && ls /src/data | wc -l > /count && (test -e /src/ignored.txt && echo present || echo absent) > /ignored\n" +
			"FROM scratch\nCOPY --from=b /kb /count /ignored /\n",
	}
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	buf := make([]byte, 100<<10)
	for i := range 500 {
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		files[fmt.Sprintf("app/data/f%03d.bin", i)] = string(buf)
	}
	return files
}

// git-context builds the commit with the daemon fetching the 50 MB
// repository itself: the client sends at most 60 KB (TLS, gRPC, the LLB
// and the session), the context directory and the .dockerignore apply, and
// the Dockerfile outside the context is read from the repository. The same
// build uploading the checkout sends the 50 MB through the same counter.
func TestGitContextUploadsNothing(t *testing.T) {
	s := requireStack(t)
	g := requireGitServers(t)
	job := newGitJob(t, g, bigRepo(s.BaseImage))
	counter := startByteCounter(t, s.BuildkitHost)
	out := t.TempDir()
	cfg := map[string]any{"buildkit-host": counter.Host, "tls-dir": s.TLSDir, "git-context": true,
		"context": "app", "dockerfile": "docker/Dockerfile", "outputs": "type=local,dest=" + out}
	r := s.run(t, job.dir, cfg, job.env(g.URL+"/"+job.name+".git")...)
	if r.Code != 0 {
		t.Fatalf("git-context build: %s", r)
	}
	sent := counter.Sent(t)
	t.Logf("git-context: client → daemon %d bytes for a 50 MB repository (%s)", sent, r.Elapsed.Round(1e6))
	if sent > 60<<10 {
		t.Errorf("git-context sent %d bytes to the daemon, want ≤ 60 KB", sent)
	}
	if kb, _ := strconv.Atoi(outFile(t, out, "kb")); kb < 50000 || outFile(t, out, "count") != "500" || outFile(t, out, "ignored") != "absent" {
		t.Errorf("the image's context: %s KB in %s files, ignored.txt %s; want ≥ 50000 KB, 500 files, absent",
			outFile(t, out, "kb"), outFile(t, out, "count"), outFile(t, out, "ignored"))
	}
	if want := "git-context: the daemon fetches " + g.URL + "/" + job.name + ".git#" + job.commit + ":app"; !strings.Contains(r.Stdout, want) {
		t.Errorf("the log does not say %q:\n%s", want, r.Stdout)
	}

	counter.Reset()
	delete(cfg, "git-context")
	cfg["outputs"] = "type=local,dest=" + t.TempDir()
	if r := s.run(t, job.dir, cfg, job.env(g.URL+"/"+job.name+".git")...); r.Code != 0 {
		t.Fatalf("upload build: %s", r)
	}
	uploaded := counter.Sent(t)
	t.Logf("upload: client → daemon %d bytes", uploaded)
	if uploaded < 500*100<<10 {
		t.Errorf("the upload build sent %d bytes through the counter, want the 50 MB context", uploaded)
	}
}

// smallRepo is a context whose image holds what the job and the commit say.
func smallRepo(base string) map[string]string {
	return map[string]string{
		"Dockerfile": "FROM " + base + "\nCOPY msg.txt /msg.txt\nRUN cat /msg.txt > /out\n",
		"msg.txt":    "from the repository\n",
	}
}

// ssh URLs: the daemon's git fetches through the job's ssh-agent. An agent
// without the key is refused: exit 2, naming the repository and the fix.
func TestGitContextSSHAgent(t *testing.T) {
	s := requireStack(t)
	g := requireGitServers(t)
	job := newGitJob(t, g, smallRepo(s.BaseImage))
	remote := g.SSHURL + "/" + job.name + ".git"
	out := t.TempDir()
	cfg := s.baseConfig(map[string]any{"git-context": true, "outputs": "type=local,dest=" + out})

	r := s.run(t, job.dir, cfg, job.env(remote, "SSH_AUTH_SOCK="+sshAgent(t))...)
	if r.Code != 2 || !strings.Contains(r.Stderr, "git-context: the daemon could not fetch") ||
		!strings.Contains(r.Stderr, "the job's ssh-agent (SSH_AUTH_SOCK) holds a key that may read it") {
		t.Errorf("an agent without the key: want exit 2 naming the ssh-agent, got %s", r)
	}
	r = s.run(t, job.dir, cfg, job.env(remote, "SSH_AUTH_SOCK="+sshAgent(t, g.SSHKey))...)
	if r.Code != 0 || outFile(t, out, "out") != "from the repository" {
		t.Fatalf("with the key in the agent: %s", r)
	}
}

// https (here http) URLs: the token in the variable token-env names goes to
// the daemon's git for that host; a wrong or missing token is exit 2.
func TestGitContextToken(t *testing.T) {
	s := requireStack(t)
	g := requireGitServers(t)
	job := newGitJob(t, g, smallRepo(s.BaseImage))
	remote := g.HTTPURL + "/" + job.name + ".git"
	out := t.TempDir()
	cfg := s.baseConfig(map[string]any{"git-context": map[string]any{"token-env": "REPO_TOKEN"}, "outputs": "type=local,dest=" + out})

	r := s.run(t, job.dir, cfg, job.env(remote, "REPO_TOKEN=wrong")...)
	if r.Code != 2 || !strings.Contains(r.Stderr, "refused the token in $REPO_TOKEN") {
		t.Errorf("a wrong token: want exit 2 naming REPO_TOKEN, got %s", r)
	}
	delete(cfg, "git-context")
	cfg["git-context"] = true
	r = s.run(t, job.dir, cfg, job.env(remote)...)
	if r.Code != 2 || !strings.Contains(r.Stderr, "give a token (GIT_AUTH_TOKEN, or the variable git-context.token-env names)") {
		t.Errorf("no token: want exit 2 asking for one, got %s", r)
	}
	r = s.run(t, job.dir, cfg, job.env(remote, "GIT_AUTH_TOKEN="+g.HTTPToken)...)
	if r.Code != 0 || outFile(t, out, "out") != "from the repository" {
		t.Fatalf("GIT_AUTH_TOKEN: %s", r)
	}
	if strings.Contains(r.Stdout+r.Stderr, g.HTTPToken) {
		t.Error("the token is in the job's log")
	}
}

// What git-context refuses, each in one line before anything is built:
// exit 3 when the daemon cannot reach the git server, 2 for the
// configuration (a repository or commit the server lacks, a local path, no
// BUILDKITE_COMMIT, a context outside the checkout).
func TestGitContextErrors(t *testing.T) {
	s := requireStack(t)
	g := requireGitServers(t)
	job := newGitJob(t, g, smallRepo(s.BaseImage))
	unpushed := gitcontexttest.Commit(t, job.dir, 1700000001, map[string]string{"msg.txt": "not pushed\n"})
	outside := t.TempDir()
	gitcontexttest.WriteFiles(t, outside, map[string]string{"Dockerfile": "FROM scratch\n"})
	remote := g.URL + "/" + job.name + ".git"
	tests := []struct {
		name string
		cfg  map[string]any
		env  []string
		code int
		want string
	}{
		{"unreachable git server", nil, []string{"BUILDKITE_REPO=git://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/" + job.name + ".git"},
			3, "git-context: the daemon could not fetch git://127.0.0.1:"},
		{"repository the server lacks", nil, []string{"BUILDKITE_REPO=" + g.URL + "/no-such-repo.git"},
			2, "git-context: the daemon could not fetch " + g.URL + "/no-such-repo.git at " + job.commit},
		{"commit not pushed", nil, []string{"BUILDKITE_COMMIT=" + unpushed},
			2, "(the repository does not have the commit: push it"},
		{"local path", nil, []string{"BUILDKITE_REPO=" + job.dir},
			2, "git-context: BUILDKITE_REPO " + job.dir + " is not a URL the daemon can fetch"},
		{"no commit", nil, []string{"-BUILDKITE_COMMIT"},
			2, "git-context: BUILDKITE_COMMIT is not set"},
		{"context outside the checkout", map[string]any{"context": outside}, nil,
			2, "context: " + outside + " is outside the checkout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			cfg := s.baseConfig(map[string]any{"git-context": true, "outputs": "type=local,dest=" + out})
			for k, v := range tt.cfg {
				cfg[k] = v
			}
			r := s.run(t, job.dir, cfg, mergeEnv(job.env(remote), tt.env)...)
			last := lastLine(r.Stderr)
			if r.Code != tt.code || !strings.Contains(last, tt.want) {
				t.Errorf("want exit %d and a last line with %q, got exit %d, %q\n%s", tt.code, tt.want, r.Code, last, r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("the output was written")
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// The same through the real buildkite-agent: the agent clones the 50 MB
// repository from the git server, the plugin's hooks run, and the build
// still sends at most 60 KB to the daemon.
func TestAgentE2EGitContext(t *testing.T) {
	j := requireAgent(t)
	g := requireGitServers(t)
	job := newGitJob(t, g, bigRepo(j.s.BaseImage))
	counter := startByteCounter(t, j.s.BuildkitHost)
	out := t.TempDir()
	cfg := map[string]any{"buildkit-host": counter.Host, "git-context": true, "context": "app", "dockerfile": "docker/Dockerfile",
		"outputs": "type=local,dest=" + out}
	cmd, log := j.bootstrap(j.env(g.URL+"/"+job.name+".git", job.commit, cfg))
	if err := cmd.Run(); err != nil {
		t.Fatalf("job failed: %v\n%s", err, log.String())
	}
	sent := counter.Sent(t)
	t.Logf("git-context through the agent: client → daemon %d bytes for a 50 MB repository", sent)
	if sent > 60<<10 {
		t.Errorf("the job sent %d bytes to the daemon, want ≤ 60 KB", sent)
	}
	if outFile(t, out, "count") != "500" || outFile(t, out, "ignored") != "absent" {
		t.Errorf("the image's context: %s files, ignored.txt %s; want 500, absent", outFile(t, out, "count"), outFile(t, out, "ignored"))
	}
	wantAll(t, "job log", log.String(), "git-context: the daemon fetches "+g.URL+"/"+job.name+".git#"+job.commit+":app")
}

// git-context for every image of the step: each bake target's context and
// Dockerfile come from the commit; and a call other than build reads the
// Dockerfile from the repository too.
func TestParallelGitContextBakeAndCall(t *testing.T) {
	s := requireStack(t)
	g := requireGitServers(t)
	outA, outB := t.TempDir(), t.TempDir()
	job := newGitJob(t, g, map[string]string{
		"docker-bake.hcl": `group "default" { targets = ["a", "b"] }
target "a" {
  context = "images/a"
  output  = ["type=local,dest=` + outA + `"]
}
target "b" {
  context    = "images/b"
  dockerfile = "build.Dockerfile"
  output     = ["type=local,dest=` + outB + `"]
}
`,
		"images/a/Dockerfile":       "FROM scratch AS release\nCOPY a.txt /\n",
		"images/a/a.txt":            "a from git\n",
		"images/b/build.Dockerfile": "FROM scratch\nCOPY b.txt /\n",
		"images/b/b.txt":            "b from git\n",
	})
	env := job.env(g.URL + "/" + job.name + ".git")
	// The outputs are outside the checkout: the step grants them (bake's fs.write).
	r := s.run(t, job.dir, s.baseConfig(map[string]any{"git-context": true, "bake": "docker-bake.hcl", "allow": []string{"fs.write=" + outA, "fs.write=" + outB}}), env...)
	if r.Code != 0 {
		t.Fatalf("bake: %s", r)
	}
	if outFile(t, outA, "a.txt") != "a from git" || outFile(t, outB, "b.txt") != "b from git" {
		t.Errorf("bake outputs: a.txt %q, b.txt %q", outFile(t, outA, "a.txt"), outFile(t, outB, "b.txt"))
	}
	for _, want := range []string{":images/a; nothing of the context", ":images/b; nothing of the context"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("the log does not say the daemon fetches %q:\n%s", want, r.Stdout)
		}
	}
	r = s.run(t, job.dir, s.baseConfig(map[string]any{"git-context": true, "context": "images/a", "call": "targets"}), env...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "release") {
		t.Errorf("call: targets should list the stage release of the repository's Dockerfile: %s", r)
	}
}
