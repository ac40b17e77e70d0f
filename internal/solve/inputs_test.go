package solve

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/solver/pb"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// planFor parses js as the plugin configuration (in a work dir with a
// Dockerfile and out/) and plans it, with a loader that discards.
func planFor(t *testing.T, js string) *Plan {
	t.Helper()
	p, err := requestFor(t, js).WithLoader(discardLoader).Plan(auth())
	if err != nil {
		t.Fatalf("Plan(%s): %v", js, err)
	}
	return p
}

func requestFor(t *testing.T, js string) Request {
	t.Helper()
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(wd, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := config.Env(func(k string) (string, bool) {
		v, ok := map[string]string{"BUILDKIT_HOST": "tcp://buildkitd:1234", "HOME": wd}[k]
		return v, ok
	})
	cfg, err := config.Parse([]byte(js), env, wd)
	if err != nil {
		t.Fatalf("Parse(%s): %v", js, err)
	}
	return NewRequest(cfg.Image)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func discardLoader(map[string]string) (io.WriteCloser, error) {
	return nopWriteCloser{io.Discard}, nil
}

// The frontend attributes and entitlements are the ones buildx v0.38.2
// sends for the same `docker buildx build` flags: build/opt.go toSolveOpt
// (image-resolve-mode, no-cache, force-network-mode + network.host,
// add-hosts from build/utils.go toBuildkitExtraHosts, shm-size in bytes,
// ulimit from toBuildkitUlimits), commands/build.go (AllowedEntitlements
// from buildflags.ParseEntitlements) and build/build.go (the call's
// requestid and frontend.caps, check renamed lint by
// buildflags.ParseCallFunc).
func TestPlanInputsAsBuildxSends(t *testing.T) {
	tests := []struct {
		name  string
		js    string
		attrs map[string]string // besides filename
		allow []string
	}{
		{"nothing set adds nothing", `{}`, map[string]string{}, nil},
		{"--pull", `{"pull": true}`, map[string]string{"image-resolve-mode": "pull"}, nil},
		{"--no-cache-filter test --no-cache-filter lint", `{"no-cache-filters": ["test", "lint"]}`,
			map[string]string{"no-cache": "test,lint"}, nil},
		{"--add-host a:10.0.0.5 --add-host b=::1 --add-host c:[fe80::1]", `{"add-hosts": ["a:10.0.0.5", "b=::1", "c:[fe80::1]"]}`,
			map[string]string{"add-hosts": "a=10.0.0.5,b=::1,c=fe80::1"}, nil},
		{"--network none", `{"network": "none"}`, map[string]string{"force-network-mode": "none"}, nil},
		{"--network default", `{"network": "default"}`, map[string]string{}, nil},
		{"--network host --allow network.host", `{"network": "host", "allow": "network.host"}`,
			map[string]string{"force-network-mode": "host"}, []string{"network.host"}},
		{"--allow security.insecure --allow device=nvidia.com/gpu=all", `{"allow": ["security.insecure", "device=nvidia.com/gpu=all"]}`,
			map[string]string{}, []string{"security.insecure", "device=nvidia.com/gpu=all"}},
		{"--shm-size 128m", `{"shm-size": "128m"}`, map[string]string{"shm-size": "134217728"}, nil},
		{"--shm-size 2g", `{"shm-size": "2g"}`, map[string]string{"shm-size": "2147483648"}, nil},
		{"--ulimit nproc=512 --ulimit nofile=1024:2048", `{"ulimit": ["nproc=512", "nofile=1024:2048"]}`,
			map[string]string{"ulimit": "nofile=1024:2048,nproc=512:512"}, nil},
		{"--call check", `{"call": "check"}`,
			map[string]string{"requestid": "frontend.lint", "frontend.caps": "moby.buildkit.frontend.subrequests+forward"}, nil},
		{"--call outline", `{"call": "outline"}`,
			map[string]string{"requestid": "frontend.outline", "frontend.caps": "moby.buildkit.frontend.subrequests+forward"}, nil},
		{"--call targets", `{"call": "targets"}`,
			map[string]string{"requestid": "frontend.targets", "frontend.caps": "moby.buildkit.frontend.subrequests+forward"}, nil},
		{"--call build", `{"call": "build"}`, map[string]string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFor(t, tt.js)
			want := map[string]string{"filename": "Dockerfile"}
			for k, v := range tt.attrs {
				want[k] = v
			}
			if !reflect.DeepEqual(p.Opt.FrontendAttrs, want) {
				t.Errorf("frontend attrs\n got %v\nwant %v", p.Opt.FrontendAttrs, want)
			}
			if !reflect.DeepEqual(p.Opt.AllowedEntitlements, tt.allow) {
				t.Errorf("AllowedEntitlements = %q; want %q", p.Opt.AllowedEntitlements, tt.allow)
			}
		})
	}
}

// no-cache beats no-cache-filters, as in buildx's toSolveOpt (config also
// reports the pair, so only a hand-made Request gets here).
func TestPlanNoCacheBeatsFilters(t *testing.T) {
	r := requestFor(t, `{"no-cache-filters": "test"}`)
	r.img.NoCache = true
	p, err := r.Plan(auth())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.Opt.FrontendAttrs["no-cache"]; !ok || v != "" {
		t.Errorf(`no-cache = %q, %v; want "" (every stage)`, v, ok)
	}
}

// Annotations go on every exporter as annotation attrs (buildx's
// commands/build.go, keys from exptypes.AnnotationKey.String); load adds
// buildx's docker exporter named after the tags, writing to the loader.
func TestPlanAnnotationsAndLoad(t *testing.T) {
	p := planFor(t, `{
		"tags": ["r.example/app:1", "r.example/app:latest"], "push": true, "load": true, "provenance": true,
		"outputs": "type=oci,dest=out/image.tar",
		"annotations": ["org.opencontainers.image.title=app", "index:i=1", "manifest[linux/arm64]:m=2"]}`)
	ann := map[string]string{
		"annotation.org.opencontainers.image.title": "app",
		"annotation-index.i":                        "1",
		"annotation-manifest[linux/arm64].m":        "2",
	}
	withAnn := func(m map[string]string) map[string]string {
		for k, v := range ann {
			m[k] = v
		}
		return m
	}
	want := []client.ExportEntry{
		{Type: "image", Attrs: withAnn(map[string]string{"name": "r.example/app:1,r.example/app:latest", "push": "true"})},
		{Type: "docker", Attrs: withAnn(map[string]string{"name": "r.example/app:1,r.example/app:latest"})},
		{Type: "oci", Attrs: withAnn(map[string]string{})},
	}
	if len(p.Opt.Exports) != len(want) {
		t.Fatalf("exports = %+v; want %d", p.Opt.Exports, len(want))
	}
	for i, e := range p.Opt.Exports {
		if e.Type != want[i].Type || !reflect.DeepEqual(e.Attrs, want[i].Attrs) {
			t.Errorf("export %d = %s %v; want %s %v", i, e.Type, e.Attrs, want[i].Type, want[i].Attrs)
		}
		if e.Type != "image" && e.Output == nil {
			t.Errorf("export %d (%s) has no Output", i, e.Type)
		}
	}
	if !requestFor(t, `{"load": true}`).Load() || requestFor(t, `{}`).Load() {
		t.Error("Load() does not report load")
	}
}

func TestPlanLoadNeedsALoader(t *testing.T) {
	_, err := requestFor(t, `{"load": true, "tags": "app"}`).Plan(auth())
	if err == nil || !strings.Contains(err.Error(), "WithLoader") {
		t.Errorf("Plan() without a loader: error = %v; want one naming WithLoader", err)
	}
	// A call other than build exports nothing, so it needs no loader.
	if _, err := requestFor(t, `{"load": true, "call": "check"}`).Plan(auth()); err != nil {
		t.Errorf("Plan() of call: check with load: %v", err)
	}
}

// A split build's part pushes by digest only: never load, and no index
// annotations (the index is assembled afterwards, with IndexAnnotations).
func TestPushByDigestDropsLoadAndIndexAnnotations(t *testing.T) {
	whole := requestFor(t, `{"load": true, "tags": "app", "platforms": "linux/amd64",
		"annotations": ["m=1", "index:i=2", "index-descriptor:d=3"], "provenance": true}`)
	r := whole.PushByDigest("r.example/app")
	if r.Load() {
		t.Error("PushByDigest kept load")
	}
	p, err := r.Plan(auth())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": "r.example/app", "push": "true", "push-by-digest": "true", "annotation.m": "1"}
	if len(p.Opt.Exports) != 1 || !reflect.DeepEqual(p.Opt.Exports[0].Attrs, want) {
		t.Errorf("split build part exports %+v; want one image exporter with %v", p.Opt.Exports, want)
	}
	if got := whole.IndexAnnotations(); !reflect.DeepEqual(got, map[string]string{"i": "2"}) {
		t.Errorf("IndexAnnotations() = %v; want i=2", got)
	}
	if len(whole.img.Annotations) != 3 {
		t.Errorf("PushByDigest changed the original request's annotations: %v", whole.img.Annotations)
	}
}

// A call other than build exports nothing, no cache either, and is
// internal (buildx sets SolveOpt.Internal for a call function).
func TestPlanCallExportsNothing(t *testing.T) {
	p := planFor(t, `{"call": "check", "tags": "r.example/app:1", "push": true, "outputs": "type=local,dest=out",
		"cache-to": "type=inline", "cache-from": "type=registry,ref=r.example/app:cache"}`)
	if len(p.Opt.Exports) != 0 || len(p.Opt.CacheExports) != 0 || !p.Opt.Internal {
		t.Errorf("exports %+v, cache exports %+v, internal %v; want none, none, true", p.Opt.Exports, p.Opt.CacheExports, p.Opt.Internal)
	}
	if len(p.Opt.CacheImports) != 1 {
		t.Errorf("cache imports %+v; want the registry cache (lint reads no cache, but the frontend may)", p.Opt.CacheImports)
	}
	r := requestFor(t, `{"call": "check", "load": true, "tags": "r.example/app:1", "push": true}`)
	if r.Load() || r.Pushes() != nil {
		t.Errorf("call check: Load() %v, Pushes() %q; want false, none", r.Load(), r.Pushes())
	}
	if got := r.Call(); got != "check" {
		t.Errorf("Call() = %q", got)
	}
	if got := (Request{}).Call(); got != "build" {
		t.Errorf("zero Request's Call() = %q; want build", got)
	}
}

// decodeCall reads the metadata the frontend's lint subrequest produces
// (lint.LintResults.ToResult, the same code the daemon runs).
func TestDecodeCallCheck(t *testing.T) {
	lr := lint.LintResults{Sources: []*pb.SourceInfo{{Filename: "Dockerfile", Language: "Dockerfile", Data: []byte("FROM busybox as build\n")}}}
	lr.AddWarning("FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword", "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
		"'as' and 'FROM' keywords' casing do not match", 0, []parser.Range{{Start: parser.Position{Line: 1}, End: parser.Position{Line: 1}}})
	lr.AddWarning("NoPlace", "", "", "somewhere", -1, nil)
	res, err := lr.ToResult(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCall("check", res.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	want := []Warning{
		{Rule: "FromAsCasing", Detail: "'as' and 'FROM' keywords' casing do not match", Location: "Dockerfile:1", URL: "https://docs.docker.com/go/dockerfile/rule/from-as-casing/"},
		{Rule: "NoPlace", Detail: "somewhere"},
	}
	if !reflect.DeepEqual(got.Warnings, want) {
		t.Errorf("warnings\n got %+v\nwant %+v", got.Warnings, want)
	}
	if got.StatusCode != 1 || !got.Failed() || got.Call != "check" || !strings.Contains(got.Text, "FromAsCasing") || !strings.Contains(got.JSON, `"ruleName"`) {
		t.Errorf("result %+v; want status 1, failed, the text and JSON", got)
	}

	clean, err := (&lint.LintResults{}).ToResult(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeCall("check", clean.Metadata); err != nil || got.Failed() || len(got.Warnings) != 0 {
		t.Errorf("clean lint: %+v, %v; want not failed", got, err)
	}

	broken := lint.LintResults{Sources: lr.Sources, Error: &lint.BuildError{Message: "unknown instruction: FORM", Location: pb.Location{SourceIndex: 0, Ranges: []*pb.Range{{Start: &pb.Position{Line: 2}}}}}}
	res, err = broken.ToResult(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeCall("check", res.Metadata); err != nil || got.Error != "Dockerfile:2: unknown instruction: FORM" || !got.Failed() {
		t.Errorf("lint with a build error: %+v, %v", got, err)
	}
}

func TestDecodeCallOutline(t *testing.T) {
	got, err := decodeCall("targets", map[string][]byte{"result.json": []byte(`{"targets":[]}`), "result.txt": []byte("TARGET\n"), "result.statuscode": []byte("0")})
	if err != nil || got.Failed() || got.Text != "TARGET\n" || got.JSON != `{"targets":[]}` {
		t.Errorf("targets: %+v, %v", got, err)
	}
	if _, err := decodeCall("outline", map[string][]byte{"result.statuscode": []byte("x")}); err == nil {
		t.Error("a non-numeric status code decodes")
	}
	if got, _ := decodeCall("outline", map[string][]byte{"result.statuscode": []byte("3")}); !got.Failed() {
		t.Error("status 3 is not a failure")
	}
}

// The daemon's own words (BuildKit v0.34.2 on the stack, recorded by
// tests/integration/inputs_test.go), as classifySolveError leaves them.
func TestExplainEntitlement(t *testing.T) {
	tests := []struct {
		daemon string
		want   []string
	}{
		{"failed to solve: granting entitlement security.insecure is not allowed by build daemon configuration",
			[]string{"--allow-insecure-entitlement security.insecure", `insecure-entitlements = ["security.insecure"]`, "remove security.insecure from allow", "[failed to solve: granting"}},
		{"failed to solve: granting entitlement network.host is not allowed by build daemon configuration",
			[]string{"--allow-insecure-entitlement network.host"}},
		{"failed to solve: failed to load LLB: security.insecure is not allowed",
			[]string{"add allow: [security.insecure]", "--allow-insecure-entitlement security.insecure"}},
		{"failed to solve: failed to load LLB: network.host is not allowed",
			[]string{"add allow: [network.host]"}},
		{"failed to solve: device nvidia.com/gpu=all is requested by the build but not allowed",
			[]string{"asks for device nvidia.com/gpu=all", "add device=NAME to allow"}},
	}
	for _, tt := range tests {
		in := exitcode.With(exitcode.BuildFailed, errors.New(tt.daemon))
		got := ExplainEntitlement(in)
		for _, s := range tt.want {
			if !strings.Contains(got.Error(), s) {
				t.Errorf("ExplainEntitlement(%q) = %q; want it to mention %q", tt.daemon, got, s)
			}
		}
		if !errors.Is(got, in) || exitcode.Of(got) != exitcode.BuildFailed || strings.Contains(got.Error(), "\n") {
			t.Errorf("ExplainEntitlement(%q) lost the error or its exit code, or is not one line: %v", tt.daemon, got)
		}
	}
	other := errors.New("failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1")
	if ExplainEntitlement(other) != other || ExplainEntitlement(nil) != nil {
		t.Error("ExplainEntitlement changed an error it does not explain")
	}
}
