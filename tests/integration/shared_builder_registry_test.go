package integration

// Registry logins over HTTP, on a builder shared by pipelines: the
// multi-node index push speaks plain HTTP only to registries the user
// marked insecure (or loopback ones). Against an address where HTTPS fails — a plain-HTTP listener in
// front of the stack's registry that records every request — the push
// fails with a TLS error and no request carrying the login reaches it;
// marked insecure, the same push works.

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
)

// recordingRegistry is a plain-HTTP reverse proxy to the stack's registry
// on a non-loopback address of this machine; it records what it was sent.
type recordingRegistry struct {
	Addr string
	mu   sync.Mutex
	reqs []string // "METHOD path auth=yes|no"
	auth int      // requests with an Authorization header
}

func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Fatal("this machine has no non-loopback IPv4 address to put the plain-HTTP registry on")
	return ""
}

func startRecordingRegistry(t *testing.T, upstream string) *recordingRegistry {
	t.Helper()
	l, err := net.Listen("tcp", nonLoopbackIPv4(t)+":0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingRegistry{Addr: l.Addr().String()}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		has := req.Header.Get("Authorization") != ""
		if has {
			r.auth++
		}
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path+map[bool]string{true: " auth=yes", false: " auth=no"}[has])
		r.mu.Unlock()
		req.Host = upstream
		proxy.ServeHTTP(w, req)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *recordingRegistry) seen() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.auth, append([]string(nil), r.reqs...)
}

func TestParallelSharedBuilderIndexPushHTTPSOnly(t *testing.T) {
	s := requireStack(t)
	ctx := context.Background()
	// A part as a node would push it: by digest, to the registry itself.
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	repoPath := strings.TrimPrefix(s.repo(t), s.Registry+"/")
	ref, err := name.ParseReference(s.Registry+"/"+repoPath+":part", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, s.auth()); err != nil {
		t.Fatalf("push the part: %v", err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	login := func(context.Context, string) (types.AuthConfig, error) {
		return types.AuthConfig{Username: s.User, Password: s.Pass}, nil
	}
	var kc authn.Keychain = fleet.Keychain(ctx, login)
	rec := startRecordingRegistry(t, s.Registry)
	repo := rec.Addr + "/" + repoPath
	parts := []fleet.Part{{Node: "n1", Host: "tcp://n1:1234", Digest: digest.String()}}

	_, _, err = fleet.PushIndex(ctx, kc, repo, parts, []string{repo + ":https-only"}, nil, nil)
	auth, reqs := rec.seen()
	t.Logf("not marked insecure: err=%v; the listener saw %d request(s) %v", err, len(reqs), reqs)
	if auth > 0 {
		t.Errorf("ATTACK: the plain-HTTP listener received %d request(s) with an Authorization header: %v", auth, reqs)
	}
	if err == nil {
		t.Fatal("the index push to a registry without HTTPS succeeded")
	}
	if !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		t.Errorf("want a TLS error, got %v", err)
	}

	_, _, err = fleet.PushIndex(ctx, kc, repo, parts, []string{repo + ":marked-insecure"}, nil, []string{rec.Addr})
	if err != nil {
		t.Fatalf("marked insecure: %v", err)
	}
	if d := s.descriptor(t, s.Registry+"/"+repoPath+":marked-insecure"); !d.MediaType.IsIndex() {
		t.Errorf("marked insecure: the tag is a %s, want an index", d.MediaType)
	}
}
