package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	inside "github.com/remote-buildkit/remote-buildkit/internal/checkout"
)

// sources reads the build context, the Dockerfile, build-args, labels and
// build-contexts.
func (v *validator) sources(r *raw, c *Config) {
	ctxPath := orDefault(r.Context, ".")
	var contextOK bool
	c.ContextDir, _, contextOK = v.path("context", "", ctxPath)
	linked := !contextOK // reported: its Dockerfile is not looked at
	if fi, err := os.Stat(c.ContextDir); contextOK && (err != nil || !fi.IsDir()) {
		v.addf("context", "directory %s does not exist: set context to the build context directory, relative to the job's working directory", c.ContextDir)
		contextOK = false
	}
	dfOK := true
	if r.Dockerfile != "" {
		c.Dockerfile, _, dfOK = v.path("dockerfile", "", r.Dockerfile)
	} else if rel, err := filepath.Rel(v.workDir, c.ContextDir); err == nil && inside.Relative(rel) && !linked {
		// The default Dockerfile is the checkout's too: resolved like one
		// the step names.
		c.Dockerfile, _, dfOK = v.path("dockerfile", "", filepath.Join(rel, "Dockerfile"))
	} else {
		c.Dockerfile = filepath.Join(c.ContextDir, "Dockerfile")
	}
	if fi, err := os.Stat(c.Dockerfile); dfOK && (err != nil || fi.IsDir()) && (contextOK || r.Dockerfile != "") {
		v.addf("dockerfile", "file %s does not exist: set dockerfile to the Dockerfile's path, relative to the job's working directory", c.Dockerfile)
	}
	c.ContextScope = ContextScope{Org: v.env.Get("BUILDKITE_ORGANIZATION_SLUG"), Pipeline: v.env.Get("BUILDKITE_PIPELINE_SLUG"), Domain: trustDomain(v.env)}
	if rel, err := filepath.Rel(v.workDir, c.ContextDir); err == nil {
		c.ContextScope.Dir = filepath.ToSlash(rel)
	}
	if k := r.ContextKey; k != nil {
		if (k.Env == "") == (k.Secret == "") {
			v.addf("context-key", "set exactly one of env (the job's variable holding the key) or secret (a Buildkite secret holding it), or drop context-key to derive the key from the client certificate")
		}
		c.ContextKey = *k
	}
	c.BuildArgs = v.keyValues("build-args", r.BuildArgs, true)
	c.Labels = v.keyValues("labels", r.Labels, false)
	c.BuildContexts = v.buildContexts(r.BuildContexts)
	c.ContextSync = ContextSync{Mode: orDefault(r.ContextSync, "content"), CacheDir: hashCacheDir(v.env), GitAttributes: gitAttributesFile(v.env)}
}

// gitAttributesFile is where git reads the user's attributes:
// $XDG_CONFIG_HOME/git/attributes, else ~/.config/git/attributes.
func gitAttributesFile(env Env) string {
	if x := env.Get("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "git", "attributes")
	}
	if h := env.Get("HOME"); h != "" {
		return filepath.Join(h, ".config", "git", "attributes")
	}
	return ""
}

// trustDomain is the job's trust domain on the daemon: a build of a pull
// request (BUILDKITE_PULL_REQUEST set to anything but "" or "false": a
// number) is its own, apart from branch builds.
func trustDomain(env Env) string {
	if pr := env.Get("BUILDKITE_PULL_REQUEST"); pr != "" && pr != "false" {
		return TrustPullRequest
	}
	return TrustBranch
}

// hashCacheDir is where the agent keeps the content ids of context files:
// $XDG_CACHE_HOME/remote-buildkit/hashes, else ~/.cache/remote-buildkit/hashes.
func hashCacheDir(env Env) string {
	if x := env.Get("XDG_CACHE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "remote-buildkit", "hashes")
	}
	if h := env.Get("HOME"); h != "" {
		return filepath.Join(h, ".cache", "remote-buildkit", "hashes")
	}
	return ""
}

func (v *validator) keyValues(key string, kvs keyValues, fromEnv bool) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	out := map[string]string{}
	for i, kv := range kvs {
		if strings.TrimSpace(kv.Key) == "" {
			v.addf(fmt.Sprintf("%s[%d]", key, i), "empty key: want KEY=value")
			continue
		}
		if !kv.HasValue {
			if !fromEnv {
				v.addf(fmt.Sprintf("%s[%d]", key, i), "%q has no value: want KEY=value", kv.Key)
				continue
			}
			// Like `docker build --build-arg KEY`: the value comes from the job's
			// environment, and an unset variable leaves the arg out.
			val, ok := v.env(kv.Key)
			if !ok {
				continue
			}
			kv.Value = val
		}
		out[kv.Key] = kv.Value
	}
	return out
}

func (v *validator) buildContexts(kvs keyValues) map[string]string {
	m := v.keyValues("build-contexts", kvs, false)
	for name, val := range m {
		if isURLContext(val) {
			continue
		}
		p, _, ok := v.path("build-contexts."+name, "", val)
		if !ok {
			delete(m, name)
			continue
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			v.addf("build-contexts."+name, "directory %s does not exist: give a local directory or docker-image://, target:, oci-layout://, https:// or git URL", p)
			continue
		}
		m[name] = p
	}
	return m
}

func isURLContext(s string) bool {
	for _, p := range []string{"docker-image://", "target:", "oci-layout://", "https://", "http://", "git://", "git@", "ssh://", "input:", "local:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
