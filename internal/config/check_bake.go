package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// bakeKeys are the options of a bake step read by the step itself; every
// other option is merged under each target's and checked there.
var bakeKeys = map[string]bool{"bake": true, "targets": true, "set": true, "bake-env": true, "allow": true}

// buildxOnly are the allow entries of buildx's vocabulary that are not
// BuildKit entitlements: they grant a bake file access beyond the checkout
// and are checked on the agent, never sent to the daemon.
var buildxOnly = regexp.MustCompile(`^(fs|fs\.read|fs\.write|image\.push)=.+$|^(ssh|buildx\.local\.delete)$`)

// envName is a variable name bake-env may pass.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// bakeStep reads a bake step's own options (bake, targets, set, bake-env,
// allow) and reports every image option set beside bake. obj is the step's
// configuration; its other options are merged under each target's by Target.
func (v *validator) bakeStep(r *raw, c *Config, obj map[string]any) []Problem {
	b := &Bake{Files: r.Bake, Targets: r.Targets, Set: r.Set, Env: r.BakeEnv, env: v.env, workDir: v.workDir}
	for i, n := range b.Env {
		if !envName.MatchString(n) {
			v.addf(fmt.Sprintf("bake-env[%d]", i), "%q is not a variable name: want NAME (letters, digits, _)", n)
		}
	}
	for _, e := range r.Allow {
		if k, p, ok := strings.Cut(e, "="); ok && strings.HasPrefix(k, "fs") && p != "*" {
			e = k + "=" + v.abs(expandHome(p, v.env))
		}
		b.Allow = append(b.Allow, e)
	}
	b.SecretEnv = secretEnv(r, c)
	b.ForkPR = forkPR(v.env)
	b.step = map[string]json.RawMessage{}
	var beside []Problem
	for k, val := range obj {
		if ScopeOf(k)&ImageScope != 0 {
			beside = append(beside, Problem{Key: k, Msg: "set beside bake: with bake every image's " + k + " comes from its target in the bake file; move it there (or use set: [\"*." + k + "=…\"])"})
			continue
		}
		if k == "bake" || k == "targets" || k == "set" || k == "bake-env" {
			continue
		}
		js, _ := json.Marshal(val) // decoded from JSON: always encodes
		b.step[k] = js
	}
	c.Bake = b
	return beside
}

// secretEnv names the variables the plugin treats as secret.
func secretEnv(r *raw, c *Config) []string {
	out := []string{"GIT_AUTH_TOKEN"}
	if r.GitContext.TokenEnv != "" {
		out = append(out, r.GitContext.TokenEnv)
	}
	for _, rc := range c.RegistryCredentials {
		out = append(out, rc.PasswordEnv)
	}
	return out
}

// forkPR says whether the job builds a pull request from another repository.
func forkPR(env Env) bool {
	pr := env.Get("BUILDKITE_PULL_REQUEST")
	if pr == "" || strings.Trim(pr, "0123456789") != "" {
		return false
	}
	head := env.Get("BUILDKITE_PULL_REQUEST_REPO")
	return head != "" && normalRepo(head) != normalRepo(env.Get("BUILDKITE_REPO"))
}

// normalRepo spells git@host:org/repo.git and https://host/org/repo alike.
func normalRepo(u string) string {
	u = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git"))
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.Index(u, "@"); i >= 0 {
		u = u[i+1:]
	}
	return strings.Replace(u, ":", "/", 1)
}

// allowEntry checks one allow entry in buildx's vocabulary; bake says
// whether the step builds bake files (which alone may use it).
func allowEntry(e string, bake bool) (buildkit bool, err error) {
	if !buildxOnly.MatchString(e) {
		return true, nil
	}
	if !bake {
		return false, fmt.Errorf("%s is buildx's own, for bake files (docker buildx bake --allow), not a BuildKit entitlement: this step builds one image, whose paths and tags the step names itself: remove it", e)
	}
	return false, nil
}

// Target is the configuration of one bake target: the target's options
// (the plugin's names, from internal/bake) over the step's other options,
// validated like a single-image step.
func (c *Config) Target(opts map[string]any) (*Config, error) {
	b := c.Bake
	merged := map[string]any{}
	for k, v := range b.step {
		merged[k] = v
	}
	for k, v := range opts {
		merged[k] = v
	}
	js, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	t, err := parse(js, b.env, b.workDir, Build, parseMode{target: true})
	if err != nil {
		return nil, err
	}
	t.Bake = b
	return t, nil
}
