package buildxcfg

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
)

// Schemes are the endpoint schemes buildx's remote driver dials
// (driver/remote/util: npipe is Windows-only).
var Schemes = []string{"tcp", "unix", "ssh", "docker-container", "kube-pod"}

// CheckEndpoint says whether the remote driver can reach endpoint.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || !slices.Contains(Schemes, u.Scheme) {
		return fmt.Errorf("buildx's remote driver cannot reach %s: use a tcp://, unix://, ssh://, docker-container:// or kube-pod:// daemon with buildx", endpoint)
	}
	return nil
}

// TLS is how a node is reached: file paths used where they are (nothing is
// copied), empty for no TLS; Cert and Key empty for server-only TLS.
type TLS struct {
	CA, Cert, Key, ServerName string
}

// DriverOpts are the remote driver's options for t; defaultLoad also loads
// every build without another output into the job's Docker engine, as the
// docker driver would.
func DriverOpts(t TLS, defaultLoad bool) map[string]string {
	o := map[string]string{}
	if t.CA != "" {
		o["cacert"] = t.CA
		if t.ServerName != "" {
			o["servername"] = t.ServerName
		}
		if t.Cert != "" && t.Key != "" {
			o["cert"], o["key"] = t.Cert, t.Key
		}
	}
	if defaultLoad {
		o["default-load"] = "true"
	}
	return o
}

// ClientOptions are the BuildKit client options buildx's remote driver dials
// the node with (driver/remote/driver.go): the same TLS files and server
// name, the server name defaulting to the endpoint's host.
func (n Node) ClientOptions() ([]client.ClientOpt, error) {
	ca := n.DriverOpts["cacert"]
	if ca == "" {
		return nil, nil
	}
	name := n.DriverOpts["servername"]
	if name == "" {
		u, err := url.Parse(n.Endpoint)
		if err != nil {
			return nil, err
		}
		name = u.Hostname()
	}
	opts := []client.ClientOpt{client.WithServerConfig(name, ca)}
	if n.DriverOpts["cert"] != "" {
		opts = append(opts, client.WithCredentials(n.DriverOpts["cert"], n.DriverOpts["key"]))
	}
	return opts, nil
}

// Inspect is `docker buildx inspect --bootstrap` for one node: it connects as
// the remote driver would and returns the daemon's BuildKit version and its
// workers' platforms.
func Inspect(ctx context.Context, n Node, timeout time.Duration) (version string, ps []string, err error) {
	opts, err := n.ClientOptions()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.New(ctx, n.Endpoint, opts...)
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	info, err := c.Info(ctx)
	if err != nil {
		return "", nil, err
	}
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, w := range ws {
		for _, p := range w.Platforms {
			if s := platforms.Format(p); !slices.Contains(ps, s) {
				ps = append(ps, s)
			}
		}
	}
	return info.BuildkitVersion.Version, ps, nil
}
