package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
)

// connection reads the daemons, their TLS options and the timeouts.
func (v *validator) connection(r *raw, c *Config) {
	top := Node{TLSServerName: r.TLSServerName} // the top-level options: every node's defaults
	if r.TLSDir != nil {
		top.TLSDir, top.TLSDirSet = v.abs(expandHome(*r.TLSDir, v.env)), true
	} else if home := v.env.Get("HOME"); home != "" {
		top.TLSDir = filepath.Join(home, DefaultTLSDirName)
	}
	c.TLSDir = top.TLSDir
	v.daemons(r, c, top)
	if r.ConnectTimeout != nil {
		c.ConnectTimeout = time.Duration(*r.ConnectTimeout)
		if c.ConnectTimeout <= 0 {
			v.addf("connect-timeout", "must be more than 0 (e.g. \"20s\"); leave it out for the default %s", DefaultConnectTimeout)
		}
	}
	c.MaxLoadFactor = DefaultMaxLoadFactor
	if r.MaxLoadFactor != nil {
		c.MaxLoadFactor = *r.MaxLoadFactor // more than 1, checked by the schema
	}
	if r.DNSServer != "" {
		if err := checkDNSServer(r.DNSServer); err != nil {
			v.addf("dns-server", "%v", err)
		}
		c.DNSServer = r.DNSServer
	}
	c.Retries = DefaultRetries
	if r.Retries != nil {
		c.Retries = *r.Retries // 0–10, checked by the schema
	}
	if r.Timeout != nil {
		c.Timeout = time.Duration(*r.Timeout)
		if c.Timeout <= 0 {
			v.addf("timeout", "must be more than 0 (e.g. \"30m\"); leave it out for no limit")
		}
	}
}

// daemons reads buildkit-host (one address or a pool) and nodes; top holds
// the top-level TLS options. c.Nodes is never left empty.
func (v *validator) daemons(r *raw, c *Config, top Node) {
	defer func() {
		if len(c.Nodes) == 0 {
			c.Nodes = []Node{top}
		}
	}()
	var hosts []string
	switch {
	case r.BuildkitHost != nil:
		hosts = *r.BuildkitHost
	case v.env.Get("BUILDKIT_HOST") != "" && len(r.Nodes) == 0:
		hosts = splitList(v.env.Get("BUILDKIT_HOST"))
	}
	if len(r.Nodes) > 0 && r.BuildkitHost != nil {
		v.addf("nodes", "give either buildkit-host or nodes, not both: list every daemon under nodes")
		return
	}
	c.Nodes = append(v.hostNodes(hosts, top), v.nodes(r.Nodes, top)...)
	if len(c.Nodes) == 0 && v.files && len(hosts) == 0 && len(r.Nodes) == 0 {
		v.addf("buildkit-host", "not set: set the buildkit-host option or BUILDKIT_HOST (e.g. tcp://buildkitd.internal:1234)")
	}
}

// hostNodes makes a node of each buildkit-host address, with the top-level
// options.
func (v *validator) hostNodes(hosts []string, top Node) []Node {
	var out []Node
	seen := map[string]string{}
	for i, h := range hosts {
		key := "buildkit-host"
		if len(hosts) > 1 {
			key = fmt.Sprintf("buildkit-host[%d]", i)
		}
		if err := checkHost(h); err != nil {
			v.addf(key, "%v", err)
			continue
		}
		if seen[h] != "" {
			v.addf(key, "%s is listed twice", h)
			continue
		}
		seen[h] = key
		n := top
		n.Name, n.Host = h, h
		out = append(out, n)
	}
	return out
}

// nodes reads the nodes option; top holds the defaults of their options.
func (v *validator) nodes(list []rawNode, top Node) []Node {
	var out []Node
	names := map[string]bool{}
	for i, n := range list {
		k := fmt.Sprintf("nodes[%d]", i)
		if err := checkHost(n.Host); err != nil {
			v.addf(k+".host", "%v", err)
			continue
		}
		node := Node{Name: orDefault(n.Name, n.Host), Host: n.Host, TLSDir: top.TLSDir, TLSDirSet: top.TLSDirSet, TLSServerName: orDefault(n.TLSServerName, top.TLSServerName)}
		if names[node.Name] {
			v.addf(k+".name", "node name %q is used twice: give each node its own name", node.Name)
			continue
		}
		names[node.Name] = true
		node.Platforms = v.nodePlatforms(k, n.Platforms)
		if n.SecretsPrefix != nil {
			node.SecretsPrefix = strings.Trim(*n.SecretsPrefix, "/")
			if n.TLSDir == nil {
				// Each node's certificates get a directory of their own.
				node.TLSDir = filepath.Join(top.TLSDir, "nodes", SafeFileName(node.Name))
			}
		}
		if n.TLSDir != nil {
			node.TLSDir, node.TLSDirSet = v.abs(expandHome(*n.TLSDir, v.env)), true
		}
		out = append(out, node)
	}
	return out
}

// nodePlatforms normalises the platforms declared for the node at key k.
func (v *validator) nodePlatforms(k string, list stringList) []string {
	return v.normalize(k+".platforms", list, func(p string) (string, error) {
		spec, err := platforms.Parse(p)
		if err != nil || !knownOS[spec.OS] || !knownArch[spec.Architecture] {
			return "", fmt.Errorf("%q is not a known platform (want os/arch, e.g. linux/arm64)", p)
		}
		return platforms.Format(spec), nil
	})
}

// SafeFileName turns a name (a node's, a bake target's) into a file or
// directory name: letters, digits, dot, dash and underscore are kept, any
// other character becomes an underscore.
func SafeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func checkHost(host string) error {
	u, err := url.Parse(host)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("%q is not an address: want tcp://host:port, unix:///path, dns://name:port, docker-container://name, kube-pod://name or ssh://user@host", host)
	}
	switch u.Scheme {
	case "tcp":
		if u.Host == "" || u.Port() == "" {
			return fmt.Errorf("%q needs a host and port: want tcp://host:1234", host)
		}
	case "unix":
		if u.Path == "" {
			return fmt.Errorf("%q needs a socket path: want unix:///run/buildkit/buildkitd.sock", host)
		}
	case "dns":
		return checkDNSHost(host, u)
	case "docker-container", "podman-container", "nerdctl-container", "kube-pod", "ssh":
	default:
		return fmt.Errorf("unsupported scheme %q in %q: use tcp, unix, dns, docker-container, podman-container, nerdctl-container, kube-pod or ssh", u.Scheme, host)
	}
	return nil
}

// checkDNSHost checks dns://NAME:PORT, a pool of every address NAME
// resolves to: a DNS name and a port, nothing else.
func checkDNSHost(host string, u *url.URL) error {
	if u.User != nil || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: a dns:// address is only a name and a port: want dns://builders.internal:1234", host)
	}
	name := strings.TrimSuffix(u.Hostname(), ".")
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q needs a name and port: want dns://builders.internal:1234", host)
	}
	if !dnsName().MatchString(name) || len(name) > 253 || net.ParseIP(name) != nil {
		return fmt.Errorf("%q: %q is not a DNS name (letters, digits, - and _ in dot-separated labels): for one daemon by IP use tcp://", host, u.Hostname())
	}
	return nil
}

// dnsName is a DNS name: labels of letters, digits, '-' and '_', not
// starting or ending with '-', at most 63 characters each.
var dnsName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$`)
})

// checkDNSServer checks dns-server's host:port.
func checkDNSServer(s string) error {
	host, port, err := net.SplitHostPort(s)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not host:port: want the DNS server's address and port, e.g. 127.0.0.1:5353", s)
	}
	return nil
}
