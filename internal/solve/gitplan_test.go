package solve

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

func gitImage(t *testing.T) config.Image {
	return config.Image{
		ContextDir: "/checkout/app", Dockerfile: "/checkout/docker/Dockerfile",
		BuildContexts: map[string]string{"assets": t.TempDir(), "base": "docker-image://alpine:3"},
		GitContext: &config.GitContext{Remote: "git://git.example/app.git", Commit: commit, Subdir: "app",
			Dockerfile: "docker/Dockerfile", Excludes: []string{"*.log", "!keep.log"}, Root: "/checkout"},
		SourceDateEpoch: "1700000000", CacheMountNS: "acme/web", Reproducible: true,
		Tags: []string{"r.example/app:1"},
		Outputs: []config.Attrs{
			{Type: "oci", Attrs: map[string]string{"dest": t.TempDir() + "/o.tar", "rewrite-timestamp": "false"}},
			{Type: "docker", Attrs: map[string]string{"dest": t.TempDir() + "/d.tar"}},
			{Type: "local", Attrs: map[string]string{"dest": t.TempDir()}},
		},
	}
}

// ops marshals st and returns its ops (the last, empty-op, dropped).
func ops(t *testing.T, st llb.State) []*pb.Op {
	t.Helper()
	def, err := st.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []*pb.Op
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.Unmarshal(dt); err != nil {
			t.Fatal(err)
		}
		if op.Op != nil {
			out = append(out, &op)
		}
	}
	return out
}

// A git context uploads nothing of the checkout: the frontend gets the
// repository at the commit as its context and Dockerfile inputs, the
// context scoped to its directory with the .dockerignore applied; local
// build-contexts are still served.
func TestPlanGitContext(t *testing.T) {
	p, err := NewRequest(gitImage(t)).Plan(auth())
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(p.Opt.LocalMounts)); !slices.Equal(got, []string{"ctx-assets"}) {
		t.Errorf("local mounts %v, want only ctx-assets", got)
	}
	for k, want := range map[string]string{
		"filename":                          "docker/Dockerfile",
		"input:context":                     "git://git.example/app.git#" + commit + ":app",
		"context:assets":                    "local:ctx-assets",
		"build-arg:SOURCE_DATE_EPOCH":       "1700000000",
		"build-arg:BUILDKIT_CACHE_MOUNT_NS": "acme/web",
	} {
		if got := p.Opt.FrontendAttrs[k]; got != want {
			t.Errorf("attr %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := p.Opt.FrontendAttrs["context"]; ok {
		t.Error("attr context set: the frontend would fetch the repository a second time")
	}
	df := ops(t, p.Opt.FrontendInputs["dockerfile"])
	src := df[0].GetSource()
	if len(df) != 1 || src == nil || src.Identifier != "git://git.example/app.git#"+commit {
		t.Fatalf("dockerfile input: want one git source at the commit, got %v", df)
	}
	if src.Attrs[pb.AttrFullRemoteURL] != "git://git.example/app.git" || src.Attrs[pb.AttrGitMTime] != "commit" || src.Attrs[pb.AttrKeepGitDir] != "" {
		t.Errorf("git source attrs %v: want the full URL, mtime=commit (SOURCE_DATE_EPOCH), no .git", src.Attrs)
	}
	ctxOps := ops(t, p.Opt.FrontendInputs["context"])
	var cp *pb.FileActionCopy
	for _, op := range ctxOps {
		if f := op.GetFile(); f != nil {
			cp = f.Actions[0].GetCopy()
		}
	}
	if cp == nil || cp.Src != "/app" || !cp.DirCopyContents || !slices.Equal(cp.ExcludePatterns, []string{"*.log", "!keep.log"}) {
		t.Errorf("context input: want a copy of /app with the .dockerignore patterns, got %+v", cp)
	}
	for _, e := range p.Opt.Exports {
		want := map[string]string{"image": "true", "oci": "false", "docker": "true", "local": ""}[e.Type]
		if got := e.Attrs["rewrite-timestamp"]; got != want {
			t.Errorf("%s exporter rewrite-timestamp = %q, want %q", e.Type, got, want)
		}
	}
}

// Without .dockerignore patterns at the repository's root the context is
// the git source itself; BUILDKIT_CONTEXT_KEEP_GIT_DIR keeps .git, as the
// frontend does for a git context.
func TestPlanGitContextAtTheRoot(t *testing.T) {
	img := gitImage(t)
	img.GitContext.Subdir, img.GitContext.Excludes, img.SourceDateEpoch, img.Reproducible = "", nil, "", false
	img.BuildArgs = map[string]string{"BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1"}
	p, err := NewRequest(img).Plan(auth())
	if err != nil {
		t.Fatal(err)
	}
	ctxOps := ops(t, p.Opt.FrontendInputs["context"])
	if len(ctxOps) != 1 || ctxOps[0].GetSource() == nil || ctxOps[0].GetSource().Attrs[pb.AttrKeepGitDir] != "true" {
		t.Errorf("context input: want the git source with .git kept, got %v", ctxOps)
	}
	if _, ok := ctxOps[0].GetSource().Attrs[pb.AttrGitMTime]; ok {
		t.Error("mtime=commit without SOURCE_DATE_EPOCH")
	}
	for _, e := range p.Opt.Exports {
		if e.Type != "oci" && e.Attrs["rewrite-timestamp"] != "" {
			t.Errorf("%s exporter rewrites timestamps without reproducible", e.Type)
		}
	}
}

// An ssh repository's host key is read for the daemon's git; a server that
// does not answer is an infrastructure failure, named.
func TestPlanGitContextSSHHostUnreachable(t *testing.T) {
	img := gitImage(t)
	img.GitContext.Remote = "ssh://git@127.0.0.1:1/app.git"
	_, err := NewRequest(img).Plan(auth())
	if exitcode.Of(err) != exitcode.Connect || !strings.Contains(err.Error(), "cannot read the host key of 127.0.0.1:1, the ssh server of BUILDKITE_REPO ssh://xxxxx@127.0.0.1:1/app.git") {
		t.Errorf("Plan: exit %d, %v; want exit 3 naming the ssh server", exitcode.Of(err), err)
	}
}

// The daemon's git failures (messages as BuildKit v0.34.2 and git 2.39
// report them) become one line naming the repository, exit 3 when the
// server cannot be reached, 2 when the configuration is wrong.
func TestExplainGit(t *testing.T) {
	const pre = "failed to solve: failed to read dockerfile: "
	tests := []struct {
		remote, tokenEnv, err string
		code                  int
		want                  string
	}{
		{"git://127.0.0.1:1/r.git", "", pre + "failed to fetch remote git://127.0.0.1:1/r.git: git stderr: fatal: unable to connect to 127.0.0.1: 127.0.0.1[0: 127.0.0.1]: errno=Connection refused : exit status 128",
			exitcode.Connect, "could not fetch git://127.0.0.1:1/r.git at " + commit + ": unable to connect to 127.0.0.1: 127.0.0.1[0: 127.0.0.1]: errno=Connection refused (the daemon cannot reach the git server"},
		{"git://no-such-host.invalid/r.git", "", pre + "failed to fetch remote git://no-such-host.invalid/r.git: git stderr: fatal: unable to look up no-such-host.invalid (port 9418) (Name or service not known) : exit status 128",
			exitcode.Connect, "unable to look up no-such-host.invalid"},
		{"https://example.invalid/x", "", pre + "failed to fetch remote https://example.invalid/x: git stderr: fatal: unable to access 'https://example.invalid/x/': Could not resolve host: example.invalid : exit status 128",
			exitcode.Connect, "Could not resolve host: example.invalid"},
		{"git://127.0.0.1:9777/nope.git", "", pre + "failed to fetch remote git://127.0.0.1:9777/nope.git: git stderr: fatal: remote error: access denied or repository not exported: /nope.git : exit status 128",
			exitcode.BadConfig, "access denied or repository not exported: /nope.git (the git server does not serve that repository: check BUILDKITE_REPO)"},
		{"git://127.0.0.1:9777/r.git", "", pre + "failed to checkout remote git://127.0.0.1:9777/r.git: git stderr: fatal: reference is not a tree: " + commit + " : exit status 128",
			exitcode.BadConfig, "reference is not a tree: " + commit + " (the repository does not have the commit: push it"},
		{"http://ci:s3cret@127.0.0.1:8080/r.git", "MY_TOKEN", pre + "failed to fetch remote http://xxxxx:xxxxx@127.0.0.1:8080/r.git: git stderr: fatal: Authentication failed for 'http://127.0.0.1:8080/r.git/' : exit status 128",
			exitcode.BadConfig, "could not fetch http://xxxxx:xxxxx@127.0.0.1:8080/r.git at " + commit + ": Authentication failed for 'http://127.0.0.1:8080/r.git/' (the repository is missing or refused the token in $MY_TOKEN"},
		{"ssh://git@127.0.0.1:2222/r.git", "", pre + "failed to fetch remote ssh://git@127.0.0.1:2222/r.git: git stderr: git@127.0.0.1: Permission denied (publickey).\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists. : exit status 128",
			exitcode.BadConfig, "the job's ssh-agent (SSH_AUTH_SOCK) holds a key that may read it"},
		{"git@github.com:o/r.git", "", "failed to solve: failed to load cache key: no SSH key \"default\" forwarded from the client",
			exitcode.BadConfig, "no SSH key \"default\" forwarded from the client (the repository is missing or refused the key"},
	}
	for _, tt := range tests {
		g := &config.GitContext{Remote: tt.remote, Commit: commit, TokenEnv: tt.tokenEnv}
		err := gitcontext.Explain(g, errors.New(tt.err))
		var ge *gitcontext.GitError
		if exitcode.Of(err) != tt.code || !errors.As(err, &ge) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Explain(%q)\n = exit %d %v\nwant exit %d containing %q", tt.err, exitcode.Of(err), err, tt.code, tt.want)
		}
		if ClassifyInfra("tcp://b:1234", err) != nil {
			t.Errorf("%q: a git failure is not the daemon's: no retry", tt.err)
		}
	}
	if err := gitcontext.Explain(&config.GitContext{Remote: "git://g/r.git"}, errors.New(`process "/bin/sh -c exit 1" did not complete successfully: exit code: 1`)); err != nil {
		t.Errorf("a failed RUN explained as a git failure: %v", err)
	}
	if err := gitcontext.Explain(nil, errors.New("failed to fetch remote git://g/r.git: x")); err != nil {
		t.Errorf("no git-context: %v", err)
	}
}
