package integration

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/insights"
)

// e2eRun is one job run to the end by the real `buildkite-agent bootstrap`.
type e2eRun struct {
	dir  string // the job's checkout, where the command hook ran
	out  string // the job log
	code int
	took time.Duration
}

// runE2E checks files in, runs a job with the plugin configured as cfg and
// returns what it left.
func runE2E(t *testing.T, j *agentJob, files map[string]string, cfg map[string]any, extraEnv ...string) e2eRun {
	t.Helper()
	src, commit := j.checkout(files)
	return runCommit(t, j, src, commit, cfg, extraEnv...)
}

// runCommit runs a job of commit in the repository src.
func runCommit(t *testing.T, j *agentJob, src, commit string, cfg map[string]any, extraEnv ...string) e2eRun {
	t.Helper()
	env := j.env(src, commit, cfg, extraEnv...)
	cmd, out := j.bootstrap(env)
	start := time.Now()
	cmd.Run()
	r := e2eRun{out: out.String(), code: cmd.ProcessState.ExitCode(), took: time.Since(start)}
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "BUILDKITE_BUILD_PATH="); ok {
			r.dir = filepath.Join(p, "e2e-agent", "e2e", pipelineSlug) // the agent's checkout path
		}
	}
	t.Logf("bootstrap exited %d after %s", r.code, r.took.Round(time.Millisecond))
	return r
}

// metaData is every meta-data key → value the job set.
func (j *agentJob) metaData() map[string]string {
	keys := map[string]string{}
	for _, r := range j.requests() {
		if strings.HasSuffix(r.Path, "/data/set") {
			var kv struct{ Key, Value string }
			json.Unmarshal(r.Body, &kv)
			keys[kv.Key] = kv.Value
		}
	}
	return keys
}

// artifacts are the paths of every artifact batch the agent created and,
// of those, the form fields of each upload that reached the stub, by path.
func (j *agentJob) artifacts() (batched []string, uploaded map[string]map[string]string) {
	uploaded = map[string]map[string]string{}
	for _, r := range j.requests() {
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/artifacts"):
			var b struct{ Artifacts []struct{ Path string } }
			json.Unmarshal(r.Body, &b)
			for _, a := range b.Artifacts {
				batched = append(batched, a.Path)
			}
		case r.Path == "/upload":
			var form map[string]string
			json.Unmarshal(r.Body, &form)
			uploaded[form["path"]] = form
		}
	}
	return batched, uploaded
}

// oneAnnotation is the body of the job's single annotation, of style.
func (j *agentJob) oneAnnotation(t *testing.T, style string) string {
	t.Helper()
	anns := j.annotations()
	if len(anns) != 1 || anns[0]["context"] != "remote-buildkit" || anns[0]["style"] != style {
		t.Fatalf("want one %s annotation in context remote-buildkit, got %v", style, anns)
	}
	body, _ := anns[0]["body"].(string)
	return body
}

// wantAll reports each of wants missing from text.
func wantAll(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

const (
	timelineArtifact = ".remote-buildkit/timeline.svg"
	timelineImg      = `<img src="artifact://` + timelineArtifact + `"`
	slowestHeader    = "| Slowest steps | "
)

// The bake of README's "Several images" through the real agent: variables
// from the job's environment, a group of three targets — two platforms, a
// target stage with args, one inheriting it FROM the first through a
// target: context — pushed to the registry with their content; bake's
// metadata file in the checkout; meta-data per target with the registry's
// digest; one annotation naming every target; the lanes' timeline and a
// record per target as artifacts.
func TestParallelAgentE2EBake(t *testing.T) {
	j := requireAgent(t)
	repo := j.s.repo(t)
	files := map[string]string{
		"docker-bake.hcl": `
variable "REPO" {}
variable "TAG" { default = "dev" }
group "default" { targets = ["base", "app", "tool"] }
target "base" {
  context   = "images/base"
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = ["${REPO}:base-${TAG}"]
}
target "app" {
  context = "images/app"
  target  = "release"
  args    = { MESSAGE = "app built by the agent" }
  tags    = ["${REPO}:app-${TAG}"]
}
target "tool" {
  inherits = ["app"]
  context  = "images/tool"
  contexts = { base = "target:base" }
  tags     = ["${REPO}:tool-${TAG}"]
}
`,
		"images/base/Dockerfile": "FROM scratch\nCOPY base.txt /\n",
		"images/base/base.txt":   "base through the agent\n",
		"images/app/Dockerfile": "FROM " + j.s.BaseImage + " AS compile\nARG MESSAGE\nRUN echo \"$MESSAGE\" > /message\n" +
			"FROM scratch AS release\nCOPY --from=compile /message /message\nFROM scratch AS debug\n",
		"images/tool/Dockerfile": "FROM base AS release\nARG MESSAGE\nCOPY tool.txt /\n",
		"images/tool/tool.txt":   "tool through the agent\n",
	}
	r := runE2E(t, j, files, map[string]any{"bake": "docker-bake.hcl", "push": true, "metadata-file": "bake-metadata.json", "insights": map[string]any{"record": true}},
		"REPO="+repo, "TAG=e2e")
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	targets := []string{"base", "app", "tool"}
	m := readMetadata(t, filepath.Join(r.dir, "bake-metadata.json"))
	keys := j.metaData()
	body := j.oneAnnotation(t, "success")
	for _, target := range targets {
		tag := repo + ":" + target + "-e2e"
		d := j.s.descriptor(t, tag).Digest.String()
		entry, _ := m[target].(map[string]any)
		if got, _ := entry["containerimage.digest"].(string); got != d {
			t.Errorf("%s: metadata file digest %q, registry %s", target, got, d)
		}
		if got := keys["remote-buildkit-digest:"+target]; got != d {
			t.Errorf("meta-data remote-buildkit-digest:%s = %q, registry %s (all: %v)", target, got, d, keys)
		}
		wantAll(t, "annotation", body, "target "+target, "`"+tag+"`", d)
	}
	idx, err := j.s.descriptor(t, repo+":base-e2e").ImageIndex()
	if err != nil {
		t.Fatalf("base is not an index: %v", err)
	}
	im, _ := idx.IndexManifest()
	var platforms []string
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS != "unknown" {
			platforms = append(platforms, d.Platform.String())
		}
	}
	slices.Sort(platforms)
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("base's index has platforms %v, want linux/amd64 and linux/arm64", platforms)
	}
	for _, f := range []struct{ tag, path, want string }{
		{"base", "base.txt", "base through the agent\n"},
		{"app", "message", "app built by the agent\n"},
		{"tool", "base.txt", "base through the agent\n"}, // FROM base: the target:base context
		{"tool", "tool.txt", "tool through the agent\n"},
	} {
		if got := j.s.imageFile(t, repo+":"+f.tag+"-e2e", f.path); got != f.want {
			t.Errorf("%s /%s = %q, want %q", f.tag, f.path, got, f.want)
		}
	}
	_, uploaded := j.artifacts()
	for _, p := range []string{timelineArtifact, ".remote-buildkit/build-base.dockerbuild", ".remote-buildkit/build-app.dockerbuild", ".remote-buildkit/build-tool.dockerbuild"} {
		if uploaded[p] == nil {
			t.Errorf("no artifact upload of %s (uploads: %v)", p, slices.Collect(maps.Keys(uploaded)))
		}
	}
	wantAll(t, "annotation", body, timelineImg, slowestHeader)
}

// insightsFiles is the checkout of insightsDockerfile with app.txt = app.
func insightsFiles(base, nonce, app string) map[string]string {
	return map[string]string{
		"Dockerfile": fmt.Sprintf(insightsDockerfile, base, nonce),
		"deps.txt":   "deps " + nonce, "app.txt": app, "big.bin": nonce + strings.Repeat("x", 64<<10),
	}
}

// Insights through the real agent: the three-stage build twice, app.txt
// changed in between. With BUILDKITE=true insights are on by default: the
// second job uploads the timeline SVG and the .dockerbuild record, its
// annotation shows the picture, the cache summary, the slowest steps and
// the record with its import command, and the metadata file has every step
// with its times. A third job with insights: false uploads neither and its
// annotation is text only.
func TestAgentE2EInsights(t *testing.T) {
	s := requireStack(t)
	nonce := randomHex(t)
	meta := "build-metadata.json"
	first := requireAgent(t)
	if r := runE2E(t, first, insightsFiles(s.BaseImage, nonce, "app v1"), map[string]any{"metadata-file": meta}); r.code != 0 {
		t.Fatalf("first job exited %d:\n%s", r.code, r.out)
	}

	j := requireAgent(t)
	r := runE2E(t, j, insightsFiles(s.BaseImage, nonce, "app v2"), map[string]any{"metadata-file": meta, "insights": map[string]any{"record": true}})
	if r.code != 0 {
		t.Fatalf("second job exited %d:\n%s", r.code, r.out)
	}
	var ins struct {
		Summary insights.Summary
		Steps   []insights.Step
	}
	rb, _ := readMetadata(t, filepath.Join(r.dir, meta))["remote-buildkit"].(map[string]any)
	b, _ := json.Marshal(rb["insights"])
	mustJSON(t, b, &ins)
	for _, st := range ins.Steps {
		if st.Start.IsZero() || st.End.IsZero() {
			t.Errorf("remote-buildkit.insights.steps: %q has no start or end: %+v", st.Name, st)
		}
	}
	checkSecondBuild(t, ins.Steps)
	if ins.Summary.Steps != len(ins.Steps) || ins.Summary.CachedSteps < 3 {
		t.Errorf("remote-buildkit.insights.summary = %+v for %d steps", ins.Summary, len(ins.Steps))
	}

	batched, uploaded := j.artifacts()
	record := ".remote-buildkit/build.dockerbuild"
	for _, p := range []string{timelineArtifact, record} {
		if !slices.Contains(batched, p) || uploaded[p] == nil {
			t.Errorf("%s: in the artifact batch %v, uploaded %v", p, slices.Contains(batched, p), uploaded[p] != nil)
		}
	}
	if svg := uploaded[timelineArtifact]["content"]; !strings.Contains(svg, "<svg") || !strings.Contains(svg, "[final 2/2] RUN") {
		t.Errorf("the uploaded timeline is not the build's SVG: %.300s", svg)
	}
	readBundle(t, filepath.Join(r.dir, record)) // the uploaded file is a build record
	body := j.oneAnnotation(t, "success")
	wantAll(t, "annotation", body, timelineImg,
		fmt.Sprintf("**Cache** %d of %d steps cached", ins.Summary.CachedSteps, ins.Summary.Steps),
		slowestHeader+"Duration | |", "| <code>&#91;final 2&#47;2&#93; RUN cat &#47;app&#46;txt",
		"[`build.dockerbuild`](artifact://"+record+")", "`docker buildx history import < build.dockerbuild`")

	off := requireAgent(t)
	r = runE2E(t, off, insightsFiles(s.BaseImage, nonce, "app v3"), map[string]any{"insights": false})
	if r.code != 0 {
		t.Fatalf("insights: false job exited %d:\n%s", r.code, r.out)
	}
	batched, uploaded = off.artifacts()
	for _, p := range append(batched, slices.Collect(maps.Keys(uploaded))...) {
		if strings.HasPrefix(p, ".remote-buildkit/") {
			t.Errorf("insights: false uploaded %s", p)
		}
	}
	body = off.oneAnnotation(t, "success")
	wantAll(t, "insights: false annotation", body, "**Cache** ", slowestHeader)
	for _, no := range []string{"<img", "artifact://", "dockerbuild"} {
		if strings.Contains(body, no) {
			t.Errorf("insights: false annotation has %q:\n%s", no, body)
		}
	}
}

// A failing build through the agent: the error annotation keeps the failing
// step and its log tail, and the picture, whose failed bar is red.
func TestAgentE2EFailingBuildInsights(t *testing.T) {
	j := requireAgent(t)
	marker := "e2e-fail-" + randomHex(t)
	r := runE2E(t, j, map[string]string{
		"Dockerfile": "FROM " + j.s.BaseImage + "\nRUN echo ok > /ok\nRUN echo " + marker + " && sleep 0.5 && exit 9\n",
	}, map[string]any{"tags": []string{j.s.repo(t) + ":fail"}, "push": true})
	if r.code != 1 {
		t.Fatalf("want exit 1 (the build failed), got %d:\n%s", r.code, r.out)
	}
	body := j.oneAnnotation(t, "error")
	wantAll(t, "error annotation", body, "RUN echo "+marker, marker+"\n", "exit code: 9", timelineImg, slowestHeader, ":x: failed")
	_, uploaded := j.artifacts()
	if svg := uploaded[timelineArtifact]["content"]; !strings.Contains(svg, `fill="`+insights.ColorFailed+`"`) {
		t.Errorf("the uploaded timeline has no red (failed) bar: %.300s", svg)
	}
	if _, err := os.Stat(filepath.Join(r.dir, timelineArtifact)); err != nil {
		t.Errorf("timeline not in the checkout: %v", err)
	}
}
