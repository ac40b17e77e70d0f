package job

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// The pipeline's own sets are used from the job's directories, required
// once the environment hook said so, and removed by cleanup.
func TestPipelineCertSets(t *testing.T) {
	tls := t.TempDir()
	cfg := &config.Config{TLSDir: tls, SecretsBucket: "b", PipelineSlug: "app", Nodes: []config.Node{
		{Name: "a", Host: "tcp://a:1", TLSDir: tls},
		{Name: "b", Host: "tcp://b:1", TLSDir: filepath.Join(tls, "nodes", "b"), SecretsPrefix: "b"},
	}}
	env := envOf(map[string]string{"BUILDKITE_JOB_ID": "j1"})
	root := filepath.Join(tls, "pipelines", "app.j1")
	nodeDir := filepath.Join(root, "nodes", "b")
	if got := withPipelineCerts(cfg, env); got.Nodes[0].TLSDir != tls || got.Nodes[1].TLSDir != cfg.Nodes[1].TLSDir {
		t.Fatalf("without job sets the shared dirs are used: %+v", got.Nodes)
	}
	for _, dir := range []string{root, nodeDir} {
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, pipelineCertsMarker), nil, 0o600)
	}
	got := withPipelineCerts(cfg, env)
	if got.Nodes[0].TLSDir != root || got.Nodes[1].TLSDir != nodeDir {
		t.Fatalf("job sets not used: %+v", got.Nodes)
	}
	used := usedPipelineSets(got, env)
	if used != root+"\n"+nodeDir {
		t.Fatalf("used = %q", used)
	}
	// Deleted before the command hook: still required (the dial names the directory).
	os.RemoveAll(root)
	after := envOf(map[string]string{"BUILDKITE_JOB_ID": "j1", pipelineCertsEnv: used})
	if got := withPipelineCerts(cfg, after); got.Nodes[0].TLSDir != root {
		t.Fatalf("a vanished job set fell back to the shared one: %+v", got.Nodes)
	}
	var log bytes.Buffer
	if err := cleanupPipelineCerts(Deps{Env: after, Err: &log}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(nodeDir); !os.IsNotExist(err) {
		t.Fatalf("cleanup left %s (%v): %s", nodeDir, err, log.String())
	}
}
