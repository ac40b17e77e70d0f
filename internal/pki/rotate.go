package pki

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/certs"
)

// RotateOptions are the inputs of Rotate.
type RotateOptions struct {
	Dir        string
	NewCA      bool // start a CA rotation: new CA, CA bundles, client certificate from the new CA
	Finish     bool // end it: server certificate from the new CA, CA files with the new CA only
	CAValidity time.Duration
	Validity   time.Duration
	Upload     *UploadOptions // upload the client set afterwards (client rotation only)
}

// Rotate issues a new client certificate from DIR/ca (default), or runs
// one step of a CA rotation (NewCA, then Finish). Files are replaced
// atomically; with o.Upload the new client set goes to the bucket.
func Rotate(ctx context.Context, o RotateOptions, api S3Putter, now func() time.Time, out io.Writer) error {
	if o.Dir == "" {
		return usageError("--dir is required: the directory remote-buildkit certs init wrote")
	}
	if o.NewCA && o.Finish {
		return usageError("--new-ca and --finish are two steps of a CA rotation: run --new-ca first, and --finish once every agent has the new client certificate")
	}
	if o.Upload != nil && (o.NewCA || o.Finish) {
		return usageError("--bucket cannot be used with --new-ca or --finish: the daemon must trust the new CA before agents get the new set; follow the printed steps and run remote-buildkit certs upload then")
	}
	if err := checkValidity(o.CAValidity, o.Validity); err != nil {
		return err
	}
	l, t := Layout(o.Dir), now()
	var err error
	switch {
	case o.NewCA:
		err = startCARotation(l, o, t, out)
	case o.Finish:
		err = finishCARotation(l, o, t, out)
	default:
		err = rotateClient(l, o, t, out)
	}
	if err != nil || o.Upload == nil {
		return err
	}
	up := *o.Upload
	up.Dir = o.Dir
	return Upload(ctx, api, up, t, out)
}

func loadCA(l Layout, t time.Time) (*Authority, error) {
	return LoadAuthority(l.Path(CADir, CAFile), l.Path(CADir, CAKeyFile), t)
}

func clientName(t time.Time) string { return "remote-buildkit client " + t.UTC().Format(time.DateOnly) }

// issueClient signs a client certificate and checks it against the client
// set's ca.pem as the agents will.
func issueClient(l Layout, ca *Authority, clientCA []byte, o RotateOptions, t time.Time, out io.Writer) (Leaf, error) {
	leaf, err := ca.Issue(ClientAuth, clientName(t), nil, nil, t, o.Validity)
	if err != nil {
		return Leaf{}, err
	}
	names := [3]string{l.Path(ClientDir, CAFile), l.Path(ClientDir, ClientCert), l.Path(ClientDir, ClientKey)}
	if _, err := certs.Verify(certs.Set{CA: clientCA, Cert: leaf.Cert, Key: leaf.Key}, names, t); err != nil {
		return Leaf{}, certsError("%v (nothing was changed)", err)
	}
	if leaf.Clamped {
		fmt.Fprintf(out, "WARNING: the CA %s expires on %s, so the new certificate does too: rotate the CA soon (remote-buildkit certs rotate --new-ca)\n",
			l.Path(CADir, CAFile), leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	return leaf, nil
}

func rotateClient(l Layout, o RotateOptions, t time.Time, out io.Writer) error {
	ca, err := loadCA(l, t)
	if err != nil {
		return err
	}
	clientCA, err := readFile(l.Path(ClientDir, CAFile), "point --dir at a directory made by remote-buildkit certs init")
	if err != nil {
		return err
	}
	leaf, err := issueClient(l, ca, clientCA, o, t, out)
	if err != nil {
		return err
	}
	if err := writeFiles([]file{{l.Path(ClientDir, ClientCert), leaf.Cert}, {l.Path(ClientDir, ClientKey), leaf.Key}}); err != nil {
		return certsError("%v", err)
	}
	fmt.Fprintf(out, "new client certificate %s and key in %s, signed by %s, valid until %s\n",
		clientName(t), l.Path(ClientDir, ""), l.Path(CADir, CAFile), leaf.NotAfter.UTC().Format(time.DateOnly))
	if o.Upload == nil {
		fmt.Fprintf(out, "upload it: remote-buildkit certs upload --dir %s --bucket <secrets-bucket>; agents pick it up on their next job (the old certificate works until it expires: BuildKit has no revocation)\n", l)
	}
	return nil
}

// checkRotation fails unless a CA rotation is under way (want) or is not:
// during one, DIR/daemon/ca.pem is a bundle of the old and the new CA.
func checkRotation(l Layout, want bool) error {
	b, err := readFile(l.Path(DaemonDir, CAFile), "point --dir at a directory made by remote-buildkit certs init")
	if err != nil {
		return err
	}
	cas, err := ParseCerts(b)
	switch {
	case err != nil || len(cas) == 0:
		return certsError("%s does not hold a PEM CA certificate: restore it from %s", l.Path(DaemonDir, CAFile), l.Path(CADir, CAFile))
	case len(cas) > 1 && !want:
		return usageError("a CA rotation is already under way (%s holds two CAs): end it first with remote-buildkit certs rotate --dir %s --finish", l.Path(DaemonDir, CAFile), l)
	case len(cas) == 1 && want:
		return usageError("no CA rotation under way (%s holds one CA): start one with remote-buildkit certs rotate --dir %s --new-ca", l.Path(DaemonDir, CAFile), l)
	}
	return nil
}

func startCARotation(l Layout, o RotateOptions, t time.Time, out io.Writer) error {
	if err := checkRotation(l, false); err != nil {
		return err
	}
	old, err := loadCA(l, t)
	if err != nil {
		return err
	}
	oldKey, err := readFile(l.Path(CADir, CAKeyFile), "restore the CA directory from where you keep it offline")
	if err != nil {
		return err
	}
	ca, caKey, err := NewCA(t, o.CAValidity)
	if err != nil {
		return err
	}
	bundle := append(append([]byte{}, ca.PEM...), old.PEM...)
	leaf, err := issueClient(l, ca, bundle, o, t, out)
	if err != nil {
		return err
	}
	err = writeFiles([]file{
		{l.Path(CADir, OldCAFile), old.PEM}, {l.Path(CADir, OldCAKeyFile), oldKey},
		{l.Path(CADir, CAFile), ca.PEM}, {l.Path(CADir, CAKeyFile), caKey},
		{l.Path(DaemonDir, CAFile), bundle},
		{l.Path(ClientDir, CAFile), bundle}, {l.Path(ClientDir, ClientCert), leaf.Cert}, {l.Path(ClientDir, ClientKey), leaf.Key},
	})
	if err != nil {
		return certsError("%v", err)
	}
	fmt.Fprintf(out, "CA rotation started: new CA %s (valid until %s); the old one is kept as %s\n",
		l.Path(CADir, CAFile), ca.Cert.NotAfter.UTC().Format(time.DateOnly), l.Path(CADir, OldCAFile))
	fmt.Fprintf(out, "%s and %s now hold the old and the new CA; %s has a client certificate from the new CA. In this order:\n",
		l.Path(DaemonDir, CAFile), l.Path(ClientDir, CAFile), l.Path(ClientDir, ""))
	fmt.Fprintf(out, "  1. daemon: install %s (ca.pem is the bundle; the server certificate is unchanged, so agents holding only the old CA still trust it), restart buildkitd: it now accepts old and new client certificates\n", l.Path(DaemonDir, ""))
	fmt.Fprintf(out, "  2. agents: remote-buildkit certs upload --dir %s --bucket <secrets-bucket>; each agent installs the new set on its next job\n", l)
	fmt.Fprintf(out, "  3. once every agent has run a job since step 2: remote-buildkit certs rotate --dir %s --finish, then install %s on the daemon, restart it, and upload again\n", l, l.Path(DaemonDir, ""))
	return nil
}

func finishCARotation(l Layout, o RotateOptions, t time.Time, out io.Writer) error {
	if err := checkRotation(l, true); err != nil {
		return err
	}
	ca, err := loadCA(l, t)
	if err != nil {
		return err
	}
	set, names, err := readClientSet(l)
	if err != nil {
		return err
	}
	if _, err := certs.Verify(certs.Set{CA: ca.PEM, Cert: set.Cert, Key: set.Key}, names, t); err != nil {
		return certsError("%v: the client certificate is not from the new CA %s; run remote-buildkit certs rotate --dir %s and roll it out first", err, l.Path(CADir, CAFile), l)
	}
	sans, err := serverSANs(l)
	if err != nil {
		return err
	}
	server, err := ca.Issue(ServerAuth, sans.first(), sans.DNS, sans.IPs, t, o.Validity)
	if err != nil {
		return err
	}
	err = writeFiles([]file{
		{l.Path(DaemonDir, CAFile), ca.PEM}, {l.Path(DaemonDir, ServerFile), server.Cert}, {l.Path(DaemonDir, ServerKey), server.Key},
		{l.Path(ClientDir, CAFile), ca.PEM},
	})
	if err != nil {
		return certsError("%v", err)
	}
	fmt.Fprintf(out, "CA rotation finished: %s holds only the new CA, with a new server certificate for %s (valid until %s). In this order:\n",
		l.Path(DaemonDir, ""), sans, server.NotAfter.UTC().Format(time.DateOnly))
	fmt.Fprintf(out, "  1. daemon: install %s, %s and %s, restart buildkitd: it accepts only certificates from the new CA\n",
		l.Path(DaemonDir, CAFile), l.Path(DaemonDir, ServerFile), l.Path(DaemonDir, ServerKey))
	fmt.Fprintf(out, "  2. agents: remote-buildkit certs upload --dir %s --bucket <secrets-bucket> (ca.pem with the new CA only)\n", l)
	fmt.Fprintf(out, "  3. %s and %s are no longer needed: delete them or archive them offline\n", l.Path(CADir, OldCAFile), l.Path(CADir, OldCAKeyFile))
	return nil
}

// serverSANs reads the names of the current server certificate, so a new
// one is issued for the same names.
func serverSANs(l Layout) (SANs, error) {
	path := l.Path(DaemonDir, ServerFile)
	b, err := readFile(path, "point --dir at a directory made by remote-buildkit certs init")
	if err != nil {
		return SANs{}, err
	}
	cs, err := ParseCerts(b)
	if err != nil || len(cs) == 0 || len(cs[0].DNSNames)+len(cs[0].IPAddresses) == 0 {
		return SANs{}, certsError("%s is not a server certificate with subject alternative names: restore it, or start over with remote-buildkit certs init", path)
	}
	return SANs{DNS: cs[0].DNSNames, IPs: append([]net.IP{}, cs[0].IPAddresses...)}, nil
}
