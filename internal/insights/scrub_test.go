package insights

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"strings"
	"testing"

	controlapi "github.com/moby/buildkit/api/services/control"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// bundleOf is a .dockerbuild-shaped archive (a gzipped tar) of files.
func bundleOf(t *testing.T, files ...[]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	gz := gzip.NewWriter(&out)
	tw := tar.NewWriter(gz)
	for i, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + strings.Repeat("a", i+1), Mode: 0o644, Size: int64(len(f))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f)
	}
	tw.Close()
	gz.Close()
	return out.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	gz := gzip.NewWriter(&out)
	gz.Write(b)
	gz.Close()
	return out.Bytes()
}

func TestFindInBundle(t *testing.T) {
	find := func(b []byte) string {
		if bytes.Contains(b, []byte("s3cr3t")) {
			return "NPM_TOKEN"
		}
		return ""
	}
	clean := []byte(`{"FrontendAttrs":{"build-arg:GREETING":"hi"}}`)
	b64 := base64.StdEncoding.EncodeToString([]byte("\x0a\x10/bin/sh -c echo s3cr3t"))
	for _, tt := range []struct {
		name    string
		files   [][]byte
		want    string
		wantErr bool
	}{
		{"clean", [][]byte{clean, []byte("a log line\n")}, "", false},
		{"plain in the log", [][]byte{clean, []byte("\x00\x01#5 RUN echo s3cr3t\n")}, "NPM_TOKEN", false},
		{"base64 in JSON (error details)", [][]byte{[]byte(`{"details":[{"value":"` + b64 + `"}]}`)}, "NPM_TOKEN", false},
		{"inside a gzipped blob", [][]byte{clean, gzipped([]byte("trace s3cr3t"))}, "NPM_TOKEN", false},
		{"zstd: can't check", [][]byte{{0x28, 0xb5, 0x2f, 0xfd, 0, 0}}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindInBundle(bundleOf(t, tt.files...), find)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("FindInBundle = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := FindInBundle([]byte("not gzip"), find); err == nil {
		t.Error("a bundle that is not gzip must be an error")
	}
}

func TestScrubRecord(t *testing.T) {
	detail, _ := anypb.New(&controlapi.Exporter{Type: "s3cr3t"})
	rec := &controlapi.BuildHistoryRecord{
		FrontendAttrs:    map[string]string{"build-arg:NPM_TOKEN": "s3cr3t", "build-arg:GREETING": "hi"},
		Exporters:        []*controlapi.Exporter{{Type: "image", Attrs: map[string]string{"name": "r/s3cr3t"}}},
		ExporterResponse: map[string]string{"k": "s3cr3t"},
		Error:            &spb.Status{Message: `process "/bin/sh -c echo s3cr3t" failed`, Details: []*anypb.Any{detail}},
	}
	scrubRecord(rec, func(s string) string { return strings.ReplaceAll(s, "s3cr3t", "[REDACTED]") })
	if rec.FrontendAttrs["build-arg:NPM_TOKEN"] != "[REDACTED]" || rec.FrontendAttrs["build-arg:GREETING"] != "hi" ||
		rec.Exporters[0].Attrs["name"] != "r/[REDACTED]" || rec.ExporterResponse["k"] != "[REDACTED]" ||
		rec.Error.Message != `process "/bin/sh -c echo [REDACTED]" failed` || rec.Error.Details != nil {
		t.Errorf("scrubbed record: %v", rec)
	}
}
