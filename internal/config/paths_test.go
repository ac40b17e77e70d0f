package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// TestParseLinksOutOfCheckout: a path the step gives relative to the
// checkout that leaves it through a committed link is one problem naming
// the option, the path and the link; the same option spelled absolute, and
// links that stay inside the checkout, are accepted.
func TestParseLinksOutOfCheckout(t *testing.T) {
	env := map[string]string{"BUILDKIT_HOST": "tcp://buildkitd:1234", "HOME": "/home/agent"}
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "key.pem"), []byte("secret"), 0o600)
	os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	os.Mkdir(filepath.Join(outside, "dir"), 0o755)
	for _, tt := range []struct {
		name, js string
		links    map[string]string // name in the checkout → target ($O: the outside dir)
		key      string            // "" when the configuration is valid
		msg      string
	}{
		{name: "secret src", js: `{"secrets": "id=npmrc,src=.npmrc"}`, links: map[string]string{".npmrc": "$O/key.pem"},
			key: "secrets[0]", msg: "src .npmrc: .npmrc is a link to $O/key.pem, outside the checkout: commit the file itself, or name an absolute path in the step"},
		{name: "secret src absolute", js: `{"secrets": "id=npmrc,src=$O/key.pem"}`},
		{name: "build context", js: `{"build-contexts": {"assets": "./assets"}}`, links: map[string]string{"assets": "$O/dir"},
			key: "build-contexts.assets", msg: "./assets: assets is a link to $O/dir, outside the checkout"},
		{name: "build context relative link out", js: `{"build-contexts": {"assets": "assets"}}`, links: map[string]string{"assets": "../../../../../../.."},
			key: "build-contexts.assets", msg: "assets is a link to ../../../../../../.., outside the checkout"},
		{name: "build context link inside", js: `{"build-contexts": {"assets": "assets"}}`, links: map[string]string{"assets": "real"}},
		{name: "context", js: `{"context": "app", "dockerfile": "Dockerfile"}`, links: map[string]string{"app": "$O/dir"},
			key: "context", msg: "app: app is a link to $O/dir, outside the checkout"},
		{name: "default Dockerfile in a linked context", js: `{"context": "app"}`, links: map[string]string{"app": "$O"},
			key: "context", msg: "app is a link to"},
		{name: "dockerfile", js: `{"dockerfile": "Dockerfile.release"}`, links: map[string]string{"Dockerfile.release": "$O/Dockerfile"},
			key: "dockerfile", msg: "Dockerfile.release: Dockerfile.release is a link to $O/Dockerfile, outside the checkout"},
		{name: "dockerfile link inside", js: `{"dockerfile": "Dockerfile.release"}`, links: map[string]string{"Dockerfile.release": "Dockerfile"}},
		{name: "local output", js: `{"outputs": "type=local,dest=dist"}`, links: map[string]string{"dist": "$O/dir"},
			key: "outputs[0]", msg: "dest dist: dist is a link to $O/dir"},
		{name: "local output with a link out inside: checked as it is written", js: `{"outputs": "type=local,dest=real"}`, links: map[string]string{"real/bin": "$O/dir"}},
		{name: "local cache with a link out inside", js: `{"cache-to": "type=local,dest=real"}`, links: map[string]string{"real/blobs": "$O/dir"},
			key: "cache-to[0]", msg: "dest real: in real: real/blobs is a link to $O/dir"},
		{name: "local output absolute", js: `{"outputs": "type=local,dest=$O/dir"}`},
		{name: "tar output through a dangling link", js: `{"outputs": "type=tar,dest=out/image.tar"}`, links: map[string]string{"out": "$O/not-yet"},
			key: "outputs[0]", msg: "out is a link to $O/not-yet"},
		{name: "local cache export", js: `{"cache-to": "type=local,dest=.cache"}`, links: map[string]string{".cache": "/proc/self/root/tmp"},
			key: "cache-to[0]", msg: "dest .cache: .cache is a link to /proc/self/root/tmp"},
		{name: "local cache import", js: `{"cache-from": "type=local,src=cache"}`, links: map[string]string{"cache": "$O/dir"},
			key: "cache-from[0]", msg: "src cache: cache is a link to"},
		{name: "metadata-file", js: `{"metadata-file": "out/meta.json"}`, links: map[string]string{"out": "$O/dir"},
			key: "metadata-file", msg: "out/meta.json: out is a link to $O/dir"},
		{name: "metadata-file link inside", js: `{"metadata-file": "out/meta.json"}`, links: map[string]string{"out": "real"}},
		{name: "ssh key", js: `{"ssh": "deploy=keys/id"}`, links: map[string]string{"keys": "$O"},
			key: "ssh[0]", msg: "deploy keys/id: keys is a link to"},
		{name: "insights", js: `{"insights": true}`, links: map[string]string{".remote-buildkit": "$O/dir"},
			key: "insights", msg: ".remote-buildkit: .remote-buildkit is a link to $O/dir, outside the checkout: remove the link from the checkout, or set insights: false"},
		{name: "insights off", js: `{"insights": false}`, links: map[string]string{".remote-buildkit": "$O/dir"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wd := newWorkDir(t, "Dockerfile", "real/")
			expand := func(s string) string { return strings.ReplaceAll(s, "$O", outside) }
			for name, target := range tt.links {
				os.MkdirAll(filepath.Dir(filepath.Join(wd, name)), 0o755)
				if err := os.Symlink(expand(target), filepath.Join(wd, name)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := config.Parse([]byte(expand(tt.js)), envOf(env), wd)
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Parse(%s) = %v; want no error", tt.js, err)
				}
				return
			}
			problems := problemsOf(t, err)
			if len(problems) != 1 || problems[0].Key != tt.key || !strings.Contains(problems[0].Msg, expand(tt.msg)) {
				t.Fatalf("Parse(%s) = %v; want one problem at %s mentioning %q", tt.js, err, tt.key, expand(tt.msg))
			}
		})
	}
}
