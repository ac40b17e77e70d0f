package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
)

// File names inside the directory Init writes.
const (
	CADir        = "ca"
	DaemonDir    = "daemon"
	ClientDir    = "client"
	CAFile       = "ca.pem"     // in every set: the CA (a bundle during a CA rotation)
	CAKeyFile    = "ca-key.pem" // in ca/
	OldCAFile    = "old-ca.pem" // in ca/: the CA a rotation replaced
	OldCAKeyFile = "old-ca-key.pem"
	ServerFile   = "server.pem" // in daemon/
	ServerKey    = "server-key.pem"
	ClientCert   = "cert.pem" // in client/, the names the environment hook installs
	ClientKey    = "key.pem"
)

// Layout is the directory Init writes and the others read.
type Layout string

// Path joins the layout's directory with a set and file name.
func (l Layout) Path(set, name string) string { return filepath.Join(string(l), set, name) }

// file is one file to write (0600) and its content.
type file struct {
	path string
	data []byte
}

// writeFiles writes every file (0600) beside its path, then renames them
// all into place: an error while writing changes nothing.
func writeFiles(files []file) error {
	var set atomicfile.Set
	defer set.Discard()
	for _, f := range files {
		if err := set.Add(f.path, f.data, 0o600); err != nil {
			return fmt.Errorf("%w (nothing was changed)", err)
		}
	}
	return set.Commit()
}

// readFile reads a file of the layout, naming it and the fix on error.
func readFile(path, fix string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, certsError("%s does not exist: %s", path, fix)
	}
	if err != nil {
		return nil, certsError("cannot read %s: %s: %s", path, reason(err), fix)
	}
	return b, nil
}

// checkFresh refuses an output directory that exists and is not empty.
func checkFresh(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return usageError("--out %s: %v", dir, err)
	}
	if !fi.IsDir() {
		return usageError("--out %s exists and is not a directory: pick a new directory for the certificates", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return usageError("--out %s: %v", dir, err)
	}
	if len(entries) > 0 {
		return usageError("--out %s already exists and is not empty: refusing to overwrite certificates; pick a new directory (or rotate with remote-buildkit certs rotate --dir %s)", dir, dir)
	}
	return nil
}
