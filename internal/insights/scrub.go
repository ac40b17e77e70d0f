package insights

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"

	controlapi "github.com/moby/buildkit/api/services/control"
)

// scrubRecord passes the record's own texts through scrub and drops the
// error's details.
func scrubRecord(rec *controlapi.BuildHistoryRecord, scrub func(string) string) {
	scrubMap(rec.FrontendAttrs, scrub)
	scrubMap(rec.ExporterResponse, scrub)
	for _, e := range rec.Exporters {
		scrubMap(e.Attrs, scrub)
	}
	if rec.Error != nil {
		rec.Error.Message = scrub(rec.Error.Message)
		rec.Error.Details = nil
	}
}

func scrubMap(m map[string]string, scrub func(string) string) {
	for k, v := range m {
		m[k] = scrub(v)
	}
}

// maxBundle bounds what FindInBundle decompresses.
const maxBundle = 1 << 30

// FindInBundle looks for a secret in a .dockerbuild bundle: find is run on
// every file of the archive, on each gzip member inside it, and on the
// decoding of every base64 run (JSON keeps bytes as base64), and its first
// non-empty answer is returned. A bundle that can't be read all the way
// through is an error: what can't be checked must not be published.
func FindInBundle(bundle []byte, find func([]byte) string) (string, error) {
	gz, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		return "", fmt.Errorf("build record: not a gzip archive: %w", err)
	}
	tr := tar.NewReader(io.LimitReader(gz, maxBundle))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("build record: reading the archive: %w", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return "", fmt.Errorf("build record: reading %s: %w", h.Name, err)
		}
		if name, err := findIn(b, find, 2); name != "" || err != nil {
			return name, err
		}
	}
}

// base64Run is a run of base64 long enough to hide a secret.
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{8,}={0,2}`)

// findIn runs find on b, on b decompressed when it is gzip, and on the
// base64 runs in it decoded, depth levels deep.
func findIn(b []byte, find func([]byte) string, depth int) (string, error) {
	if name := find(b); name != "" {
		return name, nil
	}
	if depth == 0 {
		return "", nil
	}
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return "", fmt.Errorf("build record: a blob looks gzipped but is not: %w", err)
		}
		inner, err := io.ReadAll(io.LimitReader(zr, maxBundle))
		if err != nil {
			return "", fmt.Errorf("build record: a gzipped blob: %w", err)
		}
		return findIn(inner, find, depth-1)
	}
	if bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return "", errors.New("build record: a blob is zstd-compressed and can't be checked for secrets")
	}
	for _, run := range base64Run.FindAll(b, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			dec, err := enc.DecodeString(string(run))
			if err != nil {
				continue
			}
			if name, err := findIn(dec, find, depth-1); name != "" || err != nil {
				return name, err
			}
			break
		}
	}
	return "", nil
}
