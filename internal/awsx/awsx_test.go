package awsx

import (
	"context"
	"path/filepath"
	"testing"
)

// An endpoint override the SDK resolves (here from the environment the SDK
// reads) makes the S3 client path-style; AWS itself stays virtual-hosted.
func TestS3PathStyleWithAnEndpointOverride(t *testing.T) {
	for _, tt := range []struct {
		name, key, val string
		want           bool
	}{
		{"AWS", "", "", false},
		{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL", "http://127.0.0.1:5000", true},
		{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
			t.Setenv("AWS_ENDPOINT_URL", "")
			t.Setenv("AWS_ENDPOINT_URL_S3", "")
			if tt.key != "" {
				t.Setenv(tt.key, tt.val)
			}
			cfg, err := Load(context.Background(), "us-east-1", "")
			if err != nil {
				t.Fatal(err)
			}
			if got := S3(cfg).Options().UsePathStyle; got != tt.want {
				t.Errorf("UsePathStyle = %v, want %v", got, tt.want)
			}
		})
	}
}
