package config

import (
	"strings"

	"github.com/distribution/reference"
)

// NormalizeRegistry reduces "https://host:5000/v2/" or "docker.io" to the
// host the daemon asks credentials for.
func NormalizeRegistry(r string) string {
	r = strings.ToLower(strings.TrimSpace(r))
	r = strings.TrimPrefix(strings.TrimPrefix(r, "https://"), "http://")
	r, _, _ = strings.Cut(r, "/")
	switch r {
	case "docker.io", "index.docker.io":
		return "registry-1.docker.io"
	}
	return r
}

// RegistryHosts lists the registries the build talks to that the
// configuration names: tags, image outputs and registry caches (base images
// in FROM lines are only known to the daemon).
func (c *Image) RegistryHosts() []string {
	seen := map[string]bool{}
	var out []string
	add := func(ref string) {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return
		}
		h := NormalizeRegistry(reference.Domain(named))
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, t := range c.Tags {
		add(t)
	}
	for _, o := range c.Outputs {
		for _, n := range strings.Split(o.Attrs["name"], ",") {
			add(n)
		}
	}
	for _, e := range append(append([]Attrs{}, c.CacheFrom...), c.CacheTo...) {
		if e.Attrs["ref"] != "" {
			add(e.Attrs["ref"])
		}
	}
	return out
}

// CertPrefixes lists where a certificate set is looked for in the secrets
// bucket, in precedence order: <pipeline-slug>/<prefix>/ then <prefix>/,
// as the Elastic CI Stack's own secrets hooks do.
func (c *Config) CertPrefixes(prefix string) []string {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	var out []string
	if c.PipelineSlug != "" {
		out = append(out, c.PipelineSlug+"/"+p)
	}
	return append(out, p)
}
