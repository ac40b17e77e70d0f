package builder

import (
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// Request is one image build, derived once from the configuration and never
// changed: the variants a build split across nodes needs (one node's
// platforms, a push by digest) are new Requests made by its methods.
type Request struct {
	contextDir, dockerfile, target, sessionKey string
	buildArgs, labels, buildContexts           map[string]string
	tags                                       []string
	push, noCache                              bool
	platforms                                  []string
	cacheFrom, cacheTo, outputs                []config.Attrs
	secrets                                    []config.Secret
	ssh                                        []config.SSH
	provenance, sbom                           *string

	// docker/build-push-action's inputs, as config holds them.
	call                     string
	annotations              map[string]string
	noCacheFilters, addHosts []string
	allow, ulimits           []string
	network                  string
	shmSize                  int64
	pull, load               bool
	loader                   func(map[string]string) (io.WriteCloser, error)

	contextSync config.ContextSync // how the local directories are sent (internal/contextsync)
}

// NewRequest takes the build's inputs out of a validated configuration.
func NewRequest(c *config.Config) Request {
	return Request{
		contextDir: c.ContextDir, dockerfile: c.Dockerfile, target: c.Target, sessionKey: c.SessionKey,
		buildArgs: maps.Clone(c.BuildArgs), labels: maps.Clone(c.Labels), buildContexts: maps.Clone(c.BuildContexts),
		tags: slices.Clone(c.Tags), push: c.Push, noCache: c.NoCache, platforms: slices.Clone(c.Platforms),
		cacheFrom: cloneAttrs(c.CacheFrom), cacheTo: cloneAttrs(c.CacheTo), outputs: cloneAttrs(c.Outputs),
		secrets: slices.Clone(c.Secrets), ssh: slices.Clone(c.SSH), provenance: c.Provenance, sbom: c.SBOM,
		call: c.Call, annotations: maps.Clone(c.Annotations), noCacheFilters: slices.Clone(c.NoCacheFilters),
		addHosts: slices.Clone(c.AddHosts), allow: slices.Clone(c.Allow), ulimits: slices.Clone(c.Ulimits),
		network: c.Network, shmSize: c.ShmSize, pull: c.Pull, load: c.Load, contextSync: c.ContextSync,
	}
}

// Load reports whether the image also goes into the agent's Docker engine
// (never for a call other than build, which exports nothing).
func (r Request) Load() bool { return r.load && r.Call() == "build" }

// Call is what the frontend is asked for: build, check, outline or targets
// (anything but build exports nothing; run it with Call, not Solve).
func (r Request) Call() string {
	if r.call == "" {
		return "build"
	}
	return r.call
}

// IndexAnnotations are the annotations for the image index, key → value
// (index: entries): for the index a split build assembles itself.
func (r Request) IndexAnnotations() map[string]string {
	var out map[string]string
	for k, v := range r.annotations {
		if key, ok := strings.CutPrefix(k, "annotation-index."); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[key] = v
		}
	}
	return out
}

// WithLoader is the same build with fn receiving the docker exporter's
// tarball when Load is true (fn gets the exporter's response attributes and
// returns where the image tarball is written, e.g. `docker load`'s stdin).
func (r Request) WithLoader(fn func(map[string]string) (io.WriteCloser, error)) Request {
	r.loader = fn
	return r
}

// Tags are the image references the build writes.
func (r Request) Tags() []string { return slices.Clone(r.tags) }

// Platforms are the platforms built ("" = the daemon's own).
func (r Request) Platforms() []string { return slices.Clone(r.platforms) }

// Push reports whether the tags are pushed.
func (r Request) Push() bool { return r.push }

// Outputs are the extra exporters.
func (r Request) Outputs() []config.Attrs { return cloneAttrs(r.outputs) }

// Pushes lists every reference the build pushes: the tags with push, and
// image outputs with push=true (none for a call other than build).
func (r Request) Pushes() []string {
	if r.Call() != "build" {
		return nil
	}
	var out []string
	if r.push {
		out = append(out, r.tags...)
	}
	for _, o := range r.outputs {
		if o.Type == "image" && o.Attrs["push"] == "true" {
			out = append(out, strings.Split(o.Attrs["name"], ",")...)
		}
	}
	return out
}

// ForPlatforms is the same build restricted to some platforms.
func (r Request) ForPlatforms(platforms []string) Request {
	r.platforms = slices.Clone(platforms)
	return r
}

// PushByDigest is the same build pushed to repo by digest, untagged, as one
// node's part of a split build: no tags, no other outputs, no load, and each
// platform set gets its own registry cache ref (ref:tag → ref:tag-linux-arm64)
// so nodes don't overwrite each other's cache.
func (r Request) PushByDigest(repo string) Request {
	r.tags = nil
	r.load = false // load is single-platform only: never a split build
	// The index is assembled after the parts (IndexAnnotations is its
	// share); a part's own export would refuse index annotations.
	r.annotations = maps.Clone(r.annotations)
	maps.DeleteFunc(r.annotations, func(k, _ string) bool { return config.IsIndexAnnotation(k) })
	r.outputs = []config.Attrs{{Type: "image", Attrs: map[string]string{"name": repo, "push": "true", "push-by-digest": "true"}}}
	r.cacheFrom = perPlatformCache(r.cacheFrom, r.platforms)
	r.cacheTo = perPlatformCache(r.cacheTo, r.platforms)
	return r
}

// perPlatformCache suffixes registry cache refs with the platforms.
func perPlatformCache(entries []config.Attrs, platforms []string) []config.Attrs {
	suffix := strings.NewReplacer("/", "-").Replace(strings.Join(platforms, "_"))
	out := cloneAttrs(entries)
	for _, e := range out {
		ref := e.Attrs["ref"]
		if ref == "" || e.Type != "registry" {
			continue
		}
		if named, err := reference.ParseNormalizedNamed(ref); err == nil {
			tag := "latest"
			if t, ok := named.(reference.Tagged); ok {
				tag = t.Tag()
			}
			e.Attrs["ref"] = reference.TrimNamed(named).String() + ":" + tag + "-" + suffix
		}
	}
	return out
}

func cloneAttrs(in []config.Attrs) []config.Attrs {
	if in == nil {
		return nil
	}
	out := make([]config.Attrs, len(in))
	for i, a := range in {
		out[i] = config.Attrs{Type: a.Type, Attrs: maps.Clone(a.Attrs)}
	}
	return out
}
