package fleet

// A pool discovered from DNS: buildkit-host dns://NAME:PORT stands for every
// A/AAAA record of NAME (an Auto Scaling group registered in Route 53 or
// Cloud Map, a Kubernetes headless Service), resolved once per job.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// ParseDNS splits dns://NAME:PORT; ok is false for any other form (another
// scheme, no port, a path, a user or a query).
func ParseDNS(addr string) (name string, port string, ok bool) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != "dns" || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", false
	}
	name, port = u.Hostname(), u.Port()
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || !validName(name) {
		return "", "", false
	}
	return name, port, true
}

// validName accepts a DNS name (letters, digits, '-', '_' and dots, an
// optional trailing dot) of at most 253 characters.
func validName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// Resolver returns the resolver for server ("host:port"; "" = the system's
// resolver). With a server, Go's own resolver sends every query there.
func Resolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}

// Resolve looks up every A and AAAA record of name and returns the members'
// addresses tcp://IP:PORT, sorted by IP and without duplicates. No record is
// an error naming the name.
func Resolve(ctx context.Context, name, port string, server string) ([]string, error) {
	via := ""
	if server != "" {
		via = " (DNS server " + server + ")"
	}
	ips, err := Resolver(server).LookupIPAddr(ctx, name)
	if de, ok := err.(*net.DNSError); ok && server != "" {
		// Go names the server of resolv.conf it meant to ask; the Dial above sent the query to server.
		named := *de
		named.Server = server
		err = &named
	}
	if err != nil {
		return nil, fmt.Errorf("dns://%s:%s: resolve %s: %w", name, port, name, err)
	}
	var addrs []netip.Addr
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip.IP); ok {
			addrs = append(addrs, a.Unmap())
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("dns://%s:%s: %s has no A or AAAA records%s", name, port, name, via)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = "tcp://" + net.JoinHostPort(a.String(), port)
	}
	return out, nil
}

// Members turns resolved addresses into pool members with base's settings:
// Host tcp://IP:PORT, Name IP:PORT (the rendezvous key, so a member keeps its
// pipelines while others come and go), and TLSServerName name unless base
// sets one (the daemons' certificate is issued for the DNS name).
func Members(name string, addrs []string, base config.Node) []config.Node {
	out := make([]config.Node, 0, len(addrs))
	for _, a := range addrs {
		n := base
		n.Platforms = slices.Clone(base.Platforms)
		n.Host = a
		n.Name = strings.TrimPrefix(a, "tcp://")
		if n.TLSServerName == "" {
			n.TLSServerName = strings.TrimSuffix(name, ".")
		}
		out = append(out, n)
	}
	return out
}

// ResolveFunc looks up a dns:// daemon's members (Resolve; tests fake it).
type ResolveFunc func(ctx context.Context, name, port, server string) ([]string, error)

// DNSError is a dns:// daemon whose name did not resolve.
type DNSError struct {
	Name string
	Err  error
}

func (e *DNSError) Error() string { return e.Err.Error() }
func (e *DNSError) Unwrap() error { return e.Err }

// Expansion is what one dns://NAME:PORT daemon resolved to.
type Expansion struct {
	Host  string   // the dns:// address as configured
	Addrs []string // its members, tcp://IP:PORT
}

// Expand replaces every dns://NAME:PORT daemon of nodes by its members (one
// per A/AAAA record, through server; resolve nil = Resolve) and says what
// each resolved to; the first name that fails to resolve is the error.
// nodes is not changed. The build (once per job) and diagnose expand the
// same way.
func Expand(ctx context.Context, nodes []config.Node, server string, resolve ResolveFunc) ([]config.Node, []Expansion, error) {
	if resolve == nil {
		resolve = Resolve
	}
	var out []config.Node
	var found []Expansion
	for _, n := range nodes {
		name, port, ok := ParseDNS(n.Host)
		if !ok {
			out = append(out, n)
			continue
		}
		addrs, err := resolve(ctx, name, port, server)
		if err != nil {
			return nil, nil, &DNSError{Name: name, Err: err}
		}
		out = append(out, Members(name, addrs, n)...)
		found = append(found, Expansion{Host: n.Host, Addrs: addrs})
	}
	return out, found, nil
}
