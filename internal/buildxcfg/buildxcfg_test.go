package buildxcfg

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/store"
	"github.com/docker/buildx/util/confutil"
)

// readByBuildx reads the builder name from dir with buildx v0.38.2's own
// store, as `docker buildx` does with BUILDX_CONFIG=dir, and the builder
// buildx picks without BUILDX_BUILDER.
func readByBuildx(t *testing.T, dir, name string) (ng, current *store.NodeGroup) {
	t.Helper()
	s, err := store.New(confutil.NewConfig(nil, confutil.WithDir(dir)))
	if err != nil {
		t.Fatal(err)
	}
	txn, release, err := s.Txn()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ng, err = txn.NodeGroupByName(name)
	if err != nil {
		t.Fatalf("buildx cannot read builder %s: %v", name, err)
	}
	current, err = txn.Current("unix:///var/run/docker.sock")
	if err != nil {
		t.Fatal(err)
	}
	return ng, current
}

func TestBuilderWriteIsReadByBuildx(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	b := Builder{Name: "Remote-BuildKit", Nodes: []Node{
		{Name: "amd64", Endpoint: "tcp://10.0.0.1:1234", Platforms: []string{"linux/amd64"},
			DriverOpts: DriverOpts(TLS{CA: "/h/.buildkit/ca.pem", Cert: "/h/.buildkit/cert.pem", Key: "/h/.buildkit/key.pem", ServerName: "builders.internal"}, true)},
		{Name: "arm64", Endpoint: "tcp://10.0.0.2:1234", Platforms: []string{"linux/arm64", "linux/arm/v7"}, DriverOpts: DriverOpts(TLS{}, false)},
	}}
	if err := b.Write(dir, now); err != nil {
		t.Fatal(err)
	}
	ng, current := readByBuildx(t, dir, "remote-buildkit")
	if ng.Name != "remote-buildkit" || ng.Driver != "remote" || ng.Dynamic || len(ng.Nodes) != 2 {
		t.Fatalf("buildx read %+v", ng)
	}
	if !ng.LastActivity.Equal(now) {
		t.Errorf("last activity %s, want %s", ng.LastActivity, now)
	}
	amd, arm := ng.Nodes[0], ng.Nodes[1]
	wantOpts := map[string]string{"cacert": "/h/.buildkit/ca.pem", "cert": "/h/.buildkit/cert.pem", "key": "/h/.buildkit/key.pem",
		"servername": "builders.internal", "default-load": "true"}
	if amd.Name != "amd64" || amd.Endpoint != "tcp://10.0.0.1:1234" || !reflect.DeepEqual(amd.DriverOpts, wantOpts) {
		t.Errorf("node 0 = %+v", amd)
	}
	var got []string
	for _, p := range arm.Platforms {
		got = append(got, platforms.Format(p))
	}
	if !reflect.DeepEqual(got, []string{"linux/arm64", "linux/arm/v7"}) || len(arm.DriverOpts) != 0 {
		t.Errorf("node 1 = %+v (platforms %v)", arm, got)
	}
	if current == nil || current.Name != "remote-buildkit" {
		t.Errorf("buildx's current builder = %+v, want remote-buildkit", current)
	}
	for _, f := range []string{"instances/remote-buildkit", "activity/remote-buildkit", "current"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode())
		}
	}
}

func TestBuilderWriteReplacesTheEarlierBuilder(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"first", "second"} {
		if err := (Builder{Name: name, Nodes: []Node{{Name: name + "0", Endpoint: "tcp://a:1"}}}).Write(dir, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "instances"))
	if len(entries) != 1 || entries[0].Name() != "second" {
		t.Errorf("instances: %v, want only second", entries)
	}
	if err := (Builder{Name: "9lives"}).Write(dir, time.Now()); err == nil || !strings.Contains(err.Error(), "starting with a letter") {
		t.Errorf("an invalid name: %v", err)
	}
}

func TestNodeName(t *testing.T) {
	for in, want := range map[string]string{
		"amd64":             "amd64",
		"Graviton":          "graviton",
		"127.0.0.31:1260":   "rb-127.0.0.31-1260",
		"buildkit.int:1234": "buildkit.int-1234",
		"unix/sock":         "unix-sock",
	} {
		if got := NodeName("rb", in); got != want || !ValidName(got) {
			t.Errorf("NodeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClientOptionsAndEndpoints(t *testing.T) {
	n := Node{Endpoint: "tcp://10.0.0.1:1234", DriverOpts: DriverOpts(TLS{CA: "/ca.pem"}, false)}
	if opts, err := n.ClientOptions(); err != nil || len(opts) != 1 {
		t.Errorf("server-only TLS: %d options, %v; want the server config only", len(opts), err)
	}
	n.DriverOpts = DriverOpts(TLS{CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem", ServerName: "b"}, false)
	if opts, err := n.ClientOptions(); err != nil || len(opts) != 2 {
		t.Errorf("mTLS: %d options, %v; want server config and credentials", len(opts), err)
	}
	if opts, _ := (Node{Endpoint: "unix:///run/b.sock"}).ClientOptions(); len(opts) != 0 {
		t.Errorf("no TLS: %d options", len(opts))
	}
	for ep, ok := range map[string]bool{"tcp://a:1": true, "unix:///s": true, "ssh://u@h": true, "docker-container://c": true,
		"kube-pod://p": true, "podman-container://c": false, "nerdctl-container://c": false} {
		if err := CheckEndpoint(ep); (err == nil) != ok {
			t.Errorf("CheckEndpoint(%s) = %v", ep, err)
		}
	}
}

func TestJobDirectory(t *testing.T) {
	user := t.TempDir()
	userConfig := `{"auths": {"r.example.com": {"auth": "dXNlcjpzZWNyZXQ="}},
  "credsStore": "pass", "credHelpers": {"gcr.io": "gcloud", "reg.internal": "ecr-login"},
  "proxies": {"default": {"httpProxy": "http://proxy:3128"}}, "currentContext": "ci"}`
	for name, content := range map[string]string{"config.json": userConfig, "cli-plugins/docker-buildx": "#!/bin/sh\n", "contexts/meta/x": "{}", "buildx/current": "{}"} {
		os.MkdirAll(filepath.Dir(filepath.Join(user, name)), 0o755)
		os.WriteFile(filepath.Join(user, name), []byte(content), 0o644)
	}
	j, err := CreateJob(t.TempDir(), "job-1")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(j.Dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("job dir mode %v, want 0700", fi.Mode().Perm())
	}
	if err := j.WriteDockerConfig(user, "remote-buildkit", []string{"reg.internal"}); err != nil {
		t.Fatal(err)
	}
	if err := j.LinkUserEntries(user); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(j.Dir, "config.json"))
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["auths"]; ok || strings.Contains(string(b), "dXNlcjpzZWNyZXQ=") {
		t.Errorf("the job's config.json keeps the plain-text logins:\n%s", b)
	}
	want := map[string]any{"credsStore": "remote-buildkit", "credHelpers": map[string]any{"gcr.io": "gcloud", "reg.internal": "remote-buildkit"},
		"proxies": map[string]any{"default": map[string]any{"httpProxy": "http://proxy:3128"}}, "currentContext": "ci"}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("config.json = %v\nwant %v", doc, want)
	}
	if target, err := os.Readlink(filepath.Join(j.Dir, "cli-plugins")); err != nil || target != filepath.Join(user, "cli-plugins") {
		t.Errorf("cli-plugins link: %q, %v", target, err)
	}
	if _, err := os.Lstat(filepath.Join(j.Dir, "buildx")); err == nil {
		t.Errorf("the user's buildx directory was linked into the job's")
	}
	if _, ok := OpenJob(j.Dir, "job-2"); ok {
		t.Errorf("OpenJob accepted another job's directory")
	}
	if _, ok := OpenJob(user, ""); ok {
		t.Errorf("OpenJob accepted an unmarked directory")
	}
	if got, ok := OpenJob(j.Dir, "job-1"); !ok || got.Remove() != nil {
		t.Fatalf("OpenJob(own) = %v", ok)
	}
	if _, err := os.Stat(filepath.Join(user, "cli-plugins", "docker-buildx")); err != nil {
		t.Errorf("removing the job dir removed the user's files: %v", err)
	}
}

func TestWriteDockerConfigWithoutUserConfig(t *testing.T) {
	j, err := CreateJob(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.WriteDockerConfig(filepath.Join(t.TempDir(), "missing"), "remote-buildkit", nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(j.Dir, "config.json"))
	if strings.Join(strings.Fields(string(b)), "") != `{"credsStore":"remote-buildkit"}` {
		t.Errorf("config.json = %s", b)
	}
	if err := j.LinkUserEntries(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("LinkUserEntries(missing) = %v", err)
	}
}

func TestPrependPath(t *testing.T) {
	for _, tt := range []struct{ dir, path, want string }{
		{"/j/bin", "/usr/bin:/bin", "/j/bin:/usr/bin:/bin"},
		{"/j/bin", "/usr/bin:/j/bin:/bin", "/j/bin:/usr/bin:/bin"},
		{"/j/bin", "", "/j/bin"},
	} {
		if got := PrependPath(tt.dir, tt.path); got != tt.want {
			t.Errorf("PrependPath(%q, %q) = %q, want %q", tt.dir, tt.path, got, tt.want)
		}
	}
}
