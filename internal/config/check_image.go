package config

import (
	"fmt"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
)

// The GOOS/GOARCH values BuildKit workers report (after containerd's normalisation).
var (
	knownOS   = map[string]bool{"linux": true, "windows": true, "darwin": true, "freebsd": true}
	knownArch = map[string]bool{"amd64": true, "arm64": true, "arm": true, "386": true, "ppc64le": true, "s390x": true, "riscv64": true, "mips64le": true, "mips64": true, "loong64": true}
)

// image reads tags, push and platforms.
func (v *validator) image(r *raw, c *Config) {
	c.Tags = v.tags(r.Tags)
	if c.Push && len(c.Tags) == 0 && len(r.Tags) == 0 && !v.rejected["tags"] {
		v.addf("push", "push is true but no tags are set: add tags (e.g. tags: [registry.example.com/app:latest])")
	}
	c.Platforms = v.platforms(r.Platforms)
}

// tags normalises each tag to a full reference.
func (v *validator) tags(list stringList) []string {
	return v.normalize("tags", list, func(t string) (string, error) {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return "", fmt.Errorf("%q is not a valid image reference: %v (want registry/repository:tag, lowercase)", t, err)
		}
		return reference.TagNameOnly(named).String(), nil
	})
}

// platforms normalises each target platform.
func (v *validator) platforms(list stringList) []string {
	return v.normalize("platforms", list, func(p string) (string, error) {
		spec, err := platforms.Parse(p)
		if err != nil {
			return "", fmt.Errorf("%q is not a valid platform: %v (want os/arch[/variant], e.g. linux/amd64, linux/arm64)", p, err)
		}
		if !knownOS[spec.OS] || !knownArch[spec.Architecture] {
			return "", fmt.Errorf("%q is not a known platform (want os/arch[/variant], e.g. linux/amd64, linux/arm64, linux/arm/v7)", p)
		}
		return platforms.Format(spec), nil
	})
}
