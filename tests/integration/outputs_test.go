package integration

import (
	"strings"
	"testing"
)

// outputs: type=registry is sent as type=image,push=true and really pushes.
func TestRegistryOutputAlias(t *testing.T) {
	s := requireStack(t)
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	r := s.run(t, dir, s.baseConfig(map[string]any{
		"outputs": []string{"type=registry,name=" + repo + ":alias"},
	}))
	if r.Code != 0 {
		t.Fatalf("build failed: %s", r)
	}
	d := s.descriptor(t, repo+":alias")
	if got, printed := d.Digest.String(), lineValue(r.Stdout, "digest"); got != printed {
		t.Errorf("registry has %s, binary printed %s", got, printed)
	}
	if !strings.Contains(r.Stdout, "pushed: "+repo+":alias@") {
		t.Errorf("pushed reference not printed: %s", r)
	}
}
