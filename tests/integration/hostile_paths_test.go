package integration

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A checkout is untrusted: the links it commits must not take a path the
// step gives relative to it out of it: paths resolve inside the checkout.
// Each job below commits one attack and runs the step through
// the real agent and the hooks; what the attack would reach is a directory
// outside the checkout holding a secret, a sentinel and a stand-in for the
// agent's binary cache (~/.cache/remote-buildkit/bin/<commit>).

// outside is the directory outside the checkout an attack aims at.
type outside struct {
	dir    string
	secret string            // the secret file's bytes
	before map[string]string // path → mode, mtime, content or link target
}

const evilBinary = "#!/bin/sh\necho pwned by a pull request\n"

func newOutside(t *testing.T) *outside {
	t.Helper()
	o := &outside{dir: t.TempDir(), secret: "hostile-secret-" + randomHex(t)}
	files := map[string]string{
		"secret.pem":            o.secret + "\n",
		"sentinel":              "sentinel: nothing may change me\n",
		"bin/remote-buildkit":   "#!/bin/sh\necho the real binary\n",
		"assets/secret.pem":     o.secret + "\n",
		"app/Dockerfile":        "FROM scratch\nCOPY secret.pem /leak\n",
		"app/secret.pem":        o.secret + "\n",
		"insights/.placeholder": "",
	}
	past := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	for name, content := range files {
		p := filepath.Join(o.dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	filepath.WalkDir(o.dir, func(p string, _ fs.DirEntry, _ error) error { return os.Chtimes(p, past, past) })
	o.before = o.snapshot(t)
	return o
}

// snapshot is every path below the directory with its mode, mtime and
// content (links: their target), links not followed.
func (o *outside) snapshot(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(o.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d ", fi.Mode(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			v += "-> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			v += string(b)
		}
		m[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// unchanged reports every path outside the checkout the job added, removed
// or changed (content, mode or mtime).
func (o *outside) unchanged(t *testing.T) {
	t.Helper()
	after := o.snapshot(t)
	for p, v := range after {
		if w, ok := o.before[p]; !ok {
			t.Errorf("outside the checkout: %s was created (%q)", p, v)
		} else if w != v {
			t.Errorf("outside the checkout: %s changed: %q → %q", p, w, v)
		}
	}
	for p := range o.before {
		if _, ok := after[p]; !ok {
			t.Errorf("outside the checkout: %s was removed", p)
		}
	}
}

// commitLinks adds links (name → target) to the repository as a new commit.
func commitLinks(t *testing.T, repo string, links map[string]string) string {
	t.Helper()
	for name, target := range links {
		p := filepath.Join(repo, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"add", "-A"},
		{"-c", "user.name=pr", "-c", "user.email=pr@example.com", "commit", "-q", "-m", "links"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, _ := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	return strings.TrimSpace(string(out))
}

// runLinked runs a job whose checkout holds files and the committed links.
func runLinked(t *testing.T, j *agentJob, files, links map[string]string, cfg map[string]any) e2eRun {
	t.Helper()
	repo, _ := j.checkout(files)
	commit := commitLinks(t, repo, links)
	return runCommit(t, j, repo, commit, cfg)
}

// leaked reports every place the secret's bytes reached: the pushed image,
// the job log, the agent API (annotations, meta-data, artifact uploads)
// and the checkout's files.
func leaked(t *testing.T, j *agentJob, r e2eRun, repo, ref, secret string) {
	t.Helper()
	if !j.s.repoMissing(t, repo) {
		img, err := j.s.descriptor(t, ref).Image()
		if err != nil {
			t.Fatal(err)
		}
		for p, b := range layerFiles(t, img) {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the secret is in the pushed image %s at /%s", ref, p)
			}
		}
	}
	if strings.Contains(r.out, secret) {
		t.Errorf("the secret is in the job log")
	}
	if b, _ := os.ReadFile(j.stubLog); bytes.Contains(b, []byte(secret)) {
		t.Errorf("the secret reached the agent API (annotation, meta-data or artifact)")
	}
	filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
				t.Errorf("the secret is in the checkout at %s", p)
			}
		}
		return nil
	})
}

// noStaging reports a local output's staging directory left in the checkout.
func noStaging(t *testing.T, dir string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(dir, ".remote-buildkit-export-*")); len(left) > 0 {
		t.Errorf("staging directories left in the checkout: %v", left)
	}
}

// TestParallelHostilePathsRefused: each link out of the checkout a pull request can
// commit, behind an option the step gives relative to the checkout, fails
// the step with exit 2 and one line naming the option, the path and the
// link, and has no effect: the secret reaches no image, log, annotation,
// artifact or checkout file, and nothing outside the checkout changes
// (content, mode, mtime).
func TestParallelHostilePathsRefused(t *testing.T) {
	j := requireAgent(t)
	base := j.s.BaseImage
	fix := ", outside the checkout: commit the file itself, or name an absolute path in the step"
	for _, tc := range []struct {
		name  string
		files map[string]string
		links map[string]string // name → target; $O is the outside directory
		cfg   map[string]any
		line  string // the error line ($O expanded)
		built bool   // found as the export is moved in: after the build
	}{
		{name: "build-contexts", files: map[string]string{"Dockerfile": "FROM scratch\nCOPY --from=assets secret.pem /leak\n"},
			links: map[string]string{"assets": "$O/assets"}, cfg: map[string]any{"build-contexts": []string{"assets=./assets"}},
			line: "build-contexts.assets: ./assets: assets is a link to $O/assets" + fix},
		{name: "secret src", files: map[string]string{"Dockerfile": "FROM " + base + "\nRUN --mount=type=secret,id=npmrc cp /run/secrets/npmrc /leak\n"},
			links: map[string]string{".npmrc": "$O/secret.pem"}, cfg: map[string]any{"secrets": []string{"id=npmrc,src=.npmrc"}},
			line: "secrets[0]: src .npmrc: .npmrc is a link to $O/secret.pem" + fix},
		{name: "context", files: map[string]string{"README": "app is elsewhere\n"},
			links: map[string]string{"app": "$O/app"}, cfg: map[string]any{"context": "app"},
			line: "context: app: app is a link to $O/app" + fix},
		// A guard more than an attack: on the old code fsutil sent the link
		// itself and the daemon, resolving it inside its copy, failed to
		// read the Dockerfile (exit 1, nothing leaked); now it is refused
		// before anything is sent.
		{name: "dockerfile", files: map[string]string{"Dockerfile": "FROM scratch\n"},
			links: map[string]string{"Dockerfile.ci": "$O/secret.pem"}, cfg: map[string]any{"dockerfile": "Dockerfile.ci"},
			line: "dockerfile: Dockerfile.ci: Dockerfile.ci is a link to $O/secret.pem" + fix},
		{name: "local output", files: map[string]string{"Dockerfile": "FROM scratch\nCOPY remote-buildkit /remote-buildkit\n", "remote-buildkit": evilBinary},
			links: map[string]string{"dist": "$O/bin"}, cfg: map[string]any{"outputs": []string{"type=local,dest=dist"}},
			line: "outputs[0]: dest dist: dist is a link to $O/bin" + fix},
		// A guard too: BuildKit's exporter replaces a link inside dest with
		// the exported directory (the old code changed nothing outside);
		// the move through the checkout's root refuses it.
		{name: "link out inside the local output", files: map[string]string{"Dockerfile": "FROM scratch\nCOPY remote-buildkit /bin/remote-buildkit\n", "remote-buildkit": evilBinary, "dist/README": "build output\n"},
			links: map[string]string{"dist/bin": "$O/bin"}, cfg: map[string]any{"outputs": []string{"type=local,dest=dist"}}, built: true,
			line: "outputs: dest dist: dist/bin is a link to $O/bin" + fix},
		{name: "local cache export", files: map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"},
			links: map[string]string{".cache": "$O/bin"}, cfg: map[string]any{"cache-to": []string{"type=local,dest=.cache"}},
			line: "cache-to[0]: dest .cache: .cache is a link to $O/bin" + fix},
		{name: "bake file", files: map[string]string{"Dockerfile": "FROM scratch\n"},
			links: map[string]string{"docker-bake.hcl": "$O/secret.pem"}, cfg: map[string]any{"bake": "docker-bake.hcl"},
			line: "bake: docker-bake.hcl: docker-bake.hcl is a link to $O/secret.pem" + fix},
		{name: "metadata-file", files: map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"},
			links: map[string]string{"out": "$O/bin"}, cfg: map[string]any{"metadata-file": "out/remote-buildkit"},
			line: "metadata-file: out/remote-buildkit: out is a link to $O/bin" + fix},
		{name: "insights", files: map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"},
			links: map[string]string{".remote-buildkit": "$O/insights"}, cfg: map[string]any{"insights": true},
			line: "insights: .remote-buildkit: .remote-buildkit is a link to $O/insights, outside the checkout: remove the link from the checkout, or set insights: false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutside(t)
			expand := func(s string) string { return strings.ReplaceAll(s, "$O", o.dir) }
			links := map[string]string{}
			for k, v := range tc.links {
				links[k] = expand(v)
			}
			repo := j.s.repo(t)
			ref := repo + ":hostile"
			cfg := map[string]any{"tags": []string{ref}, "push": true}
			if tc.cfg["bake"] != nil {
				cfg = map[string]any{} // the bake file names the tags
			}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			r := runLinked(t, j, tc.files, links, cfg)
			// The effect first: on code that follows the link, these fail.
			o.unchanged(t)
			leaked(t, j, r, repo, ref, o.secret)
			if r.code != 2 || !strings.Contains(r.out, expand(tc.line)) {
				t.Fatalf("job exited %d; want 2 with the line %q:\n%s", r.code, expand(tc.line), r.out)
			}
			for _, l := range strings.Split(r.out, "\n") {
				if strings.Contains(l, "outside the checkout") {
					t.Logf("job log: %s", strings.TrimSpace(l))
				}
			}
			noStaging(t, r.dir)
			if !tc.built && !j.s.repoMissing(t, repo) {
				t.Errorf("%s was pushed by a refused step", ref)
			}
		})
	}
}

// TestHostilePathsLegitimate: links that stay inside the checkout keep
// working for every such option (context, dockerfile, build-contexts,
// secrets, a local output, metadata-file, the insights directory), and the
// same options spelled absolute by the step reach outside the checkout, as
// the pipeline's owner chose.
func TestHostilePathsLegitimate(t *testing.T) {
	j := requireAgent(t)
	t.Run("links inside the checkout", func(t *testing.T) {
		repo := j.s.repo(t)
		ref := repo + ":inside"
		files := map[string]string{
			"real/app/Dockerfile": "FROM " + j.s.BaseImage + "\nCOPY --from=assets a.txt /a.txt\n" +
				"RUN --mount=type=secret,id=npmrc cp /run/secrets/npmrc /npmrc\nCOPY app.txt /app.txt\n",
			"real/app/app.txt":    "app inside\n",
			"real/assets/a.txt":   "asset inside\n",
			"real/npmrc":          "npm token inside\n",
			"build/out/.keep":     "",
			"real/meta/.keep":     "",
			"real/insights/.keep": "",
		}
		links := map[string]string{
			"app": "real/app", "Dockerfile.ci": "real/app/Dockerfile", "assets": "real/assets", ".npmrc": "real/npmrc",
			"dist": "build/out", "out": "real/meta", ".remote-buildkit": "real/insights",
		}
		r := runLinked(t, j, files, links, map[string]any{
			"context": "app", "dockerfile": "Dockerfile.ci", "build-contexts": []string{"assets=./assets"},
			"secrets": []string{"id=npmrc,src=.npmrc"}, "outputs": []string{"type=local,dest=dist"},
			"metadata-file": "out/meta.json", "tags": []string{ref}, "push": true,
		})
		if r.code != 0 {
			t.Fatalf("job exited %d:\n%s", r.code, r.out)
		}
		for path, want := range map[string]string{"a.txt": "asset inside\n", "npmrc": "npm token inside\n", "app.txt": "app inside\n"} {
			if got := j.s.imageFile(t, ref, path); got != want {
				t.Errorf("image /%s = %q, want %q", path, got, want)
			}
			if b, err := os.ReadFile(filepath.Join(r.dir, "build/out", path)); err != nil || string(b) != want {
				t.Errorf("local output build/out/%s = %q, %v; want %q", path, b, err, want)
			}
		}
		for _, p := range []string{"real/meta/meta.json", "real/insights/timeline.svg"} {
			if _, err := os.Stat(filepath.Join(r.dir, p)); err != nil {
				t.Errorf("%s was not written through the link inside the checkout: %v", p, err)
			}
		}
		noStaging(t, r.dir)
		if fi, err := os.Lstat(filepath.Join(r.dir, "dist")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("dist is no longer the committed link: %v", err)
		}
	})
	t.Run("absolute paths in the step", func(t *testing.T) {
		o := newOutside(t)
		repo := j.s.repo(t)
		ref := repo + ":absolute"
		os.WriteFile(filepath.Join(o.dir, "app/Dockerfile.abs"), []byte("FROM "+j.s.BaseImage+"\nCOPY --from=assets secret.pem /asset\n"+
			"RUN --mount=type=secret,id=npmrc cp /run/secrets/npmrc /npmrc\n"), 0o644)
		r := runE2E(t, j, map[string]string{"README": "the step names absolute paths\n"}, map[string]any{
			"context": filepath.Join(o.dir, "app"), "dockerfile": filepath.Join(o.dir, "app/Dockerfile.abs"),
			"build-contexts": []string{"assets=" + filepath.Join(o.dir, "assets")},
			"secrets":        []string{"id=npmrc,src=" + filepath.Join(o.dir, "secret.pem")},
			"outputs":        []string{"type=local,dest=" + filepath.Join(o.dir, "dist")},
			"metadata-file":  filepath.Join(o.dir, "meta.json"), "tags": []string{ref}, "push": true,
		})
		if r.code != 0 {
			t.Fatalf("job exited %d:\n%s", r.code, r.out)
		}
		for _, path := range []string{"asset", "npmrc"} {
			if got := j.s.imageFile(t, ref, path); got != o.secret+"\n" {
				t.Errorf("image /%s = %q, want the file the step named", path, got)
			}
		}
		for _, p := range []string{"dist/npmrc", "meta.json"} {
			if _, err := os.Stat(filepath.Join(o.dir, p)); err != nil {
				t.Errorf("%s was not written where the step said: %v", p, err)
			}
		}
	})
}
