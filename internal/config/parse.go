// Package config turns the plugin's JSON configuration into a validated,
// typed Config: the schema in plugin.yml first, then checks of meaning
// (platforms, references, files) that a schema cannot express.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Parse validates the JSON configuration against plugin.yml's schema, then
// decodes it, applies defaults from the environment and checks its meaning.
// Relative paths are resolved against workDir. Every problem is reported in
// one *Error.
func Parse(js []byte, env Env, workDir string) (*Config, error) {
	return parse(js, env, workDir, Build, parseMode{})
}

// ParseForEnvironment parses for the environment hook, which runs before the
// checkout: the schema is enforced in full, but only the options that hook
// acts on are checked further.
func ParseForEnvironment(js []byte, env Env, workDir string) (*Config, error) {
	return parse(js, env, workDir, Environment, parseMode{})
}

// parseMode: keepGoing returns the Config of the options that passed beside
// the *Error (diagnose); target says the configuration is a bake target's
// (its allow may hold buildx's bake vocabulary).
type parseMode struct {
	keepGoing, target bool
}

// parse is Parse for phase (see checkedAs). A bake step's own configuration
// is checked as the environment hook checks it, plus its bake options: each
// target's options are checked by Config.Target.
func parse(js []byte, env Env, workDir string, phase Phase, mode parseMode) (*Config, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, &Error{Problems: []Problem{{Msg: fmt.Sprintf("configuration is not valid JSON: %v", err)}}}
	}
	if doc == nil {
		doc = map[string]any{}
	}
	problems, err := validateSchema(doc)
	if err != nil {
		return nil, err
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, &Error{Problems: problems}
	}
	// Check the meaning of every option the schema accepted, so one run
	// reports every problem; options the schema rejected are left out.
	rejected := map[string]bool{}
	for _, p := range problems {
		top := topKey(p.Key)
		rejected[top] = true
		delete(obj, top)
	}
	phase = checkedAs(phase, obj, env)
	cfg, problems, err := check(obj, problems, rejected, env, workDir, phase, mode.target)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return topKey(problems[i].Key) < topKey(problems[j].Key) })
		if !mode.keepGoing {
			cfg = nil
		}
		return cfg, &Error{Problems: problems}
	}
	return cfg, nil
}

// check decodes the options the schema accepted (obj) and checks their
// meaning for phase, adding what it finds to problems.
func check(obj map[string]any, problems []Problem, rejected map[string]bool, env Env, workDir string, phase Phase, target bool) (*Config, []Problem, error) {
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, err
	}
	var r raw
	if err := json.Unmarshal(js, &r); err != nil {
		return nil, nil, &Error{Problems: append(problems, Problem{Msg: fmt.Sprintf("configuration: %v", err)})}
	}
	bakeStep := len(r.Bake) > 0 && phase == Build && !target
	v := &validator{env: env, workDir: workDir, rejected: rejected, files: phase == Build && !bakeStep, bake: len(r.Bake) > 0 || target}
	cfg := v.build(&r)
	for k := range obj {
		cfg.Options = append(cfg.Options, k)
	}
	sort.Strings(cfg.Options)
	var beside []Problem
	if len(r.Bake) > 0 && !target {
		// Config.Bake in every phase (diagnose routes by the bake files);
		// options set beside bake are the build's problem.
		if beside = v.bakeStep(&r, cfg, obj); !bakeStep {
			beside = nil
		}
	}
	for _, p := range v.problems {
		top := topKey(p.Key)
		if !rejected[top] && (phase == Build && !bakeStep || ScopeOf(top)&EnvScope != 0 || bakeStep && bakeKeys[top]) {
			problems = append(problems, p)
		}
	}
	return cfg, append(problems, beside...), nil
}

// topKey is the option a problem's key path belongs to ("cache-to[0]" → "cache-to").
func topKey(key string) string {
	if i := strings.IndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return key
}

type validator struct {
	rejected map[string]bool // options the schema rejected: not checked again
	files    bool            // check the checkout's files (build phase)
	bake     bool            // a bake step or target: allow may use buildx's bake vocabulary
	env      Env
	workDir  string
	problems []Problem
}

func (v *validator) addf(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// normalize returns what norm makes of each entry of the list option key,
// leaving out, and reporting at key[i], the entries it rejects.
func (v *validator) normalize(key string, list []string, norm func(string) (string, error)) []string {
	var out []string
	for i, s := range list {
		n, err := norm(s)
		if err != nil {
			v.addf(fmt.Sprintf("%s[%d]", key, i), "%v", err)
			continue
		}
		out = append(out, n)
	}
	return out
}

func (v *validator) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(v.workDir, p)
}

// build turns r into a Config, recording every problem of meaning in
// v.problems.
func (v *validator) build(r *raw) *Config {
	c := &Config{
		ConnectTimeout: DefaultConnectTimeout,
		Image:          Image{Target: r.Target, Push: r.Push, NoCache: r.NoCache},
		Progress:       r.Progress,
		VersionCheck:   orDefault(r.VersionCheck, "warn"),
		Diagnose:       r.Diagnose,
		Annotate:       r.Annotate == nil || *r.Annotate,
		Artifact:       r.Artifact,
		MetaData:       r.MetaData.value(),
	}
	v.connection(r, c)
	v.sources(r, c)
	v.image(r, c)
	c.CacheFrom = v.cacheEntries("cache-from", r.CacheFrom, false)
	c.CacheTo = v.cacheEntries("cache-to", r.CacheTo, true)
	c.Outputs = v.outputs(r.Outputs)
	c.Secrets = v.secrets(r.Secrets)
	c.SSH = v.ssh(r.SSH)
	v.daemonSide(r, c)
	v.elasticStack(r, c)
	v.reporting(r, c)
	v.buildInputs(r, c)
	return c
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func expandHome(p string, env Env) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return filepath.Join(env.Get("HOME"), strings.TrimPrefix(p, "~"))
	}
	return p
}
