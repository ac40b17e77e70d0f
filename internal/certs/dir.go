package certs

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The files of a tls-dir, the layout `buildctl --tlsdir` also reads.
const (
	CAFile   = "ca.pem"
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// FileNames are the CA, certificate and key file names, in that order.
var FileNames = [3]string{CAFile, CertFile, KeyFile}

// Dir is what a tls-dir holds: the one place the three files of a
// certificate set are looked at (the TLS decision, the dial, the
// environment hook's check and diagnose all come here).
type Dir struct {
	Path  string
	Paths [3]string // CA, certificate, key
	Has   [3]bool   // which of them are regular files
	Modes [3]fs.FileMode
}

// CA, Cert and Key are the files' paths.
func (d Dir) CA() string   { return d.Paths[0] }
func (d Dir) Cert() string { return d.Paths[1] }
func (d Dir) Key() string  { return d.Paths[2] }

// Empty reports whether none of the three files is there.
func (d Dir) Empty() bool { return !d.Has[0] && !d.Has[1] && !d.Has[2] }

// Missing names the files of want (indexes into FileNames) that are not there.
func (d Dir) Missing(want ...int) []string {
	var out []string
	for _, i := range want {
		if !d.Has[i] {
			out = append(out, FileNames[i])
		}
	}
	return out
}

// KeyReadableByOthers reports the key's mode when users other than its
// owner can read it.
func (d Dir) KeyReadableByOthers() (fs.FileMode, bool) {
	return d.Modes[2], d.Has[2] && d.Modes[2]&0o077 != 0
}

// StatDir looks at the three files of dir without reading them. A tls-dir
// or a file in it that other users can write is refused: whoever can
// replace the CA or the key can read every session this client opens.
func StatDir(dir string) (Dir, error) {
	d := Dir{Path: dir}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		if err := notWritableByOthers(dir, fi, "tls-dir"); err != nil {
			return d, err
		}
	}
	for i, name := range FileNames {
		d.Paths[i] = filepath.Join(dir, name)
		fi, err := os.Stat(d.Paths[i])
		if err != nil || fi.IsDir() {
			continue
		}
		if err := notWritableByOthers(d.Paths[i], fi, "the file"); err != nil {
			return d, err
		}
		d.Has[i], d.Modes[i] = true, fi.Mode().Perm()
	}
	return d, nil
}

func notWritableByOthers(p string, fi fs.FileInfo, what string) error {
	if fi.Mode().Perm()&0o022 == 0 {
		return nil
	}
	mode := "600"
	if fi.IsDir() {
		mode = "700"
	}
	return fmt.Errorf("%s %s is writable by other users (mode %04o), so its certificates cannot be trusted: run chmod go-w %s (or chmod %s)", what, p, fi.Mode().Perm(), p, mode)
}

// ReadDir reads the set in dir under its shared lock (skipped for a
// read-only dir): every file that is there; ok is false when the CA is not.
func ReadDir(ctx context.Context, dir string) (d Dir, s Set, ok bool, err error) {
	if d, err = StatDir(dir); err != nil || !d.Has[0] {
		return d, s, false, err
	}
	if unlock, lerr := RLock(ctx, dir); lerr == nil {
		defer unlock()
	}
	for i, dst := range []*[]byte{&s.CA, &s.Cert, &s.Key} {
		if !d.Has[i] {
			continue
		}
		if *dst, err = os.ReadFile(d.Paths[i]); err != nil {
			return d, Set{}, false, fmt.Errorf("read %s: %w", d.Paths[i], err)
		}
	}
	return d, s, true, nil
}
