package integration

// A bake step shares the job's set-up with single builds — it
// routes on a dns:// fleet and on a buildkit-host pool like a single build
// (one pipeline's targets stay on its member), and its targets run in
// parallel without sharing mutable state (run under the -race binary by
// `make test`).

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
)

// fourTargets is a bake file of four targets pushing to repo, one of them
// FROM another's pushed image, and their build contexts.
func fourTargets(s *stack, repo string) map[string]string {
	files := map[string]string{"docker-bake.hcl": `
variable "REPO" { default = "` + repo + `" }
group "default" { targets = ["a", "b", "c", "d"] }
target "a" {
  context = "a"
  tags = ["${REPO}:a"]
}
target "b" {
  context = "b"
  tags = ["${REPO}:b"]
}
target "c" {
  context = "c"
  tags = ["${REPO}:c"]
}
target "d" {
  context  = "d"
  contexts = { base = "target:a" }
  tags     = ["${REPO}:d"]
}
`}
	for _, name := range []string{"a", "b", "c"} {
		files[name+"/Dockerfile"] = fmt.Sprintf("FROM %s\nRUN echo %s-%d > /%s.txt\n", s.BaseImage, name, time.Now().UnixNano(), name)
	}
	files["d/Dockerfile"] = "FROM base\nCOPY d.txt /\n"
	files["d/d.txt"] = "d\n"
	return files
}

// bakeHosts runs a four-target bake and returns the daemon each target was
// built on, from the metadata file (bake's shape).
func bakeHosts(t *testing.T, s *stack, cfg map[string]any, env ...string) (map[string]string, result) {
	t.Helper()
	repo := s.repo(t)
	dir := writeFiles(t, fourTargets(s, repo))
	meta := filepath.Join(dir, "meta.json")
	cfg["bake"], cfg["push"], cfg["metadata-file"] = "docker-bake.hcl", true, meta
	r := s.run(t, dir, cfg, env...)
	if r.Code != 0 {
		t.Fatalf("bake failed: %s", r)
	}
	hosts := map[string]string{}
	for target, v := range readMetadata(t, meta) {
		rb, _ := v.(map[string]any)["remote-buildkit"].(map[string]any)
		hosts[target], _ = rb["buildkit_host"].(string)
		if d := s.descriptor(t, repo+":"+target).Digest.String(); rb["digest"] != d {
			t.Errorf("%s: metadata digest %v, registry %s", target, rb["digest"], d)
		}
	}
	if len(hosts) != 4 {
		t.Fatalf("metadata lists %v, want 4 targets", hosts)
	}
	if got := s.imageFile(t, repo+":d", "a.txt"); !strings.HasPrefix(got, "a-") {
		t.Errorf("d /a.txt = %q: target:a did not give d a's image", got)
	}
	return hosts, r
}

// onOneMember checks that every target went to want.
func onOneMember(t *testing.T, hosts map[string]string, want string) {
	t.Helper()
	for target, h := range hosts {
		if h != want {
			t.Errorf("target %s built on %s, want every target on the pipeline's member %s (%v)", target, h, want, hosts)
		}
	}
}

func TestParallelBakeOnDNSFleet(t *testing.T) {
	s := requireStack(t)
	e := newFleetEnv(t)
	for _, ip := range fleetIPs {
		e.startDaemon(ip)
	}
	slug := fmt.Sprintf("bake-fleet-%d", time.Now().UnixNano())
	hosts, r := bakeHosts(t, s, e.hostConfig(nil), "BUILDKITE_PIPELINE_SLUG="+slug)
	if !strings.Contains(r.Stderr, "dns://"+fleetName+":"+fleetPort+": 3 member(s)") {
		t.Errorf("the fleet was not resolved once into 3 members: %s", r)
	}
	if n := strings.Count(r.Stderr, "member(s)"); n != 1 {
		t.Errorf("the fleet was resolved %d times, want once per job", n)
	}
	winner := fleet.Ordered(fleet.Key(slug, "bake:docker-bake.hcl"), e.members())[0]
	onOneMember(t, hosts, winner.Host)
	builds := 0
	for _, m := range e.members() {
		n := completedBuilds(t, m)
		builds += n
		if m.Host != winner.Host && n > 0 {
			t.Errorf("%s ran %d builds: the targets left the pipeline's member", m.Name, n)
		}
	}
	if builds != 4 {
		t.Errorf("the members' histories hold %d builds, want the 4 targets", builds)
	}
}

func TestParallelBakeOnPool(t *testing.T) {
	s := requireStack(t)
	ds := startDaemons(t, s, "p1", "p2", "p3")
	var pool []string
	var members []config.Node
	for _, d := range ds {
		pool = append(pool, d.Host)
		members = append(members, config.Node{Name: d.Host, Host: d.Host})
	}
	slug := fmt.Sprintf("bake-pool-%d", time.Now().UnixNano())
	hosts, _ := bakeHosts(t, s, s.baseConfig(map[string]any{"buildkit-host": pool}), "BUILDKITE_PIPELINE_SLUG="+slug)
	onOneMember(t, hosts, fleet.Ordered(fleet.Key(slug, "bake:docker-bake.hcl"), members)[0].Host)
}
