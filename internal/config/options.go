package config

import "sort"

// Scope says where an option acts. Every option of plugin.yml has one
// (TestEveryOptionHasAScope): adding an option means choosing it here.
type Scope uint8

// Scopes. StepScope and ImageScope are exclusive; EnvScope may be added to either.
const (
	// StepScope options apply to the whole step (every image of a bake step).
	StepScope Scope = 0
	// ImageScope options describe one image: with bake each target's come
	// from the bake file, so the step may not set them beside bake.
	ImageScope Scope = 1 << iota
	// EnvScope options are acted on by the environment hook, which runs before the
	// checkout: its problems are reported there already.
	EnvScope
)

// scopes classifies every top-level option of plugin.yml.
var scopes = map[string]Scope{
	// Daemons and connection.
	"buildkit-host": EnvScope, "nodes": EnvScope, "max-load-factor": EnvScope, // buildx routes its builder in the environment hook
	"buildx": EnvScope, "dns-server": EnvScope, "tls-dir": EnvScope,
	"tls-server-name": EnvScope, "require-tls": EnvScope, "connect-timeout": EnvScope, "version-check": EnvScope,
	// Elastic CI Stack and registry logins.
	"secrets-bucket": EnvScope, "secrets-region": EnvScope, "secrets-prefix": EnvScope, "secrets-objects": EnvScope,
	"ecr": EnvScope, "registry-credentials": EnvScope, "docker-config": EnvScope, "diagnose": EnvScope,
	"insecure-registries": StepScope,
	// One image.
	"dockerfile": ImageScope, "context": ImageScope, "target": ImageScope, "call": ImageScope,
	"build-args": ImageScope, "labels": ImageScope, "annotations": ImageScope, "build-contexts": ImageScope,
	"tags": ImageScope, "platforms": ImageScope, "cache-from": ImageScope, "cache-to": ImageScope,
	"secrets": ImageScope, "ssh": ImageScope, "add-hosts": ImageScope, "network": ImageScope,
	"shm-size": ImageScope, "ulimit": ImageScope, "no-cache": ImageScope, "no-cache-filters": ImageScope,
	"pull": ImageScope, "outputs": ImageScope, "provenance": ImageScope, "sbom": ImageScope,
	// The step: how images are pushed, reported and retried.
	"push": StepScope, "load": StepScope, "allow": StepScope, "progress": StepScope, "annotate": StepScope, "meta-data": StepScope,
	"artifact": StepScope, "insights": StepScope, "metadata-file": StepScope, "timeout": StepScope, "retries": StepScope,
	"bake": StepScope, "targets": StepScope, "set": StepScope, "bake-env": StepScope, "context-sync": StepScope, "context-key": StepScope,
	// What the daemon fetches, stamps and keeps apart for the step's images.
	"git-context": StepScope, "reproducible": StepScope, "cache-mounts": StepScope,
}

// ScopeOf is the scope of a top-level option.
func ScopeOf(key string) Scope { return scopes[key] }

// ImageOptions are the options that describe one image, sorted.
func ImageOptions() []string {
	var out []string
	for k, s := range scopes {
		if s&ImageScope != 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// BuildOptions are the options the configuration sets that only the
// plugin's own build reads (not the environment hook's connection and login
// options), sorted.
func (c *Config) BuildOptions() []string {
	var out []string
	for _, k := range c.Options {
		if ScopeOf(k)&EnvScope == 0 {
			out = append(out, k)
		}
	}
	return out
}
