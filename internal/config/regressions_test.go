package config_test

import (
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// Regressions: bugs found by these tests, now fixed.
func TestParseRegressions(t *testing.T) {
	env := envOf(map[string]string{"BUILDKIT_HOST": "tcp://buildkitd:1234"})

	// A YAML block scalar ("dockerfile: |") leaves a trailing newline; the
	// problem must still render on one line.
	t.Run("multi-line values render on one line", func(t *testing.T) {
		for _, js := range []string{
			`{"dockerfile": "docker/Dockerfile\n"}`,
			`{"context": "app\n", "dockerfile": "Dockerfile"}`,
			`{"progress": "plain\n"}`,
		} {
			wd := newWorkDir(t, "Dockerfile")
			_, err := config.Parse([]byte(js), env, wd)
			for _, p := range problemsOf(t, err) {
				if strings.Contains(p.String(), "\n") {
					t.Errorf("Parse(%s): problem renders on several lines: %q", js, p.String())
				}
			}
		}
	})

	// The schema accepts 90.0 and 1e2 as integers; the decoder once wanted an
	// int64 and returned one keyless problem instead of every check of meaning.
	t.Run("integral numbers in float form", func(t *testing.T) {
		for _, js := range []string{`{"timeout": 90.0, "tags": "Bad"}`, `{"connect-timeout": 1e2, "tags": "Bad"}`} {
			wd := newWorkDir(t, "Dockerfile")
			_, err := config.Parse([]byte(js), env, wd)
			found := false
			for _, p := range problemsOf(t, err) {
				if p.Key == "" {
					t.Errorf("Parse(%s): keyless problem %q", js, p)
				}
				found = found || p.Key == "tags[0]"
			}
			if !found {
				t.Errorf("Parse(%s): tags[0] problem missing; got:\n%v", js, err)
			}
		}
	})

	t.Run("zero durations are rejected", func(t *testing.T) {
		for key, js := range map[string]string{"connect-timeout": `{"connect-timeout": "0s"}`, "timeout": `{"timeout": "0m"}`} {
			_, err := config.Parse([]byte(js), env, newWorkDir(t, "Dockerfile"))
			if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Key != key || !strings.Contains(ps[0].Msg, "more than 0") {
				t.Errorf("Parse(%s) = %v, want one %s problem", js, ps, key)
			}
		}
	})

	t.Run("messages name what the user wrote", func(t *testing.T) {
		_, err := config.Parse([]byte(`{"outputs": "type=registry"}`), env, newWorkDir(t, "Dockerfile"))
		if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0].Msg, "type=registry needs name=") {
			t.Errorf("outputs type=registry: %v", ps)
		}
		_, err = config.Parse([]byte(`{"tags": 5, "push": true}`), env, newWorkDir(t, "Dockerfile"))
		if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Key != "tags" {
			t.Errorf("a rejected tags option should not also produce a push problem: %v", ps)
		}
	})
}

func TestRegistryCredentialWithoutHost(t *testing.T) {
	env := envOf(map[string]string{"BUILDKIT_HOST": "tcp://buildkitd:1234", "U": "u", "P": "p"})
	_, err := config.Parse([]byte(`{"registry-credentials": [{"registry": "https://", "username-env": "U", "password-env": "P"}]}`), env, newWorkDir(t, "Dockerfile"))
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Key != "registry-credentials[0]" || !strings.Contains(ps[0].Msg, "has no host") {
		t.Errorf("problems = %v, want one registry-credentials[0] problem about the missing host", ps)
	}
}
