package pki

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// InitOptions are the inputs of Init.
type InitOptions struct {
	Out         string   // the directory to create
	ServerNames []string // DNS names of the daemon (server certificate SANs)
	IPs         []string // IP addresses of the daemon (SANs)
	CAValidity  time.Duration
	Validity    time.Duration // of the server and client certificates
}

// SANs are the subject alternative names of a server certificate.
type SANs struct {
	DNS []string
	IPs []net.IP
}

func (s SANs) String() string {
	names := append([]string{}, s.DNS...)
	for _, ip := range s.IPs {
		names = append(names, ip.String())
	}
	return strings.Join(names, ", ")
}

// ParseSANs checks the --server-name and --ip values.
func ParseSANs(names, ips []string) (SANs, error) {
	var s SANs
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			s.IPs = append(s.IPs, ip)
			continue
		}
		if n == "" || strings.ContainsAny(n, ":/ ") {
			return s, usageError("--server-name %q is not a host name: give the name agents connect to (the host of buildkit-host, or tls-server-name), e.g. --server-name buildkit.internal", n)
		}
		s.DNS = append(s.DNS, n)
	}
	for _, v := range ips {
		ip := net.ParseIP(v)
		if ip == nil {
			return s, usageError("--ip %q is not an IP address: give the daemon's address, e.g. --ip 10.0.1.20", v)
		}
		s.IPs = append(s.IPs, ip)
	}
	if len(s.DNS)+len(s.IPs) == 0 {
		return s, usageError("--server-name is required: give the name agents connect to (the host of buildkit-host, or tls-server-name), e.g. --server-name buildkit.internal (and --ip for an address)")
	}
	return s, nil
}

func checkValidity(caValidity, validity time.Duration) error {
	if caValidity <= 0 {
		return usageError("--ca-days must be a positive number of days (default %d)", int(DefaultCAValidity.Hours()/24))
	}
	if validity <= 0 {
		return usageError("--days must be a positive number of days (default %d)", int(DefaultValidity.Hours()/24))
	}
	return nil
}

// Init creates a CA, a server and a client certificate in a new directory
// o.Out. It writes into a temporary directory beside o.Out and renames it
// into place, so an error leaves nothing behind.
func Init(o InitOptions, now func() time.Time, out io.Writer) error {
	sans, err := ParseSANs(o.ServerNames, o.IPs)
	if err != nil {
		return err
	}
	if err := checkValidity(o.CAValidity, o.Validity); err != nil {
		return err
	}
	if o.Out == "" {
		return usageError("--out is required: the directory to create, e.g. --out ./buildkit-certs")
	}
	if err := checkFresh(o.Out); err != nil {
		return err
	}
	parent := filepath.Dir(filepath.Clean(o.Out))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return usageError("--out %s: %v", o.Out, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(o.Out)+".tmp-*")
	if err != nil {
		return usageError("--out %s: %v", o.Out, err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; cleans up on error
	t := now()
	ca, caKey, err := NewCA(t, o.CAValidity)
	if err != nil {
		return err
	}
	server, err := ca.Issue(ServerAuth, sans.first(), sans.DNS, sans.IPs, t, o.Validity)
	if err != nil {
		return err
	}
	client, err := ca.Issue(ClientAuth, "remote-buildkit client "+t.UTC().Format(time.DateOnly), nil, nil, t, o.Validity)
	if err != nil {
		return err
	}
	l := Layout(tmp)
	for _, set := range []string{CADir, DaemonDir, ClientDir} {
		if err := os.Mkdir(filepath.Join(tmp, set), 0o700); err != nil {
			return err
		}
	}
	err = writeFiles([]file{
		{l.Path(CADir, CAFile), ca.PEM}, {l.Path(CADir, CAKeyFile), caKey},
		{l.Path(DaemonDir, CAFile), ca.PEM}, {l.Path(DaemonDir, ServerFile), server.Cert}, {l.Path(DaemonDir, ServerKey), server.Key},
		{l.Path(ClientDir, CAFile), ca.PEM}, {l.Path(ClientDir, ClientCert), client.Cert}, {l.Path(ClientDir, ClientKey), client.Key},
	})
	if err == nil {
		err = os.Chmod(tmp, 0o700)
	}
	if err == nil {
		os.Remove(o.Out) // an empty directory (checkFresh): os.Rename does not replace one
		err = os.Rename(tmp, o.Out)
	}
	if err != nil {
		return usageError("--out %s: %v (nothing was written)", o.Out, err)
	}
	d := o.Out
	fmt.Fprintf(out, "wrote %s: CA valid until %s; server certificate for %s and client certificate valid until %s\n",
		d, ca.Cert.NotAfter.UTC().Format(time.DateOnly), sans, server.NotAfter.UTC().Format(time.DateOnly))
	fmt.Fprintf(out, "  %s: for the daemon (buildkitd --tlscacert ca.pem --tlscert server.pem --tlskey server-key.pem; see remote-buildkit builder-config)\n", filepath.Join(d, DaemonDir))
	fmt.Fprintf(out, "  %s: for the agents (remote-buildkit certs upload --dir %s --bucket <secrets-bucket>)\n", filepath.Join(d, ClientDir), d)
	fmt.Fprintf(out, "  %s: the CA and its key: keep %s offline (it signs new certificates; certs rotate needs it)\n", filepath.Join(d, CADir), filepath.Join(d, CADir))
	return nil
}

func (s SANs) first() string {
	if len(s.DNS) > 0 {
		return s.DNS[0]
	}
	return s.IPs[0].String()
}
