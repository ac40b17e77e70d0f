package dockerload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

// fakeEngine reads the whole stream, as the engine does, and answers.
type fakeEngine struct {
	got    bytes.Buffer
	answer string
	err    error
}

func (f *fakeEngine) ImageLoad(_ context.Context, r io.Reader, _ ...client.ImageLoadOption) (client.ImageLoadResult, error) {
	if f.err != nil {
		return nil, f.err
	}
	if _, err := io.Copy(&f.got, r); err != nil {
		return nil, err
	}
	return io.NopCloser(strings.NewReader(f.answer)), nil
}

func TestSessionStreamsTheExport(t *testing.T) {
	tests := []struct {
		name    string
		engine  *fakeEngine
		wantErr string
	}{
		{"loaded", &fakeEngine{answer: `{"stream":"Loaded image: r/app:1\n"}`}, ""},
		{"engine refuses", &fakeEngine{answer: `{"stream":"x"}{"errorDetail":{"message":"invalid tar header"},"error":"invalid tar header"}`}, "refused the image: invalid tar header"},
		{"engine unreachable mid-way", &fakeEngine{err: errors.New("connection refused")}, "load into the Docker engine: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(context.Background(), tt.engine)
			w, err := s.Output(nil)
			if err != nil {
				t.Fatal(err)
			}
			_, werr := w.Write([]byte("tar bytes"))
			w.Close()
			err = s.Wait()
			if tt.wantErr == "" {
				if err != nil || werr != nil || tt.engine.got.String() != "tar bytes" {
					t.Fatalf("Wait() = %v, write %v, engine got %q", err, werr, tt.engine.got.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Wait() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if err := New(context.Background(), &fakeEngine{}).Wait(); err != nil {
		t.Errorf("Wait() without an export = %v, want nil", err)
	}
}

func TestConnectNamesDockerHost(t *testing.T) {
	_, err := Connect(context.Background(), "unix:///nonexistent/docker.sock")
	if err == nil || !strings.Contains(err.Error(), "unix:///nonexistent/docker.sock") || !strings.Contains(err.Error(), "DOCKER_HOST") {
		t.Errorf("Connect() = %v, want an error naming the socket and DOCKER_HOST", err)
	}
}
