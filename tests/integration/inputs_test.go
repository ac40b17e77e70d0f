package integration

// docker/build-push-action's inputs on the real stack daemon: each one's
// effect seen from inside the build (a RUN step's output read back through
// a local output, the progress log) or in the registry.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// probe runs cmd in a RUN step with the options in extra and returns what
// it printed, read back through an outputs: type=local. A nonce in the
// step keeps an earlier run's cache from answering.
func probe(t *testing.T, s *stack, cmd string, extra map[string]any) (string, result) {
	t.Helper()
	dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(
		"FROM %s AS probe\nRUN echo %d >/dev/null; (%s) >/out.txt 2>&1\nFROM scratch\nCOPY --from=probe /out.txt /out.txt\n",
		s.BaseImage, rand.Int64(), cmd)})
	out := t.TempDir()
	cfg := s.baseConfig(map[string]any{"outputs": "type=local,dest=" + out, "progress": "plain", "annotate": false})
	for k, v := range extra {
		cfg[k] = v
	}
	r := s.run(t, dir, cfg)
	if r.Code != 0 {
		t.Fatalf("build with %v: %s", extra, r)
	}
	b, err := os.ReadFile(filepath.Join(out, "out.txt"))
	if err != nil {
		t.Fatalf("the local output has no out.txt: %v\n%s", err, r)
	}
	return string(b), r
}

func TestInputsAddHosts(t *testing.T) {
	s := requireStack(t)
	hosts, _ := probe(t, s, "cat /etc/hosts", map[string]any{"add-hosts": []string{"inputs-a.internal:10.11.12.13", "inputs-b.internal=10.11.12.14"}})
	for _, want := range []string{`10\.11\.12\.13\s+inputs-a\.internal`, `10\.11\.12\.14\s+inputs-b\.internal`} {
		if !regexp.MustCompile(want).MatchString(hosts) {
			t.Errorf("/etc/hosts in RUN has no %s:\n%s", want, hosts)
		}
	}
}

func TestInputsShmSize(t *testing.T) {
	s := requireStack(t)
	df, _ := probe(t, s, "df -k /dev/shm", map[string]any{"shm-size": "96m"})
	if !regexp.MustCompile(`\s98304\s`).MatchString(df) { // 96 MiB in 1K blocks
		t.Errorf("df -k /dev/shm with shm-size 96m does not show 98304 blocks:\n%s", df)
	}
	def, _ := probe(t, s, "df -k /dev/shm", nil)
	if strings.Contains(def, " 98304 ") {
		t.Errorf("/dev/shm is 96m without shm-size too; the test proves nothing:\n%s", def)
	}
}

func TestInputsUlimit(t *testing.T) {
	s := requireStack(t)
	got, _ := probe(t, s, "ulimit -Sn; ulimit -Hn", map[string]any{"ulimit": []string{"nofile=1024:2048"}})
	if f := strings.Fields(got); len(f) != 2 || f[0] != "1024" || f[1] != "2048" {
		t.Errorf("ulimit -Sn; ulimit -Hn with ulimit nofile=1024:2048 printed %q; want 1024 and 2048", got)
	}
}

// network: none leaves RUN only the loopback interface and no way to the
// registry; the default network reaches it.
func TestInputsNetworkNone(t *testing.T) {
	s := requireStack(t)
	reach := fmt.Sprintf("ls /sys/class/net; echo nc; printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | nc -w 5 %s 2>&1; true", strings.Replace(s.Registry, ":", " ", 1))
	none, _ := probe(t, s, reach, map[string]any{"network": "none"})
	def, _ := probe(t, s, reach, map[string]any{"network": "default"})
	if ifaces := strings.Fields(strings.SplitN(none, "nc", 2)[0]); len(ifaces) == 0 || ifaces[0] != "lo" {
		t.Errorf("network none: /sys/class/net is not just lo:\n%s", none)
	}
	if !regexp.MustCompile(`(?i)unreachable|can't connect|bad address`).MatchString(none) {
		t.Errorf("network none: nc to the registry did not fail to connect:\n%s", none)
	}
	if !strings.Contains(def, "401") && !strings.Contains(def, "Unauthorized") {
		t.Errorf("default network: nc did not reach the registry (want its 401):\n%s", def)
	}
}

// network: host without allow network.host is a configuration error.
func TestInputsNetworkHostNeedsAllow(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\n"})
	r := s.run(t, dir, s.baseConfig(map[string]any{"network": "host"}))
	if r.Code != 2 || !strings.Contains(r.Stderr, "network: host needs the network.host entitlement: add allow: [network.host]") {
		t.Errorf("network host without allow: want exit 2 naming allow; %s", r)
	}
}

// The stack's daemon grants no insecure entitlement: the error names the
// daemon flag that does.
func TestInputsAllowRefusedByDaemon(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN --security=insecure true\n"})
	r := s.run(t, dir, s.baseConfig(map[string]any{"allow": "security.insecure", "progress": "plain"}))
	if r.Code != 1 || !strings.Contains(r.Stderr, "--allow-insecure-entitlement security.insecure") {
		t.Errorf("allow security.insecure on a daemon without it: want exit 1 naming --allow-insecure-entitlement security.insecure; %s", r)
	}
	// The daemon's own words, which solve.ExplainEntitlement is tested on.
	if !strings.Contains(r.Stderr, "granting entitlement security.insecure is not allowed by build daemon configuration") {
		t.Errorf("the daemon's refusal changed its words: %s", r)
	}
	// Without allow, the RUN step's need is named.
	r = s.run(t, dir, s.baseConfig(map[string]any{"progress": "plain"}))
	if r.Code != 1 || !strings.Contains(r.Stderr, "add allow: [security.insecure]") || !strings.Contains(r.Stderr, "security.insecure is not allowed") {
		t.Errorf("RUN --security=insecure without allow: want exit 1 naming allow; %s", r)
	}
}

// Annotations land where their prefix says: the index (made by the
// provenance attestation even for one platform), the image manifest.
func TestInputsAnnotationsInRegistry(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nCOPY f /f\n", "f": repo})
	r := s.run(t, dir, s.baseConfig(map[string]any{
		"tags": repo + ":1", "push": true, "provenance": true, "annotate": false,
		"annotations": []string{
			"org.example.plain=plain, with a comma",
			"index:org.example.index=on the index",
			"manifest:org.example.manifest=on the manifest",
			"index-descriptor:org.example.desc=on the index descriptor",
		}}))
	if r.Code != 0 {
		t.Fatalf("build: %s", r)
	}
	var index struct {
		MediaType   string            `json:"mediaType"`
		Annotations map[string]string `json:"annotations"`
		Manifests   []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
			Platform    *struct{ OS string }
		} `json:"manifests"`
	}
	d := s.descriptor(t, repo+":1")
	if err := json.Unmarshal(d.Manifest, &index); err != nil {
		t.Fatal(err)
	}
	if index.Annotations["org.example.index"] != "on the index" {
		t.Errorf("index annotations %v; want org.example.index\n%s", index.Annotations, d.Manifest)
	}
	var image string
	for _, m := range index.Manifests {
		if m.Platform != nil && m.Platform.OS == "linux" {
			image = m.Digest
		}
	}
	if image == "" {
		t.Fatalf("the index has no linux image:\n%s", d.Manifest)
	}
	var man struct {
		Annotations map[string]string `json:"annotations"`
	}
	md := s.descriptor(t, repo+"@"+image)
	if err := json.Unmarshal(md.Manifest, &man); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"org.example.plain": "plain, with a comma", "org.example.manifest": "on the manifest"} {
		if man.Annotations[k] != v {
			t.Errorf("manifest annotation %s = %q; want %q\n%s", k, man.Annotations[k], v, md.Manifest)
		}
	}
	if _, ok := man.Annotations["org.example.index"]; ok {
		t.Errorf("the index annotation is on the manifest too:\n%s", md.Manifest)
	}
}

// stepCached reports whether the plain progress log shows the step whose
// name contains name as CACHED.
func stepCached(t *testing.T, log, name string) bool {
	t.Helper()
	m := regexp.MustCompile(`(?m)^#(\d+) .*` + regexp.QuoteMeta(name)).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no step %q in the log:\n%s", name, log)
	}
	return regexp.MustCompile(`(?m)^#` + m[1] + ` CACHED$`).MatchString(log)
}

// no-cache-filters re-runs its stage on a second, identical build while
// the other stage comes from the cache.
func TestInputsNoCacheFilters(t *testing.T) {
	s := requireStack(t)
	n := rand.Int64()
	dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf(
		"FROM %[1]s AS kept\nRUN echo kept-%[2]d > /kept\nFROM %[1]s AS fresh\nRUN echo fresh-%[2]d > /fresh\nFROM %[1]s\nCOPY --from=kept /kept /kept\nCOPY --from=fresh /fresh /fresh\n",
		s.BaseImage, n)})
	cfg := s.baseConfig(map[string]any{"progress": "plain", "annotate": false, "no-cache-filters": []string{"fresh"}})
	for i := range 2 {
		r := s.run(t, dir, cfg)
		if r.Code != 0 {
			t.Fatalf("build %d: %s", i+1, r)
		}
		if i == 0 {
			continue
		}
		if !stepCached(t, r.Stderr, "[kept 2/2] RUN echo kept-") {
			t.Errorf("second build: stage kept was not CACHED:\n%s", r.Stderr)
		}
		if stepCached(t, r.Stderr, "[fresh 2/2] RUN echo fresh-") {
			t.Errorf("second build: stage fresh (in no-cache-filters) was CACHED:\n%s", r.Stderr)
		}
	}
}

// pull: true is accepted by the daemon and the build resolves its base
// image from the registry.
func TestInputsPull(t *testing.T) {
	s := requireStack(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN true\n"})
	r := s.run(t, dir, s.baseConfig(map[string]any{"pull": true, "progress": "plain", "annotate": false}))
	if r.Code != 0 || !strings.Contains(r.Stderr, "load metadata for "+s.BaseImage) {
		t.Errorf("pull: true: want success, resolving %s; %s", s.BaseImage, r)
	}
}

// call: check fails the step (exit 1) on a lint warning and names it;
// a clean Dockerfile passes; targets lists the stages and builds nothing.
func TestInputsCall(t *testing.T) {
	s := requireStack(t)
	warned := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + " as build\nRUN true\n"})
	r := s.run(t, warned, s.baseConfig(map[string]any{"call": "check", "annotate": false}))
	if r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, "FromAsCasing") || !strings.Contains(r.Stdout+r.Stderr, "Dockerfile:1") {
		t.Errorf("call check with FROM … as: want exit 1 listing FromAsCasing at Dockerfile:1; %s", r)
	}

	clean := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + " AS build\nRUN true\nFROM build AS release\n"})
	if r := s.run(t, clean, s.baseConfig(map[string]any{"call": "check", "annotate": false})); r.Code != 0 {
		t.Errorf("call check of a clean Dockerfile: %s", r)
	}

	repo := s.repo(t)
	r = s.run(t, clean, s.baseConfig(map[string]any{"call": "targets", "annotate": false, "tags": repo + ":x", "push": true}))
	if r.Code != 0 || !strings.Contains(r.Stdout, "build") || !strings.Contains(r.Stdout, "release") {
		t.Errorf("call targets: want exit 0 listing build and release; %s", r)
	}
	if !s.repoMissing(t, repo) {
		t.Errorf("call targets pushed %s", repo)
	}
}
