package diagnose

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// perNode answers for the nodes in up, by host.
type perNode struct {
	fakeDaemon
	up map[string]int // host → active builds
}

func (p *perNode) Info(_ context.Context, n config.Node, _ time.Duration) (string, error) {
	if _, ok := p.up[n.Host]; !ok {
		return "", errors.New("nothing is listening at " + n.Host)
	}
	return "v0.34.2", nil
}
func (p *perNode) Active(_ context.Context, n config.Node, _ time.Duration) (int, error) {
	return p.up[n.Host], nil
}

func TestFleetDNSAndMembers(t *testing.T) {
	resolved := []string{"tcp://10.0.0.1:1234", "tcp://10.0.0.2:1234", "tcp://10.0.0.3:1234"}
	tests := []struct {
		name       string
		up         map[string]int
		resolveErr error
		wantDNS    Status
		wantFleet  Status
		wantFound  []string
	}{
		{"every member answers", map[string]int{resolved[0]: 2, resolved[1]: 0, resolved[2]: 1}, nil, Pass, Pass,
			[]string{"10.0.0.1:1234 v0.34.2, 2 active", `rank order for pipeline "app"`, "3. "}},
		{"one member down", map[string]int{resolved[0]: 0, resolved[1]: 0}, nil, Pass, Warn, []string{"10.0.0.3:1234 down (nothing is listening"}},
		{"every member down", map[string]int{}, nil, Pass, Fail, []string{"down"}},
		{"no records", nil, errors.New("dns://builders.test:1234: builders.test has no A or AAAA records"), Fail, "", []string{"no A or AAAA records"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner()
			r.Config = parseCfg(t, map[string]any{"buildkit-host": "dns://builders.test:1234"})
			r.Config.PipelineSlug = "app"
			r.Daemon = &perNode{up: tt.up}
			r.resolve = func(context.Context, string, string, string) ([]string, error) { return resolved, tt.resolveErr }
			rep := r.Run(context.Background())
			byName := map[string]Check{}
			for _, c := range rep.Checks {
				byName[c.Name] = c
			}
			if got := byName["fleet-dns"].Status; got != tt.wantDNS {
				t.Errorf("fleet-dns = %s (%s), want %s", got, byName["fleet-dns"].Found, tt.wantDNS)
			}
			found := byName["fleet-dns"].Found
			if tt.wantFleet != "" {
				found = byName["fleet"].Found
				if got := byName["fleet"].Status; got != tt.wantFleet {
					t.Errorf("fleet = %s (%s), want %s", got, found, tt.wantFleet)
				}
				if _, ok := byName["10.0.0.2:1234: tcp"]; !ok {
					t.Errorf("no per-member checks: %v", names(rep))
				}
			}
			for _, w := range tt.wantFound {
				if !strings.Contains(found, w) {
					t.Errorf("found %q lacks %q", found, w)
				}
			}
		})
	}
}
