package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// docker/build-push-action's inputs, max-load-factor, dns-server, dns://
// and insights: each accepted spelling and the value the Config holds.
func TestParseInputs(t *testing.T) {
	env := map[string]string{"BUILDKIT_HOST": "tcp://buildkitd:1234", "HOME": "/home/agent"}
	tests := []struct {
		name  string
		js    string
		env   map[string]string // added to env
		field func(c *config.Config) any
		want  any
	}{
		// call
		{"call defaults to build", `{}`, nil, func(c *config.Config) any { return c.Call }, "build"},
		{"call check", `{"call": "check"}`, nil, func(c *config.Config) any { return c.Call }, "check"},

		// load, pull
		{"load with one platform", `{"load": true, "platforms": "linux/arm64", "tags": "app"}`, nil,
			func(c *config.Config) any { return c.Load }, true},
		{"load off by default", `{}`, nil, func(c *config.Config) any { return c.Load }, false},
		{"pull", `{"pull": true}`, nil, func(c *config.Config) any { return c.Pull }, true},

		// add-hosts: buildx's toBuildkitExtraHosts forms
		{"add-hosts colon, equals, IPv6 in brackets and bare", `{"add-hosts": ["a.internal:10.0.0.5", "b=10.0.0.6", "c:[::1]", "d=fe80::1"]}`, nil,
			func(c *config.Config) any { return c.AddHosts }, []string{"a.internal=10.0.0.5", "b=10.0.0.6", "c=::1", "d=fe80::1"}},
		{"add-hosts comma-separated string", `{"add-hosts": "a:10.0.0.1,b:10.0.0.2"}`, nil,
			func(c *config.Config) any { return c.AddHosts }, []string{"a=10.0.0.1", "b=10.0.0.2"}},

		// network, allow
		{"network default is empty", `{"network": "default"}`, nil, func(c *config.Config) any { return c.Network }, ""},
		{"network none", `{"network": "none"}`, nil, func(c *config.Config) any { return c.Network }, "none"},
		{"network host with its entitlement", `{"network": "host", "allow": "network.host"}`, nil,
			func(c *config.Config) any { return [2]any{c.Network, c.Allow} }, [2]any{"host", []string{"network.host"}}},
		{"allow list, duplicates dropped, device forms", `{"allow": ["security.insecure", "network.host,security.insecure", "device", "device=nvidia.com/gpu=all"]}`, nil,
			func(c *config.Config) any { return c.Allow }, []string{"security.insecure", "network.host", "device", "device=nvidia.com/gpu=all"}},

		// shm-size: docker's RAMInBytes, as buildx's MemBytes
		{"shm-size 128m", `{"shm-size": "128m"}`, nil, func(c *config.Config) any { return c.ShmSize }, int64(128 << 20)},
		{"shm-size 2g", `{"shm-size": "2g"}`, nil, func(c *config.Config) any { return c.ShmSize }, int64(2 << 30)},
		{"shm-size 1.5GB", `{"shm-size": "1.5GB"}`, nil, func(c *config.Config) any { return c.ShmSize }, int64(3 << 29)},
		{"shm-size as bytes", `{"shm-size": 67108864}`, nil, func(c *config.Config) any { return c.ShmSize }, int64(64 << 20)},
		{"shm-size absent", `{}`, nil, func(c *config.Config) any { return c.ShmSize }, int64(0)},

		// ulimit: docker's ParseUlimit, String() and UlimitOpt's order by name
		{"ulimit soft only doubles as hard, sorted by name", `{"ulimit": ["nproc=512", "nofile=1024:2048", "core=-1"]}`, nil,
			func(c *config.Config) any { return c.Ulimits }, []string{"core=-1:-1", "nofile=1024:2048", "nproc=512:512"}},

		// annotations: buildx's ParseAnnotations, exptypes.AnnotationKey.String
		{"annotations: plain key, types, platform, commas in values", `{"annotations": [
				"org.opencontainers.image.description=An app, with commas",
				"index:org.opencontainers.image.title=app",
				"manifest[linux/arm64]:arch=arm",
				"manifest-descriptor,index-descriptor:d=x",
				"index[linux/amd64]:i=platform-ignored"], "platforms": "linux/amd64,linux/arm64"}`, nil,
			func(c *config.Config) any { return c.Annotations }, map[string]string{
				"annotation.org.opencontainers.image.description": "An app, with commas",
				"annotation-index.org.opencontainers.image.title": "app",
				"annotation-manifest[linux/arm64].arch":           "arm",
				"annotation-manifest-descriptor.d":                "x",
				"annotation-index-descriptor.d":                   "x",
				"annotation-index.i":                              "platform-ignored",
			}},
		{"annotations as one string splits on lines only", `{"annotations": "a=1,2\nmanifest:b=3\n"}`, nil,
			func(c *config.Config) any { return c.Annotations }, map[string]string{"annotation.a": "1,2", "annotation-manifest.b": "3"}},
		{"index annotations with provenance on one platform", `{"annotations": "index:k=v", "provenance": true}`, nil,
			func(c *config.Config) any { return c.Annotations }, map[string]string{"annotation-index.k": "v"}},
		{"index annotations with sbom on one platform", `{"annotations": "index-descriptor:k=v", "sbom": true}`, nil,
			func(c *config.Config) any { return c.Annotations }, map[string]string{"annotation-index-descriptor.k": "v"}},
		{"annotations platform normalised", `{"annotations": "manifest[linux/aarch64]:k=v"}`, nil,
			func(c *config.Config) any { return c.Annotations }, map[string]string{"annotation-manifest[linux/arm64].k": "v"}},

		// no-cache-filters
		{"no-cache-filters", `{"no-cache-filters": "test, lint"}`, nil,
			func(c *config.Config) any { return c.NoCacheFilters }, []string{"test", "lint"}},

		// fleet options
		{"max-load-factor default", `{}`, nil, func(c *config.Config) any { return c.MaxLoadFactor }, 1.25},
		{"max-load-factor set", `{"max-load-factor": 2}`, nil, func(c *config.Config) any { return c.MaxLoadFactor }, 2.0},
		{"dns-server", `{"dns-server": "127.0.0.1:5353"}`, nil, func(c *config.Config) any { return c.DNSServer }, "127.0.0.1:5353"},
		{"dns-server IPv6", `{"dns-server": "[::1]:53"}`, nil, func(c *config.Config) any { return c.DNSServer }, "[::1]:53"},
		{"dns:// buildkit-host is one node the job resolves", `{"buildkit-host": "dns://builders.internal:1234"}`, nil,
			func(c *config.Config) any { return []string{c.Default().Name, c.Default().Host} }, []string{"dns://builders.internal:1234", "dns://builders.internal:1234"}},
		{"dns:// in a buildkit-host list", `{"buildkit-host": ["dns://builders.internal:1234", "tcp://other:1234"]}`, nil,
			func(c *config.Config) any { return len(c.Nodes) }, 2},
		{"dns:// node host", `{"nodes": [{"name": "arm", "host": "dns://arm.builders.internal.:1234", "platforms": "linux/arm64"}]}`, nil,
			func(c *config.Config) any { return c.Nodes[0].Host }, "dns://arm.builders.internal.:1234"},

		// insights
		{"insights default off outside Buildkite", `{}`, nil, func(c *config.Config) any { return c.Insights }, false},
		{"insights default on in Buildkite", `{}`, map[string]string{"BUILDKITE": "true"}, func(c *config.Config) any { return c.Insights }, true},
		{"insights off in Buildkite", `{"insights": false}`, map[string]string{"BUILDKITE": "true"}, func(c *config.Config) any { return c.Insights }, false},
		{"insights record off by default", `{"insights": true}`, nil, func(c *config.Config) any { return [2]bool{c.Insights, c.InsightsRecord} }, [2]bool{true, false}},
		{"insights record asked", `{"insights": {"record": true}}`, nil, func(c *config.Config) any { return [2]bool{c.Insights, c.InsightsRecord} }, [2]bool{true, true}},
		{"insights object without record", `{"insights": {}}`, map[string]string{"BUILDKITE": "true"}, func(c *config.Config) any { return [2]bool{c.Insights, c.InsightsRecord} }, [2]bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tt.env {
				e[k] = v
			}
			got, err := config.Parse([]byte(tt.js), envOf(e), newWorkDir(t, "Dockerfile"))
			if err != nil {
				t.Fatalf("Parse(%s) error = %v", tt.js, err)
			}
			if g := tt.field(got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Parse(%s) = %s; want %s", tt.js, show(g), show(tt.want))
			}
		})
	}
}

// Each problem: its key path and its whole message (one line, the fix in it).
func TestParseInputsErrors(t *testing.T) {
	env := envOf(map[string]string{"BUILDKIT_HOST": "tcp://buildkitd:1234", "HOME": "/home/agent"})
	tests := []struct {
		name, js, key, msg string
	}{
		// Schema.
		{"call not in enum", `{"call": "lint"}`, "call", `must be one of build, check, outline, targets, got lint`},
		{"network not in enum", `{"network": "bridge"}`, "network", `must be one of default, none, host, got bridge`},
		{"load as string", `{"load": "yes"}`, "load", `must be a boolean, got string`},
		{"pull as string", `{"pull": "true"}`, "pull", `must be a boolean, got string`},
		{"shm-size as bool", `{"shm-size": true}`, "shm-size", `must be an integer or a string, got boolean`},
		{"empty annotation", `{"annotations": ["a=1", ""]}`, "annotations[1]", `must not be empty`},
		{"max-load-factor of 1", `{"max-load-factor": 1}`, "max-load-factor", `must be more than 1, got 1`},
		{"max-load-factor below 1", `{"max-load-factor": 0.5}`, "max-load-factor", `must be more than 1, got 0.5`},
		{"max-load-factor as string", `{"max-load-factor": "2"}`, "max-load-factor", `must be a number, got string`},
		{"dns-server without port", `{"dns-server": "127.0.0.1"}`, "dns-server", `"127.0.0.1" has the wrong form (want host:port, e.g. 127.0.0.1:5353)`},

		// Meaning.
		{"multi-platform load", `{"load": true, "platforms": ["linux/amd64", "linux/arm64"]}`, "load",
			`a multi-platform image cannot be loaded into Docker (buildx: docker exporter does not currently support exporting manifest lists): build one platform, or push the tags instead`},
		{"network host without its entitlement", `{"network": "host"}`, "network",
			`host needs the network.host entitlement: add allow: [network.host] (and start the daemon with --allow-insecure-entitlement network.host)`},
		{"unknown entitlement", `{"allow": ["network.host", "network.none"]}`, "allow[1]",
			`"network.none" is not an entitlement: want network.host, security.insecure, device or device=NAME`},
		{"buildx-only entitlement", `{"allow": "buildx.local.delete"}`, "allow[0]",
			`buildx.local.delete is buildx's own, for bake files (docker buildx bake --allow), not a BuildKit entitlement: this step builds one image, whose paths and tags the step names itself: remove it`},
		{"fs.read without bake", `{"allow": ["fs.read=/etc"]}`, "allow[0]",
			`fs.read=/etc is buildx's own, for bake files (docker buildx bake --allow), not a BuildKit entitlement: this step builds one image, whose paths and tags the step names itself: remove it`},
		{"add-host without ip", `{"add-hosts": ["a:10.0.0.1", "b"]}`, "add-hosts[1]",
			`"b" is not host:ip or host=ip (e.g. registry.internal:10.0.0.5)`},
		{"add-host with a name for ip", `{"add-hosts": "a=b.internal"}`, "add-hosts[0]",
			`"a=b.internal": "b.internal" is not an IP address (want host:ip or host=ip, e.g. registry.internal:10.0.0.5)`},
		{"add-host host-gateway", `{"add-hosts": "host.docker.internal:host-gateway"}`, "add-hosts[0]",
			`"host.docker.internal:host-gateway": host-gateway is known only to Docker Engine's own builder, not to a BuildKit daemon: give the IP address`},
		{"shm-size not a size", `{"shm-size": "lots"}`, "shm-size",
			`"lots" is not a size: want a number of bytes with an optional unit, e.g. "128m" or "2g"`},
		{"shm-size zero", `{"shm-size": "0"}`, "shm-size",
			`"0" is not a size: want a number of bytes with an optional unit, e.g. "128m" or "2g"`},
		{"ulimit unknown name", `{"ulimit": "files=10"}`, "ulimit[0]",
			`"files=10": invalid ulimit type: files (want name=soft[:hard], e.g. nofile=1024:2048)`},
		{"ulimit soft above hard", `{"ulimit": ["nofile=2048:1024"]}`, "ulimit[0]",
			`"nofile=2048:1024": ulimit soft limit must be less than or equal to hard limit: 2048 > 1024 (want name=soft[:hard], e.g. nofile=1024:2048)`},
		{"ulimit given twice", `{"ulimit": ["nofile=1", "nofile=2"]}`, "ulimit[1]", `nofile is limited twice: keep one entry`},
		{"annotation without value", `{"annotations": "org.opencontainers.image.title"}`, "annotations[0]",
			`"org.opencontainers.image.title" is not key=value (e.g. org.opencontainers.image.description=My app, or index:KEY=value)`},
		{"annotation of unknown type", `{"annotations": "config:k=v"}`, "annotations[0]",
			`"config:k=v": unknown annotation type "config" (want manifest, index, manifest-descriptor or index-descriptor)`},
		{"annotation type malformed", `{"annotations": "Manifest:k=v"}`, "annotations[0]",
			`"Manifest:k=v": "Manifest" is not a type with an optional [platform] (e.g. manifest[linux/amd64])`},
		{"annotation platform malformed", `{"annotations": "manifest[linux/amd64/v3/x]:k=v"}`, "annotations[0]",
			`"manifest[linux/amd64/v3/x]:k=v": "linux/amd64/v3/x" is not a platform (want os/arch, e.g. manifest[linux/arm64])`},
		{"index annotation on a single-platform build", `{"annotations": ["a=1", "manifest,index:b=2"], "platforms": "linux/amd64"}`, "annotations[1]",
			`"manifest,index:b=2" is for the image index, which a single-platform build without provenance or sbom does not make (the daemon refuses it: index annotations not supported for single platform export): use manifest: or no prefix, or build several platforms`},
		{"no-cache-filters with no-cache", `{"no-cache": true, "no-cache-filters": ["test", "lint"]}`, "no-cache-filters",
			`no-cache already rebuilds every stage: drop no-cache to rebuild only test, lint`},
		{"dns-server port out of range", `{"dns-server": "127.0.0.1:65536"}`, "dns-server",
			`"127.0.0.1:65536" is not host:port: want the DNS server's address and port, e.g. 127.0.0.1:5353`},
		{"dns:// without port", `{"buildkit-host": "dns://builders.internal"}`, "buildkit-host",
			`"dns://builders.internal" needs a name and port: want dns://builders.internal:1234`},
		{"dns:// with a path", `{"buildkit-host": "dns://builders.internal:1234/x"}`, "buildkit-host",
			`"dns://builders.internal:1234/x": a dns:// address is only a name and a port: want dns://builders.internal:1234`},
		{"dns:// with an IP", `{"buildkit-host": ["tcp://a:1", "dns://10.0.0.1:1234"]}`, "buildkit-host[1]",
			`"dns://10.0.0.1:1234": "10.0.0.1" is not a DNS name (letters, digits, - and _ in dot-separated labels): for one daemon by IP use tcp://`},
		{"dns:// node host with a bad label", `{"nodes": [{"host": "dns://-bad.internal:1234"}]}`, "nodes[0].host",
			`"dns://-bad.internal:1234": "-bad.internal" is not a DNS name (letters, digits, - and _ in dot-separated labels): for one daemon by IP use tcp://`},
		{"unsupported scheme names dns", `{"buildkit-host": "http://h:1"}`, "buildkit-host",
			`unsupported scheme "http" in "http://h:1": use tcp, unix, dns, docker-container, podman-container, nerdctl-container, kube-pod or ssh`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.js), env, newWorkDir(t, "Dockerfile"))
			problems := problemsOf(t, err)
			for _, p := range problems {
				if p.Key == tt.key {
					if p.Msg != tt.msg {
						t.Errorf("%s:\n got %s\nwant %s", tt.key, p.Msg, tt.msg)
					}
					if strings.Contains(p.String(), "\n") {
						t.Errorf("problem %q is not one line", p)
					}
					return
				}
			}
			t.Errorf("Parse(%s): no problem at %q; got:\n%v", tt.js, tt.key, err)
		})
	}
}

// The environment hook accepts dns:// addresses and dns-server too (it
// only reads the connection options).
func TestParseForEnvironmentDNS(t *testing.T) {
	env := envOf(map[string]string{"HOME": "/home/agent"})
	cfg, err := config.ParseForEnvironment([]byte(`{"buildkit-host": "dns://builders.internal:1234", "dns-server": "127.0.0.1:5353"}`), env, t.TempDir())
	if err != nil {
		t.Fatalf("ParseForEnvironment: %v", err)
	}
	if cfg.Default().Host != "dns://builders.internal:1234" || cfg.DNSServer != "127.0.0.1:5353" {
		t.Errorf("host %q, dns-server %q", cfg.Default().Host, cfg.DNSServer)
	}
}

// The environment hook reads buildkit-host, so a dns-server it cannot use
// is its problem too.
func TestParseForEnvironmentBadDNSServer(t *testing.T) {
	_, err := config.ParseForEnvironment([]byte(`{"buildkit-host": "dns://builders.internal:1234", "dns-server": "127.0.0.1:0"}`), envOf(map[string]string{"HOME": "/h"}), t.TempDir())
	if p := problemsOf(t, err); p[0].Key != "dns-server" {
		t.Errorf("problems %v; want dns-server", p)
	}
}
