package job

import (
	"context"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
)

// diagnose reports the pool's rank order the build uses: both route by
// fleet.RouteKey (the Dockerfile's path in the checkout, or the bake
// files), for a Dockerfile deep in the checkout and for a bake step.
func TestDiagnoseRanksLikeTheBuild(t *testing.T) {
	pool := `"buildkit-host": ["tcp://10.0.0.1:1234", "tcp://10.0.0.2:1234", "tcp://10.0.0.3:1234", "tcp://10.0.0.4:1234", "tcp://10.0.0.5:1234", "tcp://10.0.0.6:1234"]`
	for name, tt := range map[string]struct {
		conf  string
		files map[string]string
	}{
		"a Dockerfile in a subdirectory": {`{` + pool + `, "dockerfile": "services/api/Dockerfile", "tags": "r.example/api:1"}`,
			map[string]string{"services/api/Dockerfile": "FROM scratch\n"}},
		"bake": {`{` + pool + `, "bake": "ci/docker-bake.hcl", "push": true}`, map[string]string{"ci/docker-bake.hcl": bakeHCL}},
	} {
		t.Run(name, func(t *testing.T) {
			d := stepDeps(t, tt.conf, tt.files)
			step, err := ReadStep(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			build := names(fleet.Ordered(step.RouteKey, step.Config.Nodes))
			cfg, err := config.Read(d.Env, d.WorkDir, config.Environment, config.KeepGoing)
			if err != nil {
				t.Fatal(err)
			}
			diag := names(diagnoseRunner(d, cfg, nil).RankOrder())
			if build[5] == "" || build != diag {
				t.Errorf("rank order: build %v, diagnose %v", build, diag)
			}
		})
	}
}

func names(nodes []config.Node) (out [6]string) {
	for i, n := range nodes {
		if i < len(out) {
			out[i] = n.Name
		}
	}
	return out
}
