package bake

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/docker/buildx/bake"
	"github.com/docker/buildx/build"
	"github.com/docker/buildx/util/osutil"
	"github.com/docker/buildx/util/urlutil"
	"github.com/moby/buildkit/client"
)

// source is one path a target reads or writes, and the bake key naming it.
type source struct {
	key, path string
}

// checkTargets runs buildx's own entitlement check (TargetsToBuildOpt,
// EntitlementConf.Validate) on each target against what the step grants
// (ent: its allow entries plus the checkout, read and write) and returns
// the first thing a target asks for beyond it, as one line naming the
// target, the key, the path or entitlement and the allow entry granting it.
func checkTargets(tm map[string]*bake.Target, ent bake.EntitlementConf, p Policy, hidden []string) error {
	names := make([]string, 0, len(tm))
	for n := range tm {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := checkSecretEnv(tm[name], hidden); err != nil {
			return fmt.Errorf("target %s: %v", name, err)
		}
		// Without its ssh entries: upstream's ssh provider would dial the
		// agent and parse key files before anything is checked.
		t := *tm[name]
		t.SSH = nil
		bo, err := bake.TargetsToBuildOpt(map[string]*bake.Target{name: &t}, nil)
		if err != nil {
			return fmt.Errorf("target %s: %v", name, err)
		}
		opt := bo[name]
		if len(tm[name].SSH) > 0 {
			opt.SSHSpecs = tm[name].SSH
		}
		absolute(&opt, p.WorkDir)
		missing, err := ent.Validate(map[string]build.Options{name: opt})
		if err != nil {
			return fmt.Errorf("target %s: %v", name, err)
		}
		if msg := explainMissing(missing, &opt); msg != "" {
			return fmt.Errorf("target %s: %s", name, msg)
		}
		if err := missing.Check(false); err != nil {
			return fmt.Errorf("target %s: %v", name, err)
		}
		if err := p.checkPush(&opt, ent.ImagePush); err != nil {
			return fmt.Errorf("target %s: %v", name, err)
		}
	}
	return nil
}

// explainMissing turns what Validate found missing into one sentence.
func explainMissing(m bake.EntitlementConf, o *build.Options) string {
	grant := func(entry string) string { return fmt.Sprintf(`add allow: [%q] to the step`, entry) }
	for _, p := range m.FSRead {
		s := find(readSources(o), p)
		return fmt.Sprintf("%s %s is outside the checkout: %s", s.key, s.path, grant("fs.read="+p))
	}
	for _, p := range m.FSWrite {
		s := find(writeSources(o), p)
		return fmt.Sprintf("%s %s is outside the checkout: %s", s.key, s.path, grant("fs.write="+p))
	}
	switch {
	case m.NetworkHost:
		return "entitlements network.host is not granted by the step: " + grant("network.host")
	case m.SecurityInsecure:
		return "entitlements security.insecure is not granted by the step: " + grant("security.insecure")
	case m.Devices != nil && m.Devices.All:
		return "entitlements device is not granted by the step: " + grant("device")
	case m.Devices != nil:
		for d := range m.Devices.Devices {
			return fmt.Sprintf("entitlements device=%s is not granted by the step: %s", d, grant("device="+d))
		}
	case m.SSH:
		return "ssh forwards the job's ssh-agent to the build: " + grant("ssh")
	case m.LocalOutputDelete:
		return "output type=local,mode=delete deletes what else is in its dest: " + grant("buildx.local.delete")
	}
	return ""
}

// find names the source that Validate reported as p (its symlinks
// evaluated, possibly a parent that exists of a path that does not).
func find(srcs []source, p string) source {
	for _, s := range srcs {
		ev, _, err := osutil.EvaluateToExistingPath(s.path)
		if err == nil && (ev == p || strings.HasPrefix(ev, p+string(filepath.Separator))) {
			if ev != s.path && !strings.HasPrefix(s.path, ev+string(filepath.Separator)) {
				s.path += " (resolves to " + ev + ")" // through a symlink
			}
			return s
		}
	}
	return source{key: "a path", path: p}
}

// readSources are the paths a target reads, by the key naming them.
func readSources(o *build.Options) []source {
	var out []source
	if local(o.Inputs.ContextPath) {
		out = append(out, source{"context", o.Inputs.ContextPath}, source{"dockerfile", o.Inputs.DockerfilePath})
	}
	for _, name := range sortedKeys(o.Inputs.NamedContexts) {
		if c := o.Inputs.NamedContexts[name]; c.State == nil && local(c.Path) {
			out = append(out, source{"contexts " + name, strings.TrimPrefix(c.Path, "oci-layout://")})
		}
	}
	for _, s := range o.SecretSpecs {
		if f := s.ResolveSource().FilePath; f != "" {
			out = append(out, source{"secret " + s.ID + " src", f})
		}
	}
	for _, s := range o.SSHSpecs {
		for _, p := range s.Paths {
			out = append(out, source{"ssh " + s.ID, p})
		}
	}
	for _, c := range o.CacheFrom {
		if c.Type == "local" && c.Attrs["src"] != "" {
			out = append(out, source{"cache-from src", c.Attrs["src"]})
		}
	}
	return out
}

// writeSources are the paths a target writes, by the key naming them.
func writeSources(o *build.Options) []source {
	var out []source
	for _, p := range o.ExportsLocalPathsTemporary {
		out = append(out, source{"output dest", p})
	}
	for _, c := range o.CacheTo {
		if c.Type == "local" && c.Attrs["dest"] != "" {
			out = append(out, source{"cache-to dest", c.Attrs["dest"]})
		}
	}
	return out
}

// absolute makes the options' local paths absolute against workDir: bake
// has them relative to the working directory, and Validate would read them
// relative to the process's.
func absolute(o *build.Options, workDir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) || !local(p) {
			return p
		}
		return filepath.Join(workDir, p)
	}
	if o.Inputs.ContextState == nil && local(o.Inputs.ContextPath) {
		o.Inputs.ContextPath = abs(o.Inputs.ContextPath)
		o.Inputs.DockerfilePath = abs(o.Inputs.DockerfilePath)
	}
	for k, c := range o.Inputs.NamedContexts {
		if c.State == nil && local(c.Path) && !strings.HasPrefix(c.Path, "oci-layout://") {
			o.Inputs.NamedContexts[k] = build.NamedContext{Path: abs(c.Path)}
		}
	}
	for _, s := range o.SecretSpecs {
		s.FilePath = abs(s.FilePath)
	}
	for _, s := range o.SSHSpecs {
		for i, p := range s.Paths {
			s.Paths[i] = abs(p)
		}
	}
	for i, p := range o.ExportsLocalPathsTemporary {
		o.ExportsLocalPathsTemporary[i] = abs(p)
	}
	for _, c := range slices.Concat(o.CacheFrom, o.CacheTo) {
		for _, k := range []string{"src", "dest"} {
			if c.Type == "local" && c.Attrs[k] != "" {
				c.Attrs[k] = abs(c.Attrs[k])
			}
		}
	}
}

// local says whether a context is a path on the agent (not a URL, an
// image or another target).
func local(p string) bool {
	if urlutil.IsRemoteURL(p) || strings.HasPrefix(p, "target:") || strings.HasPrefix(p, "docker-image://") {
		return false
	}
	return p != "" && p != "-"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// exported is what a target's exports push: image references by key.
func exported(o *build.Options) []source {
	var out []source
	for _, e := range o.Exports {
		if e.Type != client.ExporterImage || e.Attrs["push"] != "true" {
			continue
		}
		names := strings.Split(e.Attrs["name"], ",")
		if e.Attrs["name"] == "" {
			names = o.Tags // buildx names an unnamed image export after the tags
		}
		for _, n := range names {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, source{"output type=registry", n})
			}
		}
	}
	return out
}

// checkSecretEnv refuses a secret read from a variable the files may not
// see (buildx reads id=NAME without src or env from the variable NAME).
func checkSecretEnv(t *bake.Target, hidden []string) error {
	for _, s := range t.Secrets {
		name := s.Env
		if name == "" && s.FilePath == "" {
			name = s.ID
		}
		if name != "" && slices.Contains(hidden, name) {
			return fmt.Errorf("secret %s reads %s, a secret variable of the job: add bake-env: [%q] to the step to pass it", s.ID, name, name)
		}
	}
	return nil
}
