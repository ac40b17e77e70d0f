package integration

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/config/types"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/tonistiigi/fsutil"

	"github.com/remote-buildkit/remote-buildkit/internal/insights"
	"github.com/remote-buildkit/remote-buildkit/tests/browsertest"
)

// insightsDockerfile has three stages; the last one copies app.txt, which
// the second build changes, so the first two stages come from the cache.
const insightsDockerfile = `FROM %s AS base
RUN echo base-%s > /base && sleep 1
FROM base AS deps
COPY deps.txt /deps.txt
RUN cat /deps.txt && sleep 1
FROM deps AS final
COPY big.bin app.txt /
RUN cat /app.txt && sleep 1
`

// TestInsightsRealBuild feeds the real status stream of two builds on the
// stack's daemon into the Recorder, checks the steps and the summary, looks
// at the timeline in Chromium, exports the build record and reads it back
// beside the one the real buildx exports for the same ref.
func TestInsightsRealBuild(t *testing.T) {
	s := requireStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := client.New(ctx, s.BuildkitHost,
		client.WithServerConfig("localhost", filepath.Join(s.TLSDir, "ca.pem")),
		client.WithCredentials(filepath.Join(s.TLSDir, "cert.pem"), filepath.Join(s.TLSDir, "key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	nonce := randomHex(t)
	big := make([]byte, 512<<10)
	rand.Read(big)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": fmt.Sprintf(insightsDockerfile, s.BaseImage, nonce),
		"deps.txt":   "deps " + nonce, "app.txt": "app v1", "big.bin": string(big),
	})
	first, firstRef := insightsBuild(t, ctx, c, s, dir, "first")
	if sum := insights.Summarize(first); sum.ContextBytes < 512<<10 {
		t.Errorf("first build: context bytes %d, want at least the 512 KiB file", sum.ContextBytes)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.txt"), []byte("app v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, ref := insightsBuild(t, ctx, c, s, dir, "second")
	checkSecondBuild(t, steps)
	lookAtTimeline(t, steps)

	bundle := filepath.Join(t.TempDir(), "ours.dockerbuild")
	exportRecord(t, ctx, c, ref, bundle)
	ours := readBundle(t, bundle)
	if ours.ref != ref {
		t.Fatalf("our bundle's record is %q, want the build's ref %q", ours.ref, ref)
	}
	theirs, total, cached := buildxExport(t, s, ref)
	if sum := insights.Summarize(steps); total != sum.Steps || cached != sum.CachedSteps {
		t.Errorf("buildx history inspect counts %d steps, %d cached; the Recorder %d, %d", total, cached, sum.Steps, sum.CachedSteps)
	}
	if theirs.ref != ref || !slices.Equal(ours.layers, theirs.layers) {
		t.Errorf("buildx's bundle: ref %q layers %v; ours: ref %q layers %v", theirs.ref, theirs.layers, ours.ref, ours.layers)
	}
	t.Logf("record %s: %d layers (%v), the same in buildx's own export", ref, len(ours.layers), ours.mediaTypes)
	checkTwoRecords(t, ctx, c, firstRef, ref)
}

// checkTwoRecords exports two builds as one bundle (a split build's nodes):
// an index with one manifest a record, each named by its ref.
func checkTwoRecords(t *testing.T, ctx context.Context, c *client.Client, refs ...string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "two.dockerbuild")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var srcs []insights.RecordSource
	for _, r := range refs {
		srcs = append(srcs, insights.RecordSource{Client: c, Ref: r})
	}
	if err := insights.ExportRecords(ctx, srcs, f); err != nil {
		t.Fatal(err)
	}
	blobs := untarGz(t, path)
	var index struct{ Manifests []struct{ Digest string } }
	mustJSON(t, blobs["index.json"], &index)
	var inner struct {
		Manifests []struct {
			Annotations map[string]string
		}
	}
	mustJSON(t, blobs[blobPath(index.Manifests[0].Digest)], &inner)
	var got []string
	for _, m := range inner.Manifests {
		got = append(got, m.Annotations["vnd.buildkit.history.reference"])
	}
	if !slices.Equal(got, refs) {
		t.Errorf("the two-record bundle names %v, want %v", got, refs)
	}
}

// insightsBuild solves dir's Dockerfile with a fresh ref, every status
// update through a Recorder, and returns the steps and the ref.
func insightsBuild(t *testing.T, ctx context.Context, c *client.Client, s *stack, dir, what string) ([]insights.Step, string) {
	t.Helper()
	steps, ref, err := solveRecorded(t, ctx, c, s, dir)
	if err != nil {
		t.Fatalf("%s build: %v", what, err)
	}
	for _, st := range steps {
		if st.Start.IsZero() || st.End.IsZero() || st.Digest == "" {
			t.Errorf("%s build: step without times or digest: %+v", what, st)
		}
	}
	sum := insights.Summarize(steps)
	t.Logf("%s build %s: wall %.2fs, %d steps, %d cached (%.3fs), executed %.2fs, context %d bytes, slowest %q",
		what, ref, sum.WallSeconds, sum.Steps, sum.CachedSteps, sum.CachedSeconds, sum.ExecutedSeconds, sum.ContextBytes, names(sum.Slowest))
	return steps, ref
}

// solveRecorded runs one solve as solve.Solve does: the status channel
// drained by a goroutine that feeds the Recorder.
func solveRecorded(t *testing.T, ctx context.Context, c *client.Client, s *stack, dir string) ([]insights.Step, string, error) {
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref := "insights-" + randomHex(t)
	rec := &insights.Recorder{}
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range ch {
			rec.Update(st)
		}
	}()
	_, err = c.Solve(ctx, nil, client.SolveOpt{
		Ref: ref, Frontend: "dockerfile.v0",
		LocalMounts: map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		Session:     []session.Attachable{registryLogin(s)},
	}, ch)
	<-done
	return rec.Steps(), ref, err
}

// TestInsightsFailedBuild: the failing step is the failed one (red in the
// timeline), and the failed build's record exports too.
func TestInsightsFailedBuild(t *testing.T) {
	s := requireStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(ctx, s.BuildkitHost,
		client.WithServerConfig("localhost", filepath.Join(s.TLSDir, "ca.pem")),
		client.WithCredentials(filepath.Join(s.TLSDir, "cert.pem"), filepath.Join(s.TLSDir, "key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo " + randomHex(t) + " && sleep 0.3 && exit 3\n"})
	steps, ref, err := solveRecorded(t, ctx, c, s, dir)
	if err == nil {
		t.Fatal("the build succeeded; want exit 3")
	}
	sum := insights.Summarize(steps)
	if !strings.HasPrefix(sum.Failed, "[2/2] RUN echo") {
		t.Errorf("failed step %q, want the RUN; steps %v", sum.Failed, names(steps))
	}
	svg := string(insights.RenderSVG(steps, insights.SVGOptions{}))
	if !strings.Contains(svg, `fill="`+insights.ColorFailed+`"`) {
		t.Error("no red bar in the failed build's timeline")
	}
	path := filepath.Join(t.TempDir(), "failed.dockerbuild")
	exportRecord(t, ctx, c, ref, path)
	if got := readBundle(t, path); got.ref != ref {
		t.Errorf("the failed build's bundle holds %q, want %q", got.ref, ref)
	}
}

// registryLogin serves the stack registry's credentials to the daemon.
func registryLogin(s *stack) session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: func(_ context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
			if host != s.Registry {
				return types.AuthConfig{}, nil
			}
			return types.AuthConfig{Username: s.User, Password: s.Pass}, nil
		},
	})
}

// checkSecondBuild: the first two stages cached, the last one run.
func checkSecondBuild(t *testing.T, steps []insights.Step) {
	t.Helper()
	want := map[string]bool{"[base 2/2] RUN": true, "[deps 1/2] COPY": true, "[deps 2/2] RUN": true, "[final 1/2] COPY": false, "[final 2/2] RUN": false}
	for prefix, cached := range want {
		i := slices.IndexFunc(steps, func(s insights.Step) bool { return strings.HasPrefix(s.Name, prefix) })
		if i < 0 {
			t.Errorf("no step %q in %v", prefix, names(steps))
			continue
		}
		if steps[i].Cached != cached {
			t.Errorf("step %q cached %v, want %v", steps[i].Name, steps[i].Cached, cached)
		}
	}
	sum := insights.Summarize(steps)
	if sum.CachedSteps < 3 || sum.Steps != len(steps) || len(sum.Slowest) != insights.SlowestCount ||
		!strings.HasPrefix(sum.Slowest[0].Name, "[final 2/2] RUN") || sum.Slowest[0].Seconds < 1 ||
		sum.ExecutedSeconds < 1 || sum.WallSeconds < 1 || sum.WallSeconds > 60 {
		t.Errorf("second build's summary: %+v", sum)
	}
}

func names(steps []insights.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

// lookAtTimeline renders the real build's timeline and looks at it in Chromium.
func lookAtTimeline(t *testing.T, steps []insights.Step) {
	t.Helper()
	browser := browsertest.Chromium()
	if browser == "" {
		t.Fatal("chromium is not installed: the stack installs Debian's chromium for the browser checks (apt-get install -y chromium)")
	}
	svg := insights.RenderSVG(steps, insights.SVGOptions{Title: "integration: " + t.Name()})
	dir := t.TempDir()
	if keep := os.Getenv("INSIGHTS_SHOTS"); keep != "" {
		dir = keep // keep the pages and screenshots to look at
	}
	look, err := browsertest.LookAt(context.Background(), browser, svg, insights.Markdown("", steps, "timeline.svg", nil), dir,
		[]string{insights.ColorExecuted, insights.ColorCached})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range look.Problems() {
		t.Error(p)
	}
}

func exportRecord(t *testing.T, ctx context.Context, c *client.Client, ref, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if err := insights.ExportRecord(ctx, c, ref, f); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	t.Logf("ExportRecord: %d bytes in %s", fi.Size(), time.Since(start).Round(time.Millisecond))
}

// bundleContents is what a .dockerbuild holds: the record's ref and the
// digests (sorted) and media types of its layers.
type bundleContents struct {
	ref        string
	layers     []string
	mediaTypes []string
}

// readBundle opens a .dockerbuild: a gzipped tar of an OCI layout whose
// index points to a manifest whose config is the history record.
func readBundle(t *testing.T, path string) bundleContents {
	t.Helper()
	blobs := untarGz(t, path)
	var index struct {
		Manifests []struct{ Digest, MediaType string }
	}
	mustJSON(t, blobs["index.json"], &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("%s: index.json has %d manifests, want 1", path, len(index.Manifests))
	}
	var mf struct {
		Config struct{ Digest, MediaType string }
		Layers []struct{ Digest, MediaType string }
	}
	mustJSON(t, blobs[blobPath(index.Manifests[0].Digest)], &mf)
	if mf.Config.MediaType != "application/vnd.buildkit.historyrecord.v0" {
		t.Fatalf("%s: config media type %q", path, mf.Config.MediaType)
	}
	var rec struct{ Ref string }
	mustJSON(t, blobs[blobPath(mf.Config.Digest)], &rec)
	out := bundleContents{ref: rec.Ref}
	for _, l := range mf.Layers {
		if _, ok := blobs[blobPath(l.Digest)]; !ok {
			t.Errorf("%s: layer %s (%s) is not in the archive", path, l.Digest, l.MediaType)
		}
		out.layers = append(out.layers, l.Digest)
		out.mediaTypes = append(out.mediaTypes, l.MediaType)
	}
	slices.Sort(out.layers)
	return out
}

func blobPath(d string) string { return "blobs/" + strings.Replace(d, ":", "/", 1) }

func untarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", path, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %.200s", err, b)
	}
}

// buildxExport has the real buildx export the same ref from the same daemon
// (a remote-driver builder) and returns what it holds, with the step counts
// `buildx history inspect` shows for the ref.
func buildxExport(t *testing.T, s *stack, ref string) (bundle bundleContents, steps, cached int) {
	t.Helper()
	buildx := os.Getenv("STACK_BUILDX")
	if buildx == "" {
		home, _ := os.UserHomeDir()
		buildx = filepath.Join(home, ".cache", "remote-buildkit", "tools", "buildx-v0.38.2", "buildx")
	}
	if _, err := os.Stat(buildx); err != nil {
		t.Fatalf("buildx v0.38.2 is not built (%v): copy the Dir of `go mod download -json github.com/docker/buildx@v0.38.2` and run `CGO_ENABLED=0 go build -mod=mod -o %s ./cmd/buildx` in it", err, buildx)
	}
	cfg := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command(buildx, args...)
		cmd.Env = append(os.Environ(), "BUILDX_CONFIG="+cfg, "DOCKER_CONFIG="+cfg, "BUILDX_NO_DEFAULT_ATTESTATIONS=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("buildx %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	tls := func(f string) string { return filepath.Join(s.TLSDir, f) }
	run("create", "--name", "insights", "--driver", "remote", "--driver-opt",
		"cacert="+tls("ca.pem")+",cert="+tls("cert.pem")+",key="+tls("key.pem")+",servername=localhost", s.BuildkitHost)
	out := filepath.Join(t.TempDir(), "buildx.dockerbuild")
	run("history", "export", "--builder", "insights", ref, "--output", out)
	inspect := run("history", "inspect", "--builder", "insights", ref, "--format", "json")
	var rec struct {
		Ref                           string
		NumTotalSteps, NumCachedSteps int
	}
	mustJSON(t, []byte(inspect), &rec)
	if rec.Ref != ref {
		t.Errorf("buildx history inspect shows ref %q, want %q", rec.Ref, ref)
	}
	t.Logf("buildx history inspect: ref %s, %d steps, %d cached", rec.Ref, rec.NumTotalSteps, rec.NumCachedSteps)
	return readBundle(t, out), rec.NumTotalSteps, rec.NumCachedSteps
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
