package integration

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// A single-platform build pushed under two tags: both tags point at the
// digest the binary printed and wrote to the metadata file.
func TestPushTwoTags(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo built > /built.txt\n",
	})
	meta := filepath.Join(t.TempDir(), "meta.json")
	home := t.TempDir()
	dockerConfig := filepath.Join(s.DockerConfig, "config.json")
	before, err := os.ReadFile(dockerConfig)
	if err != nil {
		t.Fatal(err)
	}
	r := s.run(t, dir, s.baseConfig(map[string]any{
		"tags":          []string{repo + ":one", repo + ":two"},
		"push":          true,
		"metadata-file": meta,
	}), "HOME="+home)
	if r.Code != 0 {
		t.Fatalf("build failed: %s", r)
	}
	// Credentials are read, never written: the docker config is untouched
	// and nothing appears under HOME (no ~/.docker, no token seed) but the
	// context's hash cache (content ids of the context's files).
	if after, _ := os.ReadFile(dockerConfig); string(after) != string(before) {
		t.Errorf("the build changed %s", dockerConfig)
	}
	if entries, _ := os.ReadDir(s.DockerConfig); len(entries) != 1 {
		t.Errorf("the build wrote into DOCKER_CONFIG %s: %v", s.DockerConfig, entries)
	}
	filepath.WalkDir(home, func(p string, d os.DirEntry, _ error) error {
		rel, _ := filepath.Rel(home, p)
		if !d.IsDir() && !strings.HasPrefix(rel, filepath.Join(".cache", "remote-buildkit", "hashes")+string(filepath.Separator)) {
			t.Errorf("the build wrote into HOME: %s", rel)
		}
		return nil
	})
	if strings.Contains(r.Stdout+r.Stderr, s.Pass) {
		t.Errorf("the registry password appears in the output")
	}
	printed := lineValue(r.Stdout, "digest")
	if !strings.HasPrefix(printed, "sha256:") {
		t.Fatalf("no digest line in output: %s", r)
	}
	for _, tag := range []string{"one", "two"} {
		d := s.descriptor(t, repo+":"+tag)
		if got := d.Digest.String(); got != printed {
			t.Errorf("registry %s:%s is %s, binary printed %s", repo, tag, got, printed)
		}
		if !strings.Contains(r.Stdout, "pushed: "+repo+":"+tag+"@"+printed) {
			t.Errorf("output does not list pushed reference %s:%s@%s: %s", repo, tag, printed, r)
		}
	}
	m := readMetadata(t, meta)
	if got := m["containerimage.digest"]; got != printed {
		t.Errorf("metadata containerimage.digest = %v, want %s", got, printed)
	}
	rb, _ := m["remote-buildkit"].(map[string]any)
	if got := rb["digest"]; got != printed {
		t.Errorf("metadata remote-buildkit.digest = %v, want %s", got, printed)
	}
}

// A two-platform build pushes an index with exactly linux/amd64 and linux/arm64.
func TestMultiPlatformIndex(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM --platform=$BUILDPLATFORM " + s.BaseImage + " AS build\nARG TARGETPLATFORM\n" +
			"RUN mkdir /out && echo \"$TARGETPLATFORM\" > /out/platform\n" +
			"FROM scratch\nCOPY --from=build /out/ /\n",
	})
	r := s.run(t, dir, s.baseConfig(map[string]any{
		"tags":      []string{repo + ":multi"},
		"push":      true,
		"platforms": []string{"linux/amd64", "linux/arm64"},
	}))
	if r.Code != 0 {
		t.Fatalf("build failed: %s", r)
	}
	d := s.descriptor(t, repo+":multi")
	if !d.MediaType.IsIndex() {
		t.Fatalf("pushed %s is %s, want an image index", repo, d.MediaType)
	}
	if got := d.Digest.String(); got != lineValue(r.Stdout, "digest") {
		t.Errorf("index digest %s, printed %s", got, lineValue(r.Stdout, "digest"))
	}
	idx, err := d.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, m := range im.Manifests {
		if m.Platform == nil {
			t.Fatalf("index entry %s has no platform", m.Digest)
		}
		plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture)
		// Each platform's image really carries its own file.
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(layerFiles(t, img)["platform"])); got != plats[len(plats)-1] {
			t.Errorf("image for %s contains platform file %q", plats[len(plats)-1], got)
		}
	}
	sort.Strings(plats)
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("index platforms = %v, want exactly [linux/amd64 linux/arm64]", plats)
	}
}

// build-args, target, .dockerignore, labels and secrets (env and file) all
// reach the build; the secrets are readable in RUN and in no layer.
func TestBuildInputs(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	envSecret := fmt.Sprintf("env-secret-%d", os.Getpid())
	fileSecret := "file-secret-" + hex.EncodeToString([]byte(t.Name()))
	hash := func(v string) string { h := sha256.Sum256([]byte(v)); return hex.EncodeToString(h[:]) }
	secretFile := filepath.Join(t.TempDir(), "token.txt")
	if err := os.WriteFile(secretFile, []byte(fileSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + s.BaseImage + " AS base\n" +
			"ARG GREETING\nARG FROM_ENV\n" +
			"COPY . /ctx\n" +
			"RUN echo \"$GREETING\" > /greeting && echo \"$FROM_ENV\" > /from-env\n" +
			"RUN --mount=type=secret,id=apitoken --mount=type=secret,id=filetoken \\\n" +
			"    test \"$(cat /run/secrets/apitoken | sha256sum | cut -d' ' -f1)\" = \"" + hash(envSecret) + "\" && \\\n" +
			"    test \"$(cat /run/secrets/filetoken | sha256sum | cut -d' ' -f1)\" = \"" + hash(fileSecret) + "\" && \\\n" +
			"    echo secrets-ok > /secrets-ok\n" +
			"FROM base AS final\nRUN echo final > /stage\n" +
			"FROM base AS other\nRUN echo other > /stage\n",
		".dockerignore": "ignored.txt\n",
		"ignored.txt":   "must not reach the daemon\n",
		"kept.txt":      "kept\n",
	})
	r := s.run(t, dir, s.baseConfig(map[string]any{
		"tags":       []string{repo + ":inputs"},
		"push":       true,
		"target":     "final",
		"build-args": []string{"GREETING=hi there", "FROM_ENV"},
		"labels":     map[string]any{"org.example.team": "platform", "org.example.build": 42},
		"secrets":    []any{"id=apitoken,env=API_TOKEN", map[string]string{"id": "filetoken", "src": secretFile}},
	}), "API_TOKEN="+envSecret, "FROM_ENV=from the job")
	if r.Code != 0 {
		t.Fatalf("build failed: %s", r)
	}
	img, err := s.descriptor(t, repo+":inputs").Image()
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, img)
	for path, want := range map[string]string{
		"greeting":     "hi there",
		"from-env":     "from the job",
		"stage":        "final",
		"secrets-ok":   "secrets-ok",
		"ctx/kept.txt": "kept",
	} {
		if got := strings.TrimSpace(string(files[path])); got != want {
			t.Errorf("/%s = %q, want %q", path, got, want)
		}
	}
	if _, ok := files["ctx/ignored.txt"]; ok {
		t.Errorf("/ctx/ignored.txt is in the image although .dockerignore excludes it")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Labels["org.example.team"]; got != "platform" {
		t.Errorf("label org.example.team = %q", got)
	}
	if got := cf.Config.Labels["org.example.build"]; got != "42" {
		t.Errorf("label org.example.build = %q", got)
	}
	for _, b := range rawLayers(t, img) {
		for _, secret := range []string{envSecret, fileSecret} {
			if strings.Contains(string(b), secret) {
				t.Errorf("secret %q found in a layer", secret)
			}
		}
	}
	cfgJSON, _ := json.Marshal(cf)
	for _, secret := range []string{envSecret, fileSecret} {
		if strings.Contains(string(cfgJSON), secret) {
			t.Errorf("secret %q found in the image config", secret)
		}
	}
}

// cache-to/cache-from type=registry: after the daemon's cache is wiped, the
// second build takes its steps from the exported cache.
func TestRegistryCacheSurvivesPrune(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + s.BaseImage + "\n" +
			"RUN echo " + repo + " > /unique && sleep 1\nRUN echo second > /second\n",
	})
	cfg := s.baseConfig(map[string]any{
		"tags":       []string{repo + ":app"},
		"push":       true,
		"cache-to":   []any{map[string]any{"type": "registry", "ref": repo + ":buildcache", "mode": "max"}},
		"cache-from": []string{"type=registry,ref=" + repo + ":buildcache"},
	})
	meta1 := filepath.Join(t.TempDir(), "m.json")
	cfg["metadata-file"] = meta1
	r1 := s.run(t, dir, cfg)
	if r1.Code != 0 {
		t.Fatalf("first build failed: %s", r1)
	}
	steps := []string{"RUN echo " + repo, "RUN echo second"} // unique to this test
	for _, step := range steps {
		if cachedInProgress(r1.Stderr, step) {
			t.Fatalf("step %q was cached in the first build:\n%s", step, r1.Stderr)
		}
	}
	s.pruneDaemon(t)

	meta2 := filepath.Join(t.TempDir(), "m.json")
	cfg["metadata-file"] = meta2
	r := s.run(t, dir, cfg)
	if r.Code != 0 {
		t.Fatalf("second build failed: %s", r)
	}
	second := readMetadata(t, meta2)["remote-buildkit"].(map[string]any)
	if second["cached_steps"].(float64) < 2 {
		t.Errorf("second build after prune had %v cached steps, want both RUN steps from the registry cache\n%s", second["cached_steps"], r)
	}
	for _, step := range steps {
		if !cachedInProgress(r.Stderr, step) {
			t.Errorf("step %q is not CACHED in the second build's progress:\n%s", step, r.Stderr)
		}
	}
}

// cachedInProgress reports whether plain progress shows the step as CACHED:
// "#7 [2/3] RUN echo ..." followed by "#7 CACHED".
func cachedInProgress(progress, step string) bool {
	var id string
	for _, l := range strings.Split(progress, "\n") {
		num, rest, _ := strings.Cut(l, " ")
		if strings.Contains(rest, step) {
			id = num
		}
		if id != "" && l == id+" CACHED" {
			return true
		}
	}
	return false
}

// pruneDaemon wipes the daemon's build cache with the stack's buildctl.
func (s *stack) pruneDaemon(t *testing.T) {
	t.Helper()
	cmd := exec.Command(s.Buildctl, "--addr", s.BuildkitHost, "--tlsdir", s.TLSDir, "prune", "--all")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buildctl prune: %v\n%s", err, out)
	}
	out, err := exec.Command(s.Buildctl, "--addr", s.BuildkitHost, "--tlsdir", s.TLSDir, "du").CombinedOutput()
	if err != nil {
		t.Fatalf("buildctl du: %v\n%s", err, out)
	}
	t.Logf("daemon cache after prune:\n%s", out)
}

// outputs: type=oci,dest=... writes a valid OCI image layout tarball.
func TestOCIOutput(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY hello.txt /\n",
		"hello.txt":  "hello oci\n",
	})
	dest := filepath.Join(t.TempDir(), "image.tar")
	r := s.run(t, dir, s.baseConfig(map[string]any{
		"outputs": []string{"type=oci,dest=" + dest},
	}))
	if r.Code != 0 {
		t.Fatalf("build failed: %s", r)
	}
	f, err := os.Open(dest)
	if err != nil {
		t.Fatalf("no OCI tarball: %v", err)
	}
	defer f.Close()
	entries := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not a tar: %v", err)
		}
		b, _ := io.ReadAll(tr)
		entries[h.Name] = b
	}
	var layout struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(entries["oci-layout"], &layout); err != nil || layout.Version != "1.0.0" {
		t.Errorf("oci-layout = %q (%v), want imageLayoutVersion 1.0.0", entries["oci-layout"], err)
	}
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := json.Unmarshal(entries["index.json"], &index); err != nil || len(index.Manifests) == 0 {
		t.Fatalf("index.json = %q (%v)", entries["index.json"], err)
	}
	// Every blob is named by its content's digest.
	for name, b := range entries {
		if alg, hexd, ok := strings.Cut(strings.TrimPrefix(name, "blobs/"), "/"); ok && alg == "sha256" && hexd != "" {
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != hexd {
				t.Errorf("blob %s does not match its digest", name)
			}
		}
	}
	if _, ok := entries["blobs/sha256/"+strings.TrimPrefix(index.Manifests[0].Digest, "sha256:")]; !ok {
		t.Errorf("index.json names %s, which is not in blobs/", index.Manifests[0].Digest)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".image.tar.tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temp files left behind: %v", leftovers)
	}
}

// A failing RUN step fails the build with exit 1 and the failing command.
func TestFailingStep(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo about to fail && exit 3\n",
	})
	dest := filepath.Join(t.TempDir(), "image.tar")
	r := s.run(t, dir, s.baseConfig(map[string]any{
		"tags":    []string{repo + ":never"},
		"push":    true,
		"outputs": []string{"type=oci,dest=" + dest},
	}))
	if r.Code != 1 {
		t.Fatalf("want exit 1 for a failing step: %s", r)
	}
	if !strings.Contains(r.Stderr, "exit 3") || !strings.Contains(r.Stderr, "remote-buildkit: error:") {
		t.Errorf("error does not name the failing step: %s", r)
	}
	if !s.repoMissing(t, repo) {
		t.Errorf("a failed build pushed %s", repo)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Errorf("a failed build left the output file %s", dest)
	}
}
