package fleet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// Lookup answers registry logins (registryauth.Sources.Lookup).
type Lookup func(ctx context.Context, host string) (types.AuthConfig, error)

type keychain struct {
	ctx    context.Context
	lookup Lookup
}

// Keychain hands the build's in-memory registry logins to go-containerregistry.
func Keychain(ctx context.Context, l Lookup) authn.Keychain { return keychain{ctx, l} }

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	ac, err := k.lookup(k.ctx, config.NormalizeRegistry(r.RegistryStr()))
	if err != nil {
		return nil, err
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}), nil
}

// Part is what one node pushed by digest.
type Part struct {
	Node, Host string
	Digest     string
}

// PushIndex assembles one OCI image index from the images the nodes pushed
// by digest to repo, and pushes it under every tag. Nothing is tagged until
// every part is known. Only registries in insecure (normalised hosts, the
// insecure-registries option) and loopback ones are spoken to over plain
// HTTP; any other is HTTPS only, so a login never goes out in plaintext.
func PushIndex(ctx context.Context, kc authn.Keychain, repo string, parts []Part, tags []string, annotations map[string]string, insecure []string) (string, []solve.Manifest, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(httpsOnly(remote.DefaultTransport, insecure))}
	nameOpts := func(host string) []name.Option {
		if allowHTTP(host, insecure) {
			return []name.Option{name.Insecure}
		}
		return nil
	}
	idx := mutate.IndexMediaType(empty.Index, ggcrtypes.OCIImageIndex)
	var manifests []solve.Manifest
	for _, p := range parts {
		ref, err := name.NewDigest(repo+"@"+p.Digest, nameOpts(registryOf(repo))...)
		if err != nil {
			return "", nil, err
		}
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			return "", nil, fmt.Errorf("node %s pushed %s, but it cannot be read back: %w", p.Node, ref, err)
		}
		if desc.MediaType.IsIndex() {
			child, err := desc.ImageIndex()
			if err != nil {
				return "", nil, err
			}
			im, err := child.IndexManifest()
			if err != nil {
				return "", nil, err
			}
			for _, m := range im.Manifests {
				if m.Platform == nil || m.Platform.OS == "unknown" { // attestations stay with their node's index
					continue
				}
				img, err := child.Image(m.Digest)
				if err != nil {
					return "", nil, err
				}
				idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: m})
				manifests = append(manifests, solve.Manifest{Platform: platformString(m.Platform), Digest: m.Digest.String(), Node: p.Node, Host: p.Host})
			}
			continue
		}
		img, err := desc.Image()
		if err != nil {
			return "", nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return "", nil, err
		}
		plat := cf.Platform()
		d := desc.Descriptor
		d.Platform = plat
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: d})
		manifests = append(manifests, solve.Manifest{Platform: platformString(plat), Digest: desc.Digest.String(), Node: p.Node, Host: p.Host})
	}
	if len(annotations) > 0 { // the annotations option's index: entries
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	digest, err := idx.Digest()
	if err != nil {
		return "", nil, err
	}
	for _, t := range tags {
		tag, err := name.NewTag(t, nameOpts(registryOf(t))...)
		if err != nil {
			return "", nil, err
		}
		if err := remote.WriteIndex(tag, idx, opts...); err != nil {
			return "", nil, fmt.Errorf("push index %s: %w", tag, err)
		}
	}
	return digest.String(), manifests, nil
}

func platformString(p *v1.Platform) string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// registryOf is the normalised registry host of a reference.
func registryOf(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	return config.NormalizeRegistry(r.Context().RegistryStr())
}

// allowHTTP reports whether host (host[:port]) may be spoken to over plain
// HTTP: the user marked it insecure, or it is this machine.
func allowHTTP(host string, insecure []string) bool {
	if slices.Contains(insecure, config.NormalizeRegistry(host)) {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	return solve.LoopbackHost(strings.Trim(h, "[]"))
}

// httpsOnly refuses plain-HTTP requests to registries allowHTTP does not
// allow. go-containerregistry falls back to HTTP by itself for some hosts
// (RFC 1918 addresses, *.local) once HTTPS fails; this transport is what
// keeps the job's login off the wire there.
func httpsOnly(next http.RoundTripper, insecure []string) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Scheme == "http" && !allowHTTP(req.URL.Host, insecure) {
			return nil, fmt.Errorf("refusing plain HTTP to registry %s (HTTPS failed): fix its TLS, or add it to insecure-registries if it is on a network you trust", req.URL.Host)
		}
		return next.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
