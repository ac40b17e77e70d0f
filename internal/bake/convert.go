package bake

import (
	"errors"
	"path/filepath"
	"sort"
	"strings"

	"github.com/docker/buildx/bake"
)

// convert maps a bake target onto the plugin's options. Paths: bake's
// context is relative to the working directory and its dockerfile to the
// context, as `docker buildx bake` reads them; the plugin's dockerfile is
// relative to the working directory.
func convert(name string, t *bake.Target, workDir string) (Target, error) {
	if t.DockerfileInline != nil {
		return Target{}, errors.New("dockerfile-inline is not supported: put the Dockerfile in a file and set dockerfile")
	}
	o := map[string]any{}
	ctx := "."
	if t.Context != nil {
		ctx = *t.Context
	}
	o["context"] = ctx
	df := "Dockerfile"
	if t.Dockerfile != nil {
		df = *t.Dockerfile
	}
	if !filepath.IsAbs(df) {
		df = filepath.Join(ctx, df)
	}
	o["dockerfile"] = df
	setIf(o, "target", t.Target)
	setIf(o, "network", t.NetworkMode)
	setIf(o, "shm-size", t.ShmSize)
	setIf(o, "call", t.Call)
	if t.Pull != nil && *t.Pull {
		o["pull"] = true
	}
	if t.NoCache != nil && *t.NoCache {
		o["no-cache"] = true
	}
	listIf(o, "tags", t.Tags)
	listIf(o, "platforms", t.Platforms)
	listIf(o, "annotations", t.Annotations)
	listIf(o, "no-cache-filters", t.NoCacheFilter)
	listIf(o, "ulimit", t.Ulimits)
	// t.Entitlements grant nothing: Load checked them against the step's allow.
	mapIf(o, "build-args", t.Args)
	mapIf(o, "labels", t.Labels)
	hosts(o, t.ExtraHosts)
	entries(o, t)
	attests(o, t)
	out := Target{Name: name, Options: o, Needs: contexts(o, t.Contexts)}
	return out, nil
}

func setIf(o map[string]any, key string, v *string) {
	if v != nil && *v != "" {
		o[key] = *v
	}
}

func listIf(o map[string]any, key string, v []string) {
	if len(v) > 0 {
		o[key] = v
	}
}

func mapIf(o map[string]any, key string, m map[string]*string) {
	out := map[string]any{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	if len(out) > 0 {
		o[key] = out
	}
}

func hosts(o map[string]any, m map[string]*string) {
	var out []string
	for h, ip := range m {
		if ip != nil {
			out = append(out, h+"="+*ip)
		}
	}
	sort.Strings(out)
	listIf(o, "add-hosts", out)
}

// entries: cache, outputs, secrets and ssh as the plugin's typed objects.
func entries(o map[string]any, t *bake.Target) {
	attrList := func(typ string, attrs map[string]string, extra map[string]string) map[string]any {
		m := map[string]any{"type": typ}
		for k, v := range attrs {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	var from, to, outs, secrets []any
	for _, c := range t.CacheFrom {
		from = append(from, attrList(c.Type, c.Attrs, nil))
	}
	for _, c := range t.CacheTo {
		to = append(to, attrList(c.Type, c.Attrs, nil))
	}
	for _, e := range t.Outputs {
		var extra map[string]string
		if e.Destination != "" {
			extra = map[string]string{"dest": e.Destination}
		}
		outs = append(outs, attrList(e.Type, e.Attrs, extra))
	}
	for _, s := range t.Secrets {
		m := map[string]any{"id": s.ID}
		if s.FilePath != "" {
			m["src"] = s.FilePath
		}
		if s.Env != "" {
			m["env"] = s.Env
		}
		secrets = append(secrets, m)
	}
	var ssh []string
	for _, s := range t.SSH {
		v := s.ID
		if len(s.Paths) > 0 {
			v += "=" + strings.Join(s.Paths, ",")
		}
		ssh = append(ssh, v)
	}
	for key, v := range map[string][]any{"cache-from": from, "cache-to": to, "outputs": outs, "secrets": secrets} {
		if len(v) > 0 {
			o[key] = v
		}
	}
	listIf(o, "ssh", ssh)
}

// attests: bake's attest entries as provenance and sbom.
func attests(o map[string]any, t *bake.Target) {
	for _, a := range t.Attest {
		if a.Type != "provenance" && a.Type != "sbom" {
			continue
		}
		if a.Disabled {
			o[a.Type] = false
			continue
		}
		var parts []string
		for k, v := range a.Attrs {
			parts = append(parts, k+"="+v)
		}
		sort.Strings(parts)
		if len(parts) == 0 {
			o[a.Type] = true
		} else {
			o[a.Type] = strings.Join(parts, ",")
		}
	}
}

// contexts: named contexts as build-contexts, except target:NAME ones,
// which are returned: the job fills them with that target's image.
func contexts(o map[string]any, m map[string]string) map[string]string {
	bc := map[string]any{}
	needs := map[string]string{}
	for name, v := range m {
		if dep, ok := strings.CutPrefix(v, "target:"); ok {
			needs[name] = dep
			continue
		}
		bc[name] = v
	}
	if len(bc) > 0 {
		o["build-contexts"] = bc
	}
	return needs
}
