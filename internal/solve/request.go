package solve

import (
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextkey"
)

// Request is one image build, derived once from the configuration and never
// changed: the variants a build split across nodes needs (one node's
// platforms, a push by digest) are new Requests made by its methods, which
// replace fields of their own copy and never write into shared maps or slices.
type Request struct {
	img    config.Image // a deep copy of the configuration's
	loader func(map[string]string) (io.WriteCloser, error)
	key    *contextkey.Key // the job's context key; nil: none (real mtimes)
}

// NewRequest takes the build's options out of a validated configuration.
func NewRequest(img config.Image) Request { return Request{img: img.Clone()} }

// Load reports whether the image also goes into the agent's Docker engine
// (never for a call other than build, which exports nothing).
func (r Request) Load() bool { return r.img.Load && r.Call() == "build" }

// Call is what the frontend is asked for: build, check, outline or targets
// (anything but build exports nothing; run it with Call, not Solve).
func (r Request) Call() string {
	if r.img.Call == "" {
		return "build"
	}
	return r.img.Call
}

// IndexAnnotations are the annotations for the image index, key → value
// (index: entries): for the index a split build assembles itself.
func (r Request) IndexAnnotations() map[string]string {
	var out map[string]string
	for k, v := range r.img.Annotations {
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

// WithContextKey is the same build with the job's context key (derived once
// per job): it keys the session's shared key and the content-derived stats.
func (r Request) WithContextKey(k *contextkey.Key) Request {
	r.key = k
	return r
}

// SessionKey is the session's shared key: the daemon diffs this build's
// uploads against the last upload under it.
func (r Request) SessionKey() string { return r.key.SessionKey(r.img.ContextScope) }

// Tags are the image references the build writes.
func (r Request) Tags() []string { return slices.Clone(r.img.Tags) }

// Platforms are the platforms built ("" = the daemon's own).
func (r Request) Platforms() []string { return slices.Clone(r.img.Platforms) }

// Push reports whether the tags are pushed.
func (r Request) Push() bool { return r.img.Push }

// Outputs are the extra exporters.
func (r Request) Outputs() []config.Attrs { return cloneAttrs(r.img.Outputs) }

// Pushes lists every reference the build pushes: the tags with push, and
// image outputs with push=true (none for a call other than build).
func (r Request) Pushes() []string {
	if r.Call() != "build" {
		return nil
	}
	var out []string
	if r.img.Push {
		out = append(out, r.img.Tags...)
	}
	for _, o := range r.img.Outputs {
		if o.Type == "image" && o.Attrs["push"] == "true" {
			out = append(out, strings.Split(o.Attrs["name"], ",")...)
		}
	}
	return out
}

// ForPlatforms is the same build restricted to some platforms.
func (r Request) ForPlatforms(platforms []string) Request {
	r.img.Platforms = slices.Clone(platforms)
	return r
}

// PushByDigest is the same build pushed to repo by digest, untagged, as one
// node's part of a split build: no tags, no other outputs, no load, and each
// platform set gets its own registry cache ref (ref:tag → ref:tag-linux-arm64)
// so nodes don't overwrite each other's cache.
func (r Request) PushByDigest(repo string) Request {
	r.img.Tags = nil
	r.img.Load = false // load is single-platform only: never a split build
	// The index is assembled after the parts (IndexAnnotations is its
	// share); a part's own export would refuse index annotations.
	r.img.Annotations = maps.Clone(r.img.Annotations)
	maps.DeleteFunc(r.img.Annotations, func(k, _ string) bool { return config.IsIndexAnnotation(k) })
	r.img.Outputs = []config.Attrs{{Type: "image", Attrs: map[string]string{"name": repo, "push": "true", "push-by-digest": "true"}}}
	r.img.CacheFrom = perPlatformCache(r.img.CacheFrom, r.img.Platforms)
	r.img.CacheTo = perPlatformCache(r.img.CacheTo, r.img.Platforms)
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
