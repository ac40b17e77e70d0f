package job

import (
	"context"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// A bake step's files see the job's environment without its secrets
// (registry-credentials passwords, redaction patterns), except those the
// step passes with bake-env; what they reach beyond the checkout is exit 2.
func TestReadBakeStep(t *testing.T) {
	const hcl = `variable "REG_PW" { default = "none" }
variable "NPM_TOKEN" { default = "none" }
variable "TAG" { default = "none" }
target "default" { args = { P = REG_PW, N = NPM_TOKEN, T = TAG } }
`
	tests := []struct {
		name, conf string
		args       map[string]string // want
		wantErr    string            // with exit 2
	}{
		{name: "secrets hidden", conf: `{"buildkit-host": "tcp://b:1", "bake": "docker-bake.hcl", "registry-credentials": [{"registry": "r.example", "username-env": "U", "password-env": "REG_PW"}]}`,
			args: map[string]string{"P": "none", "N": "none", "T": "42"}},
		{name: "bake-env passes one", conf: `{"buildkit-host": "tcp://b:1", "bake": "docker-bake.hcl", "bake-env": ["NPM_TOKEN"]}`, // REG_PW is no credential here
			args: map[string]string{"P": "pw", "N": "npm", "T": "42"}},
		{name: "secret outside", conf: `{"buildkit-host": "tcp://b:1", "bake": "evil.hcl"}`,
			wantErr: `bake target default: secret k src /etc/hostname is outside the checkout: add allow: ["fs.read=/etc/hostname"] to the step`},
		{name: "granted", conf: `{"buildkit-host": "tcp://b:1", "bake": "evil.hcl", "allow": ["fs.read=/etc/hostname"]}`},
		// The step's set is the step's own, as docker buildx bake --set is
		// the caller's: the paths it names are granted.
		{name: "set by the step", conf: `{"buildkit-host": "tcp://b:1", "bake": "docker-bake.hcl", "set": ["*.secret=id=k,src=/etc/hostname"]}`,
			args: map[string]string{"P": "pw", "N": "none", "T": "42"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := stepDeps(t, tt.conf, map[string]string{"docker-bake.hcl": hcl, "evil.hcl": `target "default" { secret = ["id=k,src=/etc/hostname"] }`})
			d.Environ = func() []string { return []string{"REG_PW=pw", "U=u", "NPM_TOKEN=npm", "TAG=42"} }
			env := d.Env
			d.Env = func(k string) (string, bool) {
				if k == "U" || k == "REG_PW" {
					return k, true
				}
				return env(k)
			}
			step, err := ReadStep(context.Background(), d)
			if tt.wantErr != "" {
				if exitcode.Of(err) != exitcode.BadConfig || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadStep() = %v, want exit 2 with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.args {
				if got := step.Images[0].opts.BuildArgs[k]; got != v {
					t.Errorf("build arg %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
