package solve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/connhelper"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// auth is a real (empty) auth provider: Plan only puts it in the session.
func auth() session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{})
}

func TestNewPlanFrontendAttrsAndExports(t *testing.T) {
	dir := t.TempDir()
	extra := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	prov := "mode=max"
	c := &config.Config{
		Image: config.Image{ContextDir: dir, Dockerfile: filepath.Join(dir, "docker", "Dockerfile.prod"), Target: "runtime", Platforms: []string{"linux/amd64", "linux/arm64"}, BuildArgs: map[string]string{"B": "2", "A": "1"}, Labels: map[string]string{"team": "platform"}, BuildContexts: map[string]string{"assets": extra, "base": "docker-image://alpine:3"}, Tags: []string{"r.example/app:1", "r.example/app:latest"}, Push: true, NoCache: true, Provenance: &prov, Outputs: []config.Attrs{
			{Type: "oci", Attrs: map[string]string{"dest": filepath.Join(dir, "out.tar")}},
			{Type: "local", Attrs: map[string]string{"dest": filepath.Join(dir, "out")}},
		}, CacheFrom: []config.Attrs{{Type: "registry", Attrs: map[string]string{"ref": "r.example/app:cache"}}}, CacheTo: []config.Attrs{{Type: "inline", Attrs: map[string]string{"mode": "min"}}}, Secrets: []config.Secret{{ID: "tok", Env: "TOKEN"}}},
	}
	p, err := NewRequest(c.Image).Plan(auth())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"filename":          "Dockerfile.prod",
		"target":            "runtime",
		"platform":          "linux/amd64,linux/arm64",
		"build-arg:A":       "1",
		"build-arg:B":       "2",
		"label:team":        "platform",
		"no-cache":          "",
		"attest:provenance": "mode=max",
		"context:assets":    "local:ctx-assets",
		"context:base":      "docker-image://alpine:3",
	}
	if !reflect.DeepEqual(p.Opt.FrontendAttrs, want) {
		t.Errorf("frontend attrs\n got %v\nwant %v", p.Opt.FrontendAttrs, want)
	}
	if p.Opt.Frontend != "dockerfile.v0" {
		t.Errorf("frontend %q", p.Opt.Frontend)
	}
	for _, m := range []string{"context", "dockerfile", "ctx-assets"} {
		if p.Opt.LocalMounts[m] == nil {
			t.Errorf("no local mount %q", m)
		}
	}
	if len(p.Opt.Exports) != 3 {
		t.Fatalf("exports = %+v", p.Opt.Exports)
	}
	img := p.Opt.Exports[0]
	if img.Type != "image" || img.Attrs["name"] != "r.example/app:1,r.example/app:latest" || img.Attrs["push"] != "true" {
		t.Errorf("image export = %+v", img)
	}
	if oci := p.Opt.Exports[1]; oci.Output == nil || oci.Attrs["dest"] != "" {
		t.Errorf("oci export should write through Output, without dest attr: %+v", oci)
	}
	if local := p.Opt.Exports[2]; local.OutputDir != filepath.Join(dir, "out") {
		t.Errorf("local export dir = %q", local.OutputDir)
	}
	if len(p.Opt.CacheImports) != 1 || p.Opt.CacheImports[0].Attrs["ref"] != "r.example/app:cache" {
		t.Errorf("cache imports = %+v", p.Opt.CacheImports)
	}
	if len(p.Opt.Session) != 2 { // auth + secrets
		t.Errorf("session attachables = %d, want 2", len(p.Opt.Session))
	}
}

// Output files appear only on Commit; Discard leaves nothing behind.
func TestPlanOutputFilesAreAtomic(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "image.tar")
	for _, commit := range []bool{true, false} {
		c := &config.Config{
			Image: config.Image{ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"), Outputs: []config.Attrs{{Type: "oci", Attrs: map[string]string{"dest": dest}}}},
		}
		p, err := NewRequest(c.Image).Plan(auth())
		if err != nil {
			t.Fatal(err)
		}
		w, err := p.Opt.Exports[0].Output(nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("tarball"))
		w.Close()
		if _, err := os.Stat(dest); err == nil {
			t.Fatalf("dest exists before the build finished")
		}
		if commit {
			if err := p.Commit(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(dest); string(b) != "tarball" {
				t.Errorf("dest = %q after commit", b)
			}
			os.Remove(dest)
		} else {
			p.Discard()
			if _, err := os.Stat(dest); err == nil {
				t.Errorf("dest exists after discard")
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".image.tar.tmp-*")); len(left) > 0 {
			t.Errorf("temp files left: %v", left)
		}
	}
}

func TestResolveTLS(t *testing.T) {
	write := func(dir string, names ...string) {
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name        string
		host        string
		files       []string
		set         bool
		wantEnabled bool
		wantClient  bool
		wantErr     string
	}{
		{"default dir empty: plaintext", "tcp://h:1234", nil, false, false, false, ""},
		{"default dir full: mTLS", "tcp://h:1234", []string{"ca.pem", "cert.pem", "key.pem"}, false, true, true, ""},
		{"default dir CA only: server TLS", "tcp://h:1234", []string{"ca.pem"}, false, true, false, ""},
		{"default dir cert without key", "tcp://h:1234", []string{"ca.pem", "cert.pem"}, false, false, false, "key.pem"},
		{"explicit dir empty", "tcp://h:1234", nil, true, false, false, "ca.pem, cert.pem, key.pem"},
		{"explicit dir CA only", "tcp://h:1234", []string{"ca.pem"}, true, false, false, "cert.pem, key.pem"},
		{"explicit dir full", "tcp://h:1234", []string{"ca.pem", "cert.pem", "key.pem"}, true, true, true, ""},
		{"unix socket ignores default dir", "unix:///run/buildkit.sock", []string{"ca.pem", "cert.pem", "key.pem"}, false, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(dir, tt.files...)
			got, err := ResolveTLS(config.Node{Host: tt.host, TLSDir: dir, TLSDirSet: tt.set})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitcode.Of(err) != exitcode.Connect {
					t.Fatalf("err = %v (code %d), want %q with exit 3", err, exitcode.Of(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Enabled != tt.wantEnabled || got.ClientCertUsed != tt.wantClient {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestExplainConnect(t *testing.T) {
	c := config.Node{Host: "tcp://10.0.0.5:1234", TLSDir: "/home/agent/.buildkit"}
	tlsOn := TLS{Enabled: true, CA: "/home/agent/.buildkit/ca.pem", Cert: "/home/agent/.buildkit/cert.pem"}
	tests := []struct {
		err  string
		tls  TLS
		want string
	}{
		{`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.5:1234: connect: connection refused"`, tlsOn, "nothing is listening at tcp://10.0.0.5:1234"},
		{`rpc error: code = Unavailable desc = connection error: desc = "error reading server preface: EOF"`, TLS{}, "expects TLS but this client connects without it"},
		{`rpc error: code = Unavailable desc = connection error: desc = "error reading server preface: read tcp 1->2: read: connection reset by peer"`, TLS{}, "put ca.pem, cert.pem and key.pem in /home/agent/.buildkit"},
		{`connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`, tlsOn, "does not speak TLS"},
		{`transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate is valid for localhost, not wrong.example`, tlsOn, "set tls-server-name"},
		{`x509: certificate signed by unknown authority`, tlsOn, "not signed by /home/agent/.buildkit/ca.pem"},
		{`remote error: tls: certificate required`, tlsOn, "requires a client certificate"},
		{`remote error: tls: bad certificate`, tlsOn, "rejected the client certificate"},
		{`dial tcp: lookup buildkitd.internal: no such host`, tlsOn, "cannot resolve the host"},
		{`something new`, tlsOn, "cannot connect to the BuildKit daemon at tcp://10.0.0.5:1234: something new"},
	}
	for _, tt := range tests {
		got := explainConnect(errors.New(tt.err), c, 20*time.Second, tt.tls).Error()
		if !strings.Contains(got, tt.want) || strings.Contains(got, "\n") {
			t.Errorf("explainConnect(%q)\n got %q\nwant it to contain %q, on one line", tt.err, got, tt.want)
		}
	}
	got := explainConnect(context.DeadlineExceeded, c, 20*time.Second, tlsOn).Error()
	if !strings.Contains(got, "within 20s (connect-timeout)") {
		t.Errorf("deadline: %q", got)
	}
}

func TestClassifySolveError(t *testing.T) {
	tests := []struct {
		err      string
		wantCode int
		want     string
	}{
		{"failed to solve: process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3", exitcode.BuildFailed, "exit code: 3"},
		{"failed to push r.example:5000/app:1: unexpected status from HEAD request to https://r.example:5000/v2/app/blobs/sha256:1: 401 Unauthorized", exitcode.RegistryAuth, "registry r.example:5000 refused the credentials"},
		{"failed to solve: failed to authorize: failed to fetch anonymous token: 403 Forbidden", exitcode.RegistryAuth, "a registry refused the credentials"},
		{"failed to solve: exporter \"registry\" could not be found", exitcode.BuildFailed, "use type=image,push=true"},
	}
	for _, tt := range tests {
		err := classifySolveError(context.Background(), errors.New(tt.err))
		if exitcode.Of(err) != tt.wantCode || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("classify(%q) = %d %q, want %d containing %q", tt.err, exitcode.Of(err), err, tt.wantCode, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if err := classifySolveError(ctx, errors.New("context deadline exceeded")); exitcode.Of(err) != exitcode.Timeout {
		t.Errorf("timeout: code %d (%v)", exitcode.Of(err), err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := classifySolveError(ctx, errors.New("context canceled")); exitcode.Of(err) != exitcode.Cancelled || err.Error() != "build cancelled" {
		t.Errorf("cancel: code %d (%v)", exitcode.Of(err), err)
	}
}

// The client's connection helpers are linked in, so these schemes dial
// through them rather than failing as unknown.
func TestConnectionHelpersRegistered(t *testing.T) {
	for _, addr := range []string{
		"docker-container://buildkitd",
		"podman-container://buildkitd",
		"nerdctl-container://buildkitd",
		"kube-pod://buildkitd-0?namespace=ci",
		"ssh://agent@builder.internal",
	} {
		h, err := connhelper.GetConnectionHelper(addr)
		if err != nil || h == nil {
			t.Errorf("no connection helper for %s (%v)", addr, err)
		}
	}
}

// The job's TLS decision is made once: whatever asks for TLS, a dial later
// finding the files gone fails naming them, never plaintext.
func TestDecideTLSFailsClosed(t *testing.T) {
	full := []string{"ca.pem", "cert.pem", "key.pem"}
	tests := []struct {
		name     string
		host     string
		set      bool
		prefix   string
		in       Intent
		atDecide []string // files when the job decides
		atDial   []string // files when it dials
		wantMode config.TLSMode
		wantErr  string
	}{
		{"nothing asks: plaintext", "tcp://h:1", false, "", Intent{}, nil, full, config.TLSOff, ""},
		{"secrets-bucket, files gone", "tcp://h:1", false, "", Intent{Why: "secrets-bucket is set"}, full, nil, config.TLSMutual, "ca.pem, cert.pem, key.pem; TLS is required (secrets-bucket is set)"},
		{"secrets-bucket, key missing", "tcp://h:1", false, "", Intent{Why: "secrets-bucket is set"}, nil, []string{"ca.pem", "cert.pem"}, config.TLSMutual, ": key.pem; TLS is required"},
		{"dns:// with require-tls", "dns://b.internal:1234", false, "", Intent{Why: "require-tls is set"}, nil, nil, config.TLSMutual, "ca.pem, cert.pem, key.pem"},
		{"installed certs deleted before the dial", "tcp://h:1", false, "", Intent{}, full, nil, config.TLSMutual, "TLS is required (certificates are installed in"},
		{"earlier hook's decision", "tcp://h:1", false, "", Intent{Why: "env", Mode: config.TLSMutual}, nil, nil, config.TLSMutual, "TLS is required (env)"},
		{"server-only, CA gone", "tcp://h:1", false, "", Intent{}, []string{"ca.pem"}, nil, config.TLSServer, "ca.pem;"},
		{"node secrets-prefix", "tcp://h:1", false, "p", Intent{}, nil, nil, config.TLSMutual, "secrets-prefix"},
		{"explicit tls-dir", "tcp://h:1", true, "", Intent{}, nil, []string{"ca.pem"}, config.TLSMutual, "cert.pem, key.pem"},
		{"unix socket: not a TLS question", "unix:///run/b.sock", false, "", Intent{Why: "secrets-bucket is set"}, full, full, config.TLSOff, ""},
		{"mTLS kept", "tcp://h:1", false, "", Intent{Why: "secrets-bucket is set"}, full, full, config.TLSMutual, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			put := func(names []string) {
				for _, f := range full {
					os.Remove(filepath.Join(dir, f))
				}
				for _, f := range names {
					if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			put(tt.atDecide)
			n, err := DecideTLS(config.Node{Host: tt.host, TLSDir: dir, TLSDirSet: tt.set, SecretsPrefix: tt.prefix}, tt.in)
			if err != nil || n.TLS != tt.wantMode {
				t.Fatalf("decided %v (%v), want %v", n.TLS, err, tt.wantMode)
			}
			put(tt.atDial)
			got, err := ResolveTLS(n)
			if tt.wantErr == "" {
				if err != nil || got.Enabled != (tt.wantMode != config.TLSOff) {
					t.Fatalf("got %+v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || got.Enabled {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// A tls-dir or a file in it other users can write is refused.
func TestResolveTLSRefusesWritableByOthers(t *testing.T) {
	for _, tt := range []struct{ name, chmod string }{{"dir", "."}, {"ca", "ca.pem"}, {"key", "key.pem"}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
				os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600)
			}
			p := filepath.Join(dir, tt.chmod)
			os.Chmod(p, 0o777)
			_, err := ResolveTLS(config.Node{Host: "tcp://h:1", TLSDir: dir, TLSDirSet: true})
			if err == nil || !strings.Contains(err.Error(), "writable by other users") || !strings.Contains(err.Error(), "chmod go-w "+filepath.Clean(p)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
