//go:build !remote_buildkit_test

package registryauth

import (
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// A released binary (no remote_buildkit_test tag) ignores the test
// override that maps any host to an ECR account's token.
func TestECRHostsIgnoredOutsideTestBuilds(t *testing.T) {
	env := config.Env(func(k string) (string, bool) {
		if k == HostsEnv {
			return "evil.example:443=123456789012/us-east-1", true
		}
		return "", false
	})
	s, err := ForConfig(&config.Config{}, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ECRHosts) != 0 {
		t.Fatalf("%s was honoured by a release build: %v", HostsEnv, s.ECRHosts)
	}
}
