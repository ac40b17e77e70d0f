package config

import (
	"errors"
)

// ReadOption changes what Read does.
type ReadOption int

// Read options.
const (
	// EmptyIfAbsent reads a job without this plugin's configuration (no
	// BUILDKITE_PLUGIN_CONFIGURATION, no entry in BUILDKITE_PLUGINS) as {}:
	// the agent-wide `environment --buildx`, which every job runs.
	EmptyIfAbsent ReadOption = 1 << iota
	// KeepGoing is diagnose's mode: with the *Error listing every problem,
	// Read also returns the Config of the options that passed (the
	// defaults when there is no configuration at all), so every other
	// check still runs against the step's own daemons and logins.
	KeepGoing
)

// Read is the one reader of the step: it takes the plugin's raw
// configuration from the job's environment (BUILDKITE_PLUGIN_CONFIGURATION,
// else this plugin's entry in BUILDKITE_PLUGINS), validates it for phase and
// returns the typed Config. No other package reads the raw configuration.
//
// The Command phase (the command hook) checks a step that builds the
// plugin's own image as Build does; a step that does not — diagnose: true,
// buildx
// running the step's command — as the environment hook does.
func Read(env Env, workDir string, phase Phase, opts ...ReadOption) (*Config, error) {
	var o ReadOption
	for _, x := range opts {
		o |= x
	}
	js, _, err := rawFromEnv(env)
	absent := errors.Is(err, ErrNoConfiguration)
	switch {
	case absent && o&(EmptyIfAbsent|KeepGoing) != 0:
		js, phase = []byte(`{}`), Environment
	case err != nil:
		return nil, err
	}
	cfg, perr := parse(js, env, workDir, phase, parseMode{keepGoing: o&KeepGoing != 0})
	if cfg != nil {
		cfg.Plugins = pluginNames(env)
	}
	if absent && o&EmptyIfAbsent == 0 {
		return cfg, err // KeepGoing: the defaults, and why there is nothing else
	}
	return cfg, perr
}

// checkedAs is the phase a configuration is checked for: Command is Build
// for a step whose image the plugin builds from the checkout, Environment
// for the others (diagnose, buildx running the step's command). A bake
// step is checked by parse as a bake step: its own options, then each
// target's when read (Config.Target).
func checkedAs(phase Phase, obj map[string]any, env Env) Phase {
	if phase != Command {
		return phase
	}
	if d, _ := obj["diagnose"].(bool); d {
		return Environment
	}
	if b, ok := obj["buildx"]; ok && b != false {
		if env.Get("BUILDKITE_COMMAND") != "" || !setsBuildOptions(obj) {
			return Environment
		}
	}
	return Build
}

// setsBuildOptions reports whether obj sets an option only the plugin's own
// build reads.
func setsBuildOptions(obj map[string]any) bool {
	for k := range obj {
		if ScopeOf(k)&EnvScope == 0 {
			return true
		}
	}
	return false
}

// Defaults is the configuration of a step that sets no option: the
// daemon and certificates from the job's environment (BUILDKIT_HOST, ...).
func Defaults(env Env) *Config {
	cfg, _ := parse([]byte(`{}`), env, "/", Environment, parseMode{keepGoing: true})
	return cfg
}
