package integration

import (
	"bytes"
	"encoding/base64"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// publishSecret is a build arg's value whose name (NPM_TOKEN) matches the
// agent's default redaction patterns: nothing the job publishes may hold it.
const publishSecret = "s3cr3t"

// hostileOutput is what a pull request's RUN prints to get a link and an
// image into the annotation.
const hostileOutput = "[x](http://evil) <img src=x>"

// publishFiles is a checkout whose Dockerfile uses the secret build arg in
// a RUN (BuildKit shows the RUN with its args expanded in step names and
// the daemon keeps them in the build's history); with fail, a last RUN
// prints hostile Markdown and the secret, then fails.
func publishFiles(base, nonce string, fail bool) map[string]string {
	df := "FROM " + base + "\nARG GREETING\nARG NPM_TOKEN\n" +
		"RUN echo \"" + nonce + " $GREETING from $NPM_TOKEN\" > /greeting\n"
	if fail {
		df += "RUN echo \"" + hostileOutput + " $GREETING $NPM_TOKEN\" && exit 3\n"
	}
	return map[string]string{"Dockerfile": df}
}

// publishConfig is the step: both build args, the image pushed, every
// publisher on (annotation, meta-data, the metadata artifact, insights).
func publishConfig(repo string, insights any) map[string]any {
	return map[string]any{
		"build-args": map[string]any{"GREETING": "hi", "NPM_TOKEN": publishSecret},
		"tags":       []string{repo + ":publish"}, "push": true, "artifact": true,
		"insights": insights,
	}
}

// received is everything the agent was given by the job: every request to
// the agent API (annotations, meta-data, artifact batches, each uploaded
// file's content), the job log, and each uploaded build record unpacked.
func received(t *testing.T, j *agentJob, r e2eRun) map[string][]byte {
	t.Helper()
	all := map[string][]byte{"job log": []byte(r.out)}
	b, err := os.ReadFile(j.stubLog)
	if err != nil {
		t.Fatal(err)
	}
	all["agent API requests"] = b
	_, uploaded := j.artifacts()
	for p := range uploaded {
		if strings.HasSuffix(p, ".dockerbuild") {
			for name, blob := range untarGz(t, filepath.Join(r.dir, p)) {
				all[p+":"+name] = blob
			}
		}
	}
	return all
}

// noSecret fails for each thing the agent received that holds the secret,
// as it is or base64-encoded.
func noSecret(t *testing.T, j *agentJob, r e2eRun) {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString([]byte(publishSecret))[:6] // "czNjcj": the secret's first 4 bytes, in any 3-aligned encoding
	for what, b := range received(t, j, r) {
		if i := bytes.Index(b, []byte(publishSecret)); i >= 0 {
			t.Errorf("%s holds the secret build arg's value: …%s…", what, b[max(0, i-120):min(len(b), i+60)])
		}
		if strings.HasSuffix(what, ".json") && bytes.Contains(b, []byte(b64)) {
			t.Errorf("%s holds the secret build arg's value base64-encoded", what)
		}
	}
}

// records are the .dockerbuild files the job uploaded.
func records(j *agentJob) []string {
	batched, uploaded := j.artifacts()
	var out []string
	for _, p := range append(batched, slices.Collect(maps.Keys(uploaded))...) {
		if strings.HasSuffix(p, ".dockerbuild") && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// A build with a secret build arg used in a RUN, through the real agent,
// with every publisher on and insights: {record: true}: the secret is in no
// artifact (timeline, metadata file, build record), annotation, meta-data
// or log line; the record, whose log can't be rewritten, is not uploaded
// and the annotation says why; GREETING's value may show.
func TestPublishSecretBuildArgs(t *testing.T) {
	j := requireAgent(t)
	nonce := randomHex(t)
	r := runE2E(t, j, publishFiles(j.s.BaseImage, nonce, false), publishConfig(j.s.repo(t), map[string]any{"record": true}))
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	noSecret(t, j, r)
	if strings.Contains(r.out, "was not given the build's secret values") {
		t.Errorf("buildkite-agent redactor add failed:\n%s", r.out)
	}
	_, uploaded := j.artifacts()
	for _, p := range []string{timelineArtifact, "remote-buildkit-metadata.json"} {
		if uploaded[p] == nil {
			t.Errorf("no upload of %s (uploads: %v)", p, slices.Collect(maps.Keys(uploaded)))
		}
	}
	if svg := uploaded[timelineArtifact]["content"]; !strings.Contains(svg, "[REDACTED]") {
		t.Errorf("the timeline does not show the RUN redacted: %.600s", svg)
	}
	if recs := records(j); len(recs) != 0 {
		t.Errorf("a build record holding the secret in its log was uploaded: %v", recs)
	}
	body := j.oneAnnotation(t, "success")
	wantAll(t, "annotation", body, "The build record is not uploaded", "NPM&#95;TOKEN")
	if !strings.Contains(r.out, "build record not uploaded") {
		t.Errorf("the job log does not say why the record is not uploaded:\n%s", r.out)
	}
	if got := j.metaData()["remote-buildkit-digest"]; !strings.HasPrefix(got, "sha256:") {
		t.Errorf("meta-data remote-buildkit-digest = %q", got)
	}
}

// The failing variant: the RUN prints hostile Markdown and the secret. The
// error annotation keeps the failing step and its log tail, as text: no
// link, no image, no secret.
func TestPublishFailingBuildAnnotation(t *testing.T) {
	j := requireAgent(t)
	r := runE2E(t, j, publishFiles(j.s.BaseImage, randomHex(t), true), publishConfig(j.s.repo(t), map[string]any{"record": true}))
	if r.code != 1 {
		t.Fatalf("want exit 1 (the build failed), got %d:\n%s", r.code, r.out)
	}
	noSecret(t, j, r)
	body := j.oneAnnotation(t, "error")
	t.Logf("annotation:\n%s", body)
	for _, bad := range []string{"](http", "<img src=x", "<img src=\"x"} {
		if strings.Contains(body, bad) {
			t.Errorf("the annotation holds %q from the build's output:\n%s", bad, body)
		}
	}
	// What the page shows: the log line and the error, escaped.
	wantAll(t, "error annotation", body, "&#91;x&#93;&#40;http://evil&#41; &lt;img src=x&gt; hi &#91;REDACTED&#93;", "exit code: 3")
	if recs := records(j); len(recs) != 0 {
		t.Errorf("a build record holding the secret was uploaded: %v", recs)
	}
}

// Without the secret, insights: {record: true} uploads the record (its
// GREETING is fine to show); without record: true, no .dockerbuild is
// uploaded at all, the timeline still is.
func TestPublishRecordOnlyWhenAsked(t *testing.T) {
	j := requireAgent(t)
	nonce := randomHex(t)
	cfg := publishConfig(j.s.repo(t), map[string]any{"record": true})
	cfg["build-args"] = map[string]any{"GREETING": "hi"}
	r := runE2E(t, j, publishFiles(j.s.BaseImage, nonce, false), cfg)
	if r.code != 0 {
		t.Fatalf("job exited %d:\n%s", r.code, r.out)
	}
	if recs := records(j); len(recs) != 1 {
		t.Errorf("insights: {record: true} without secrets: records uploaded %v, want one", recs)
	} else {
		readBundle(t, filepath.Join(r.dir, recs[0]))
	}

	off := requireAgent(t)
	r = runE2E(t, off, publishFiles(off.s.BaseImage, nonce+"-2", false), publishConfig(off.s.repo(t), true))
	if r.code != 0 {
		t.Fatalf("job without record exited %d:\n%s", r.code, r.out)
	}
	noSecret(t, off, r)
	if recs := records(off); len(recs) != 0 {
		t.Errorf("insights: true (no record: true) uploaded %v", recs)
	}
	if _, uploaded := off.artifacts(); uploaded[timelineArtifact] == nil {
		t.Errorf("insights: true did not upload the timeline")
	}
}
