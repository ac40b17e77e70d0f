package integration

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hostileRun is one job of a checkout with a hostile bake file, run by the
// real agent through the hooks, and what it changed.
type hostileRun struct {
	e2eRun
	solved   bool   // the daemon's history has a build of this job's nonce
	sentinel string // HOME/sentinel after the job ("" = gone)
	outside  map[string]string
}

// hostileCase is a bake file's target body attacking the agent, and the
// step's option granting it on purpose.
type hostileCase struct {
	name   string
	target string            // the target's attributes; OUT is the outside directory, REPO a fresh repository
	files  map[string]string // more checkout files
	link   string            // "app" committed as a symlink to OUT/ctx when set
	env    []string          // more job variables
	step   map[string]any    // more step options, in both runs
	want   string            // in the one-line error
	grant  map[string]any    // the step options that grant it
}

// runHostile commits the bake file (and the link) into a checkout, runs the
// job with cfg and reports what it changed outside the checkout.
func runHostile(t *testing.T, j *agentJob, tc hostileCase, out, repo string, cfg map[string]any) hostileRun {
	t.Helper()
	nonce := fmt.Sprintf("hostile-%d", rand.Int64())
	body := strings.NewReplacer("OUT", out, "REPO", repo).Replace(tc.target)
	files := map[string]string{
		"docker-bake.hcl": "target \"app\" {\n  args = { NONCE = \"" + nonce + "\" }\n" + body + "\n}\n",
		"Dockerfile":      "FROM " + j.s.BaseImage + "\nARG NONCE\nRUN echo $NONCE > /nonce\n",
	}
	for k, v := range tc.files {
		files[k] = v
	}
	src, commit := j.checkout(files)
	if tc.link != "" {
		commit = commitLink(t, src, tc.link, filepath.Join(out, "ctx"))
	}
	env := j.env(src, commit, cfg, tc.env...)
	home := ""
	for _, kv := range env {
		if h, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = h
		}
	}
	if err := os.WriteFile(filepath.Join(home, "sentinel"), []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, log := j.bootstrap(env)
	cmd.Run()
	r := hostileRun{e2eRun: e2eRun{out: log.String(), code: cmd.ProcessState.ExitCode()}, outside: treeSnapshot(t, out)}
	b, _ := os.ReadFile(filepath.Join(home, "sentinel"))
	r.sentinel = string(b)
	r.solved = slices.Contains(histories(t, j.s, j.s.BuildkitHost), nonce)
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "BUILDKITE_BUILD_PATH="); ok {
			r.dir = filepath.Join(p, "e2e-agent", "e2e", pipelineSlug)
		}
	}
	return r
}

// commitLink commits name, a symlink to target, into the checkout src.
func commitLink(t *testing.T, src, name, target string) string {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", src, "-c", "user.name=ci", "-c", "user.email=ci@example.com"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("add", "-A")
	git("commit", "-q", "-m", "link")
	return git("rev-parse", "HEAD")
}

// outsideDir is a directory outside every checkout: a secret, a context
// and a sentinel.
func outsideDir(t *testing.T) string {
	out := t.TempDir()
	for name, body := range map[string]string{"key.pem": "OUTSIDE-SECRET-KEY", "ctx/Dockerfile": "FROM scratch\nCOPY key.txt /\n", "ctx/key.txt": "OUTSIDE-CONTEXT-FILE", "sentinel": "untouched"} {
		os.MkdirAll(filepath.Dir(filepath.Join(out, name)), 0o755)
		if err := os.WriteFile(filepath.Join(out, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func hostileCases(t *testing.T, out string) []hostileCase {
	fork := []string{"BUILDKITE_PULL_REQUEST=7", "BUILDKITE_PULL_REQUEST_REPO=https://github.com/fork/app.git"}
	return []hostileCase{
		{name: "secret src outside", target: `  secret = ["id=k,src=OUT/key.pem"]`,
			want:  `bake target app: secret k src ` + out + `/key.pem is outside the checkout: add allow: ["fs.read=` + out + `/key.pem"] to the step`,
			grant: map[string]any{"allow": []string{"fs.read=" + out + "/key.pem"}}},
		{name: "absolute contexts outside", target: `  contexts = { x = "OUT/ctx" }`,
			want:  `bake target app: contexts x ` + out + `/ctx is outside the checkout: add allow: ["fs.read=` + out + `/ctx"] to the step`,
			grant: map[string]any{"allow": []string{"fs.read=" + out + "/ctx"}}},
		{name: "local output outside", target: `  output = ["type=local,dest=OUT/written"]`,
			want:  `bake target app: output dest ` + out + `/written is outside the checkout: add allow: ["fs.write=` + out + `"] to the step`,
			grant: map[string]any{"allow": []string{"fs.write=" + out}}},
		{name: "ssh", target: `  ssh = ["default"]`, env: []string{"SSH_AUTH_SOCK=" + sshAgent(t)},
			want: `bake target app: ssh forwards the job's ssh-agent to the build: add allow: ["ssh"] to the step`, grant: map[string]any{"allow": []string{"ssh"}}},
		{name: "entitlements network.host", target: `  entitlements = ["network.host"]`,
			want: `bake target app: entitlements network.host is not granted by the step: add allow: ["network.host"] to the step`, grant: map[string]any{"allow": []string{"network.host"}}},
		{name: "context symlink outside", target: `  context = "app"`, link: "app",
			want:  `bake target app: context `, // the checkout's path is the agent's
			grant: map[string]any{"allow": []string{"fs.read=" + out + "/ctx"}}},
		{name: "mode delete output", target: `  output = ["type=local,dest=dist,mode=delete"]`, files: map[string]string{"dist/keep.txt": "kept"},
			want: `bake target app: output type=local,mode=delete deletes what else is in its dest: add allow: ["buildx.local.delete"] to the step`, grant: map[string]any{"allow": []string{"buildx.local.delete"}}},
		{name: "secret from the agent token", target: `  secret = ["id=t,env=BUILDKITE_AGENT_ACCESS_TOKEN"]`,
			want:  `bake target app: secret t reads BUILDKITE_AGENT_ACCESS_TOKEN, a secret variable of the job: add bake-env: ["BUILDKITE_AGENT_ACCESS_TOKEN"] to the step to pass it`,
			grant: map[string]any{"bake-env": []string{"BUILDKITE_AGENT_ACCESS_TOKEN"}}},
		{name: "tag to a forbidden repository from a fork", target: `  tags = ["REPO:evil"]`, env: fork, step: map[string]any{"push": true},
			want: `from a pull request of another repository: add allow: ["image.push=`, grant: map[string]any{"allow": []string{"image.push=REPO"}}},
		{name: "registry output to a forbidden repository from a fork", target: "  tags = [\"REPO:evil\"]\n  output = [\"type=registry,name=REPO:evil\"]", env: fork, step: map[string]any{"push": true},
			want: `bake target app: output type=registry pushes `, grant: map[string]any{"allow": []string{"image.push=REPO"}}},
		{name: "registry output with push false", target: "  tags = [\"REPO:evil\"]\n  output = [\"type=registry,name=REPO:evil\"]",
			want: `but the step has push: false (which always wins): set push: true in the step`, grant: map[string]any{"push": true}},
	}
}

// A bake file in the checkout asking for what the step did not grant fails
// before anything reaches the daemon, with one line naming what to add;
// with that option in the step it builds.
func TestParallelHostileBakeRefused(t *testing.T) {
	j := requireAgent(t)
	out := outsideDir(t)
	for _, tc := range hostileCases(t, out) {
		t.Run(tc.name, func(t *testing.T) {
			repo := j.s.repo(t)
			before := treeSnapshot(t, out)
			step := map[string]any{"bake": "docker-bake.hcl", "targets": "app"}
			for k, v := range tc.step {
				step[k] = v
			}
			r := runHostile(t, j, tc, out, repo, step)
			if r.code != 2 || !strings.Contains(r.out, tc.want) {
				t.Errorf("job exited %d (want 2 and %q):\n%s", r.code, tc.want, tail(r.out))
			}
			for _, l := range strings.Split(r.out, "\n") {
				if strings.Contains(l, "bake target app:") && !strings.Contains(l, "outside the checkout") && !strings.Contains(l, "add allow") && !strings.Contains(l, "push: true") && !strings.Contains(l, "add bake-env") {
					t.Errorf("the error is not one line naming the fix: %q", l)
				}
			}
			if r.solved {
				t.Errorf("a solve of this job is in the daemon's history: the bake file reached the daemon")
			}
			if r.sentinel != "untouched" || !sameTree(before, r.outside) {
				t.Errorf("outside the checkout changed: HOME/sentinel %q, %s has %v", r.sentinel, out, slices.Sorted(maps.Keys(r.outside)))
			}
			if !j.s.repoMissing(t, repo) {
				t.Errorf("the registry has %s: %v", repo, j.s.tags(t, repo))
			}
			if _, err := os.Stat(filepath.Join(r.dir, "dist", "keep.txt")); tc.files["dist/keep.txt"] != "" && err != nil {
				t.Errorf("mode=delete deleted dist/keep.txt: %v", err)
			}

			grant := step
			for k, v := range tc.grant {
				if l, ok := v.([]string); ok {
					v = []string{strings.ReplaceAll(l[0], "REPO", repo)}
				}
				grant[k] = v
			}
			g := runHostile(t, j, tc, out, repo, grant)
			if tc.name == "entitlements network.host" {
				// The step grants it; the stack's daemon does not
				// (--allow-insecure-entitlement): the daemon refuses.
				if strings.Contains(g.out, "bake target app:") {
					t.Errorf("with allow: [network.host] the step still refuses it:\n%s", tail(g.out))
				}
				return
			}
			if g.code != 0 || !g.solved {
				t.Errorf("with %v the job exited %d (solved %v):\n%s", tc.grant, g.code, g.solved, tail(g.out))
			}
		})
	}
}

// Bake variables and compose interpolation never see the agent's token or
// the job's secret-looking variables; bake-env passes one on purpose.
func TestParallelHostileBakeEnvironment(t *testing.T) {
	j := requireAgent(t)
	for _, file := range []string{"docker-bake.hcl", "compose.yaml"} {
		t.Run(file, func(t *testing.T) {
			repo := j.s.repo(t)
			files := map[string]string{
				"docker-bake.hcl": `variable "BUILDKITE_AGENT_ACCESS_TOKEN" { default = "none" }
variable "DEPLOY_PASSWORD" { default = "none" }
target "default" {
  args = { T = BUILDKITE_AGENT_ACCESS_TOKEN, P = DEPLOY_PASSWORD }
  tags = ["` + repo + `:app"]
}
`,
				"compose.yaml": "services:\n  app:\n    image: " + repo + ":app\n    build:\n      context: .\n      args: {T: \"${BUILDKITE_AGENT_ACCESS_TOKEN:-none}\", P: \"${DEPLOY_PASSWORD:-none}\"}\n",
				"Dockerfile":   "FROM " + j.s.BaseImage + "\nARG T\nARG P\nRUN echo \"$T $P\" > /leak\n",
			}
			for _, c := range []struct {
				cfg  map[string]any
				want string
			}{
				{map[string]any{"bake": file, "push": true}, "none none\n"},
				{map[string]any{"bake": file, "push": true, "bake-env": []string{"DEPLOY_PASSWORD"}}, "none hunter2\n"},
			} {
				r := runE2E(t, j, files, c.cfg, "DEPLOY_PASSWORD=hunter2")
				if r.code != 0 {
					t.Fatalf("job exited %d:\n%s", r.code, tail(r.out))
				}
				if got := j.s.imageFile(t, repo+":app", "leak"); got != c.want {
					t.Errorf("%v: /leak = %q, want %q (e2e-token is the agent's token)", c.cfg, got, c.want)
				}
				img, err := j.s.descriptor(t, repo+":app").Image()
				if err != nil {
					t.Fatal(err)
				}
				for path, b := range layerFiles(t, img) {
					if strings.Contains(string(b), "e2e-token") {
						t.Errorf("%v: the agent's token is in the image's layers, in %s", c.cfg, path)
					}
				}
			}
		})
	}
}

// tail is the end of a job log.
func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
