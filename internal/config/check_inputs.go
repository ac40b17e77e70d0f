package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	units "github.com/docker/go-units"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/util/entitlements"
)

// docker/build-push-action's remaining inputs, read the way buildx reads the
// matching `docker buildx build` flags (build/opt.go toSolveOpt,
// util/buildflags), into the values buildx sends.

// buildInputs reads call, load, pull, annotations, no-cache-filters and the
// RUN environment options (add-hosts, network, allow, shm-size, ulimit).
// It runs after image and reporting, which read the platforms and the
// attestations load and index annotations depend on.
func (v *validator) buildInputs(r *raw, c *Config) {
	c.Call = orDefault(r.Call, "build")
	c.Load, c.Pull = r.Load, r.Pull
	if c.Load && len(c.Platforms) > 1 {
		v.addf("load", "a multi-platform image cannot be loaded into Docker (buildx: docker exporter does not currently support exporting manifest lists): build one platform, or push the tags instead")
	}
	c.Annotations = v.annotations(r.Annotations, len(c.Platforms) > 1 || c.Provenance != nil || c.SBOM != nil)
	c.NoCacheFilters = []string(r.NoCacheFilters)
	if c.NoCache && len(c.NoCacheFilters) > 0 {
		v.addf("no-cache-filters", "no-cache already rebuilds every stage: drop no-cache to rebuild only %s", strings.Join(c.NoCacheFilters, ", "))
	}
	c.AddHosts = v.normalize("add-hosts", r.AddHosts, extraHost)
	c.Allow = v.entitlements(r.Allow)
	if r.Network != "default" {
		c.Network = r.Network
	}
	if c.Network == "host" && !slices.Contains(c.Allow, entitlements.EntitlementNetworkHost.String()) && !v.rejected["allow"] {
		v.addf("network", "host needs the network.host entitlement: add allow: [network.host] (and start the daemon with --allow-insecure-entitlement network.host)")
	}
	if r.ShmSize != nil {
		n, err := units.RAMInBytes(string(*r.ShmSize))
		if err != nil || n <= 0 {
			v.addf("shm-size", "%q is not a size: want a number of bytes with an optional unit, e.g. \"128m\" or \"2g\"", string(*r.ShmSize))
		}
		c.ShmSize = n
	}
	c.Ulimits = v.ulimits(r.Ulimit)
}

// extraHost turns "host:ip" or "host=ip" into the frontend's "host=ip", as
// buildx's toBuildkitExtraHosts (build/utils.go) does.
func extraHost(h string) (string, error) {
	host, ip, ok := strings.Cut(h, "=")
	if !ok {
		host, ip, ok = strings.Cut(h, ":")
	}
	if !ok || host == "" || ip == "" {
		return "", fmt.Errorf("%q is not host:ip or host=ip (e.g. registry.internal:10.0.0.5)", h)
	}
	if ip == "host-gateway" {
		return "", fmt.Errorf("%q: host-gateway is known only to Docker Engine's own builder, not to a BuildKit daemon: give the IP address", h)
	}
	if len(ip) > 2 && ip[0] == '[' && ip[len(ip)-1] == ']' {
		ip = ip[1 : len(ip)-1]
	}
	if net.ParseIP(ip) == nil {
		return "", fmt.Errorf("%q: %q is not an IP address (want host:ip or host=ip, e.g. registry.internal:10.0.0.5)", h, ip)
	}
	return host + "=" + ip, nil
}

// entitlements checks each allow entry as BuildKit parses it (buildx's
// buildflags.ParseEntitlements), without duplicates, and returns those sent
// to the daemon. With bake, buildx's own entries (fs.read=PATH, ssh,
// image.push=…, buildx.local.delete) are accepted too: Bake.Allow has them.
func (v *validator) entitlements(list stringList) []string {
	var out []string
	for i, e := range list {
		key := fmt.Sprintf("allow[%d]", i)
		buildkit, err := allowEntry(e, v.bake)
		if err != nil {
			v.addf(key, "%v", err)
			continue
		}
		if !buildkit {
			continue
		}
		if _, _, err := entitlements.Parse(e); err != nil {
			more := ""
			if v.bake {
				more = " (with bake also fs.read=PATH, fs.write=PATH, fs=PATH, ssh, image.push=PATTERN, buildx.local.delete)"
			}
			v.addf(key, "%q is not an entitlement: want network.host, security.insecure, device or device=NAME%s", e, more)
			continue
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// ulimits normalises each "name=soft[:hard]" to "name=soft:hard", sorted by
// name (docker's UlimitOpt.GetList, which buildx's toBuildkitUlimits joins).
func (v *validator) ulimits(list stringList) []string {
	seen := map[string]bool{}
	var out []string
	for i, s := range list {
		key := fmt.Sprintf("ulimit[%d]", i)
		u, err := units.ParseUlimit(s)
		if err != nil {
			v.addf(key, "%q: %v (want name=soft[:hard], e.g. nofile=1024:2048)", s, err)
			continue
		}
		if seen[u.Name] {
			v.addf(key, "%s is limited twice: keep one entry", u.Name)
			continue
		}
		seen[u.Name] = true
		out = append(out, u.String())
	}
	sort.Strings(out)
	return out
}

// annotationType is buildx's "type[platform]" before the key.
var annotationType = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$`) })

// annotations turns each "[types:]key=value" into exporter attrs, as
// buildx's buildflags.ParseAnnotations and exptypes.AnnotationKey.String.
// Index annotations need an index: several platforms or an attestation.
func (v *validator) annotations(list lineList, index bool) map[string]string {
	var out map[string]string
	for i, s := range list {
		keys, val, err := annotationKeys(s)
		if err != nil {
			v.addf(fmt.Sprintf("annotations[%d]", i), "%v", err)
			continue
		}
		if !index && slices.ContainsFunc(keys, IsIndexAnnotation) {
			v.addf(fmt.Sprintf("annotations[%d]", i), "%q is for the image index, which a single-platform build without provenance or sbom does not make (the daemon refuses it: index annotations not supported for single platform export): use manifest: or no prefix, or build several platforms", s)
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		for _, k := range keys {
			out[k] = val
		}
	}
	return out
}

func annotationKeys(s string) ([]string, string, error) {
	k, val, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return nil, "", fmt.Errorf("%q is not key=value (e.g. org.opencontainers.image.description=My app, or index:KEY=value)", s)
	}
	types, key, ok := strings.Cut(k, ":")
	if !ok {
		return []string{exptypes.AnnotationKey{Key: k}.String()}, val, nil
	}
	var out []string
	for _, t := range strings.Split(types, ",") {
		m := annotationType().FindStringSubmatch(t)
		if m == nil {
			return nil, "", fmt.Errorf("%q: %q is not a type with an optional [platform] (e.g. manifest[linux/amd64])", s, t)
		}
		ak := exptypes.AnnotationKey{Type: m[1], Key: key}
		switch m[1] {
		case exptypes.AnnotationIndex, exptypes.AnnotationIndexDescriptor, exptypes.AnnotationManifest, exptypes.AnnotationManifestDescriptor:
		default:
			return nil, "", fmt.Errorf("%q: unknown annotation type %q (want manifest, index, manifest-descriptor or index-descriptor)", s, m[1])
		}
		if m[2] != "" {
			p, err := platforms.Parse(m[2])
			if err != nil {
				return nil, "", fmt.Errorf("%q: %q is not a platform (want os/arch, e.g. manifest[linux/arm64])", s, m[2])
			}
			ak.Platform = &p
		}
		out = append(out, ak.String())
	}
	return out, val, nil
}

// IsIndexAnnotation reports whether an exporter attr annotates the image
// index or its descriptor (annotation-index.K, annotation-index-descriptor.K).
func IsIndexAnnotation(attr string) bool {
	return strings.HasPrefix(attr, "annotation-"+exptypes.AnnotationIndex+".") ||
		strings.HasPrefix(attr, "annotation-"+exptypes.AnnotationIndexDescriptor+".")
}
