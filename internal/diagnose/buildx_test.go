package diagnose

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/buildxcfg"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// The buildx check plans the builder, then reaches each node as buildx's
// remote driver would (real daemons: TestBuildxDiagnose).
func TestCheckBuildx(t *testing.T) {
	node := buildxcfg.Node{Name: "amd", Endpoint: "tcp://10.0.0.1:1234", Platforms: []string{"linux/amd64"},
		DriverOpts: buildxcfg.DriverOpts(buildxcfg.TLS{CA: "/h/.buildkit/ca.pem"}, false)}
	tests := []struct {
		name       string
		plan       func(context.Context) ([]buildxcfg.Node, error)
		inspectErr error
		status     Status
		found, fix string
	}{
		{"not set", nil, nil, Skip, "buildx is not set", ""},
		{"no route", func(context.Context) ([]buildxcfg.Node, error) {
			return nil, errors.New("nothing is listening at tcp://10.0.0.1:1234")
		},
			nil, Fail, "the builder cannot be set up: nothing is listening", "daemon checks above"},
		{"node down", func(context.Context) ([]buildxcfg.Node, error) { return []buildxcfg.Node{node}, nil },
			errors.New("x509: certificate signed by unknown authority"), Fail, "node amd (tcp://10.0.0.1:1234) does not answer buildx's remote driver: x509", "cacert=/h/.buildkit/ca.pem"},
		{"answers", func(context.Context) ([]buildxcfg.Node, error) { return []buildxcfg.Node{node}, nil },
			nil, Pass, "builder ci (remote driver): node amd tcp://10.0.0.1:1234 BuildKit v0.34.2, platforms linux/amd64, linux/386 (cacert=/h/.buildkit/ca.pem); builds linux/amd64", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.BuildxPlan = tt.plan
			r.buildxInspect = func(context.Context, buildxcfg.Node, time.Duration) (string, []string, error) {
				return "v0.34.2", []string{"linux/amd64", "linux/386"}, tt.inspectErr
			}
			want(t, r.checkBuildx(context.Background(), &state{cfg: &config.Config{Buildx: "ci"}}), tt.status, tt.found, tt.fix)
		})
	}
}
