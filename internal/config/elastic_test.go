package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// The Elastic CI Stack options: the secrets bucket, ECR, registry credentials.
// They are read by the environment hook (ParseForEnvironment) as well as the
// command hook (Parse).

// elasticEnv is the job environment of these tests, with extra on top (an
// extra value of "-" removes the variable).
func elasticEnv(extra map[string]string) config.Env {
	m := map[string]string{
		"BUILDKIT_HOST": "tcp://buildkitd:1234",
		"HOME":          "/home/agent",
		"REG_USER":      "user",
		"REG_PASS":      "pass",
	}
	for k, v := range extra {
		if v == "-" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return envOf(m)
}

var parsers = []struct {
	name  string
	parse func([]byte, config.Env, string) (*config.Config, error)
}{
	{"Parse", config.Parse},
	{"ParseForEnvironment", config.ParseForEnvironment},
}

func TestParseElasticStackOptions(t *testing.T) {
	defaultObjects := config.Objects{CA: "ca.pem", Cert: "cert.pem", Key: "key.pem"}
	bucketEnv := map[string]string{"BUILDKITE_PLUGIN_S3_SECRETS_BUCKET": "stack-secrets", "BUILDKITE_PLUGIN_S3_SECRETS_REGION": "eu-west-1"}
	secretsBucket := func(c *config.Config) any { return c.SecretsBucket }
	secretsRegion := func(c *config.Config) any { return c.SecretsRegion }
	secretsPrefix := func(c *config.Config) any { return c.SecretsPrefix }
	secretsObjects := func(c *config.Config) any { return c.SecretsObjects }
	ecr := func(c *config.Config) any { return c.ECR }
	creds := func(c *config.Config) any { return c.RegistryCredentials }
	tests := []struct {
		name  string
		js    string
		env   map[string]string
		field func(*config.Config) any
		want  any
	}{
		// secrets-bucket and secrets-region.
		{name: "no secrets bucket anywhere", js: `{}`, field: secretsBucket, want: ""},
		{name: "secrets-bucket defaults to the stack's BUILDKITE_PLUGIN_S3_SECRETS_BUCKET", js: `{}`, env: bucketEnv, field: secretsBucket, want: "stack-secrets"},
		{name: "secrets-bucket option beats BUILDKITE_PLUGIN_S3_SECRETS_BUCKET", js: `{"secrets-bucket": "my-bucket"}`, env: bucketEnv, field: secretsBucket, want: "my-bucket"},
		{name: "secrets-bucket option without the stack's variable", js: `{"secrets-bucket": "my-bucket"}`, field: secretsBucket, want: "my-bucket"},
		{name: "no secrets region anywhere: looked up later", js: `{"secrets-bucket": "b"}`, field: secretsRegion, want: ""},
		{name: "secrets-region defaults to BUILDKITE_PLUGIN_S3_SECRETS_REGION", js: `{}`, env: bucketEnv, field: secretsRegion, want: "eu-west-1"},
		{name: "secrets-region option beats BUILDKITE_PLUGIN_S3_SECRETS_REGION", js: `{"secrets-region": "us-east-2"}`, env: bucketEnv, field: secretsRegion, want: "us-east-2"},

		// secrets-prefix and secrets-objects.
		{name: "secrets-prefix defaults to buildkit", js: `{}`, field: secretsPrefix, want: "buildkit"},
		{name: "secrets-prefix with an inner slash", js: `{"secrets-prefix": "ci/buildkit"}`, field: secretsPrefix, want: "ci/buildkit"},
		{name: "one-character secrets-prefix", js: `{"secrets-prefix": "b"}`, field: secretsPrefix, want: "b"},
		{name: "secrets-objects default to the tls-dir names", js: `{}`, field: secretsObjects, want: defaultObjects},
		{name: "secrets-objects empty object keeps the defaults", js: `{"secrets-objects": {}}`, field: secretsObjects, want: defaultObjects},
		{name: "secrets-objects override one name", js: `{"secrets-objects": {"key": "client-key.pem"}}`, field: secretsObjects,
			want: config.Objects{CA: "ca.pem", Cert: "cert.pem", Key: "client-key.pem"}},
		{name: "secrets-objects override every name", js: `{"secrets-objects": {"ca": "root.crt", "cert": "client.crt", "key": "client.key"}}`, field: secretsObjects,
			want: config.Objects{CA: "root.crt", Cert: "client.crt", Key: "client.key"}},

		// The pipeline slug (the bucket's per-pipeline prefix).
		{name: "PipelineSlug from BUILDKITE_PIPELINE_SLUG", js: `{}`, env: map[string]string{"BUILDKITE_PIPELINE_SLUG": "web-app"},
			field: func(c *config.Config) any { return c.PipelineSlug }, want: "web-app"},
		{name: "no PipelineSlug outside Buildkite", js: `{}`, field: func(c *config.Config) any { return c.PipelineSlug }, want: ""},

		// ecr.
		{name: "ecr is on by default", js: `{}`, field: ecr, want: config.ECR{Enabled: true}},
		{name: "ecr false", js: `{"ecr": false}`, field: ecr, want: config.ECR{}},
		{name: "ecr true", js: `{"ecr": true}`, field: ecr, want: config.ECR{Enabled: true}},
		{name: "ecr empty object is on", js: `{"ecr": {}}`, field: ecr, want: config.ECR{Enabled: true}},
		{name: "ecr region", js: `{"ecr": {"region": "ap-southeast-2"}}`, field: ecr, want: config.ECR{Enabled: true, Region: "ap-southeast-2"}},
		{name: "ecr account-ids as a comma-separated string", js: `{"ecr": {"account-ids": "123456789012, 210987654321"}}`, field: ecr,
			want: config.ECR{Enabled: true, AccountIDs: []string{"123456789012", "210987654321"}}},
		{name: "ecr account-ids as a list of strings", js: `{"ecr": {"account-ids": ["123456789012", "012345678901"]}}`, field: ecr,
			want: config.ECR{Enabled: true, AccountIDs: []string{"123456789012", "012345678901"}}},
		{name: "ecr account-ids as a bare integer", js: `{"ecr": {"account-ids": 123456789012}}`, field: ecr,
			want: config.ECR{Enabled: true, AccountIDs: []string{"123456789012"}}},
		{name: "ecr account-ids as a list of integers and strings", js: `{"ecr": {"account-ids": [123456789012, "210987654321"]}}`, field: ecr,
			want: config.ECR{Enabled: true, AccountIDs: []string{"123456789012", "210987654321"}}},
		{name: "ecr assume-role", js: `{"ecr": {"assume-role": "arn:aws:iam::123456789012:role/ecr-pull"}}`, field: ecr,
			want: config.ECR{Enabled: true, AssumeRole: "arn:aws:iam::123456789012:role/ecr-pull"}},
		{name: "ecr assume-role in another partition", js: `{"ecr": {"assume-role": "arn:aws-cn:iam::123456789012:role/path/ecr"}}`, field: ecr,
			want: config.ECR{Enabled: true, AssumeRole: "arn:aws-cn:iam::123456789012:role/path/ecr"}},
		{name: "ecr every field", js: `{"ecr": {"region": "us-west-2", "account-ids": "123456789012", "assume-role": "arn:aws:iam::123456789012:role/r"}}`, field: ecr,
			want: config.ECR{Enabled: true, Region: "us-west-2", AccountIDs: []string{"123456789012"}, AssumeRole: "arn:aws:iam::123456789012:role/r"}},

		// registry-credentials.
		{name: "no registry credentials", js: `{}`, field: creds, want: []config.RegistryCredential(nil)},
		{name: "registry URL is reduced to its lowercase host", js: `{"registry-credentials": [{"registry": "https://Registry.Example.com/v2/", "username-env": "REG_USER", "password-env": "REG_PASS"}]}`,
			field: creds, want: []config.RegistryCredential{{Registry: "registry.example.com", UsernameEnv: "REG_USER", PasswordEnv: "REG_PASS"}}},
		{name: "docker.io is the host the daemon asks for", js: `{"registry-credentials": [{"registry": "docker.io", "username-env": "REG_USER", "password-env": "REG_PASS"}]}`,
			field: creds, want: []config.RegistryCredential{{Registry: "registry-1.docker.io", UsernameEnv: "REG_USER", PasswordEnv: "REG_PASS"}}},
		{name: "several registries keep their order and ports", js: `{"registry-credentials": [
				{"registry": "ghcr.io", "username-env": "REG_USER", "password-env": "REG_PASS"},
				{"registry": "http://localhost:5000/", "username-env": "LOCAL_USER", "password-env": "LOCAL_PASS"}]}`,
			env: map[string]string{"LOCAL_USER": "u", "LOCAL_PASS": ""}, field: creds,
			want: []config.RegistryCredential{
				{Registry: "ghcr.io", UsernameEnv: "REG_USER", PasswordEnv: "REG_PASS"},
				{Registry: "localhost:5000", UsernameEnv: "LOCAL_USER", PasswordEnv: "LOCAL_PASS"},
			}},

		// require-tls and docker-config.
		{name: "require-tls defaults to false", js: `{}`, field: func(c *config.Config) any { return c.RequireTLS }, want: false},
		{name: "require-tls true", js: `{"require-tls": true}`, field: func(c *config.Config) any { return c.RequireTLS }, want: true},
		{name: "docker-config defaults to false", js: `{}`, field: func(c *config.Config) any { return c.DockerConfig }, want: false},
		{name: "docker-config true", js: `{"docker-config": true}`, field: func(c *config.Config) any { return c.DockerConfig }, want: true},
		{name: "docker-config false", js: `{"docker-config": false, "require-tls": false}`, field: func(c *config.Config) any { return c.DockerConfig || c.RequireTLS }, want: false},
	}
	for _, tt := range tests {
		for _, p := range parsers {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				wd := newWorkDir(t, "Dockerfile")
				got, err := p.parse([]byte(tt.js), elasticEnv(tt.env), wd)
				if err != nil {
					t.Fatalf("%s(%s) error = %v", p.name, tt.js, err)
				}
				if g := tt.field(got); !reflect.DeepEqual(g, tt.want) {
					t.Errorf("%s(%s) = %s; want %s", p.name, tt.js, show(g), show(tt.want))
				}
			})
		}
	}
}

func TestParseElasticStackProblems(t *testing.T) {
	tests := []struct {
		name      string
		js        string
		env       map[string]string
		key       string   // exact key path of the expected problem
		msg       []string // substrings of its message
		buildOnly bool     // ParseForEnvironment must not report it
	}{
		// Secrets bucket.
		{name: "empty secrets-bucket", js: `{"secrets-bucket": ""}`, key: "secrets-bucket", msg: []string{"must not be empty"}},
		{name: "empty secrets-region", js: `{"secrets-region": ""}`, key: "secrets-region", msg: []string{"must not be empty"}},
		{name: "secrets-prefix with a leading slash", js: `{"secrets-prefix": "/x"}`, key: "secrets-prefix", msg: []string{`"/x"`, "without leading or trailing /"}},
		{name: "secrets-prefix with a trailing slash", js: `{"secrets-prefix": "x/"}`, key: "secrets-prefix", msg: []string{`"x/"`, "without leading or trailing /"}},
		{name: "secrets-prefix of a single slash", js: `{"secrets-prefix": "/"}`, key: "secrets-prefix", msg: []string{"without leading or trailing /"}},
		{name: "empty secrets-prefix", js: `{"secrets-prefix": ""}`, key: "secrets-prefix", msg: []string{"without leading or trailing /"}},
		{name: "unknown secrets-objects key", js: `{"secrets-objects": {"ca": "ca.pem", "foo": "x"}}`, key: "secrets-objects.foo", msg: []string{"unknown option", "remove it"}},
		{name: "empty secrets-objects name", js: `{"secrets-objects": {"cert": ""}}`, key: "secrets-objects.cert", msg: []string{"must not be empty"}},
		{name: "secrets-objects as a string", js: `{"secrets-objects": "ca.pem"}`, key: "secrets-objects", msg: []string{"must be an object (map), got string"}},
		{name: "bucket without HOME has no tls-dir", js: `{}`, env: map[string]string{"HOME": "-", "BUILDKITE_PLUGIN_S3_SECRETS_BUCKET": "stack-secrets"},
			key: "tls-dir", msg: []string{"HOME is not set", "s3://stack-secrets", "set tls-dir"}},

		// ecr.
		{name: "ecr as a string", js: `{"ecr": "yes"}`, key: "ecr", msg: []string{"must be a boolean or an object (map), got string"}},
		{name: "unknown ecr key", js: `{"ecr": {"regions": "us-east-1"}}`, key: "ecr.regions", msg: []string{"unknown option", "remove it"}},
		{name: "empty ecr region", js: `{"ecr": {"region": ""}}`, key: "ecr.region", msg: []string{"must not be empty"}},
		{name: "short account id", js: `{"ecr": {"account-ids": "12345"}}`, key: "ecr.account-ids[0]", msg: []string{`"12345"`, "12-digit AWS account ID"}},
		{name: "account id that lost its leading zero as a YAML integer", js: `{"ecr": {"account-ids": 12345678901}}`, key: "ecr.account-ids[0]", msg: []string{`"12345678901"`, "quote it in YAML"}},
		{name: "second account id of a list is bad", js: `{"ecr": {"account-ids": ["123456789012", "acct-2"]}}`, key: "ecr.account-ids[1]", msg: []string{`"acct-2"`}},
		{name: "account id with letters", js: `{"ecr": {"account-ids": ["12345678901x"]}}`, key: "ecr.account-ids[0]", msg: []string{"12-digit"}},
		{name: "account-ids as an object", js: `{"ecr": {"account-ids": {"a": 1}}}`, key: "ecr.account-ids", msg: []string{"got object"}},
		{name: "assume-role is a user ARN", js: `{"ecr": {"assume-role": "arn:aws:iam::123456789012:user/ci"}}`, key: "ecr.assume-role", msg: []string{"IAM role ARN", "arn:aws:iam::123456789012:role/name"}},
		{name: "assume-role is a role name", js: `{"ecr": {"assume-role": "ecr-pull"}}`, key: "ecr.assume-role", msg: []string{`"ecr-pull"`, "IAM role ARN"}},
		{name: "assume-role with a short account", js: `{"ecr": {"assume-role": "arn:aws:iam::1234:role/r"}}`, key: "ecr.assume-role", msg: []string{"IAM role ARN"}},

		// registry-credentials.
		{name: "registry-credentials as an object", js: `{"registry-credentials": {"registry": "ghcr.io", "username-env": "REG_USER", "password-env": "REG_PASS"}}`,
			key: "registry-credentials", msg: []string{"must be an array (list), got object"}},
		{name: "missing password-env", js: `{"registry-credentials": [{"registry": "ghcr.io", "username-env": "REG_USER"}]}`, key: "registry-credentials[0].password-env", msg: []string{"is required"}},
		{name: "missing registry", js: `{"registry-credentials": [{"username-env": "REG_USER", "password-env": "REG_PASS"}]}`, key: "registry-credentials[0].registry", msg: []string{"is required"}},
		{name: "empty registry", js: `{"registry-credentials": [{"registry": "", "username-env": "REG_USER", "password-env": "REG_PASS"}]}`, key: "registry-credentials[0].registry", msg: []string{"must not be empty"}},
		{name: "unknown key in a credential", js: `{"registry-credentials": [{"registry": "ghcr.io", "username-env": "REG_USER", "password-env": "REG_PASS", "password": "hunter2"}]}`,
			key: "registry-credentials[0].password", msg: []string{"unknown option", "remove it"}},
		{name: "username-env is not a variable name", js: `{"registry-credentials": [{"registry": "ghcr.io", "username-env": "1USER", "password-env": "REG_PASS"}]}`,
			key: "registry-credentials[0].username-env", msg: []string{`"1USER"`, "environment variable name"}},
		{name: "password-env is a value, not a name", js: `{"registry-credentials": [{"registry": "ghcr.io", "username-env": "REG_USER", "password-env": "$REG_PASS"}]}`,
			key: "registry-credentials[0].password-env", msg: []string{`"$REG_PASS"`, "environment variable name"}},
		{name: "same registry twice after normalisation", js: `{"registry-credentials": [
				{"registry": "https://Registry.Example.com/v2/", "username-env": "REG_USER", "password-env": "REG_PASS"},
				{"registry": "registry.example.com", "username-env": "REG_USER", "password-env": "REG_PASS"}]}`,
			key: "registry-credentials[1]", msg: []string{"registry registry.example.com is listed twice"}},
		{name: "docker.io and index.docker.io are the same registry", js: `{"registry-credentials": [
				{"registry": "docker.io", "username-env": "REG_USER", "password-env": "REG_PASS"},
				{"registry": "ghcr.io", "username-env": "REG_USER", "password-env": "REG_PASS"},
				{"registry": "https://index.docker.io/v1/", "username-env": "REG_USER", "password-env": "REG_PASS"}]}`,
			key: "registry-credentials[2]", msg: []string{"registry-1.docker.io is listed twice"}},
		{name: "unset username variable (build only)", js: `{"registry-credentials": [{"registry": "ghcr.io", "username-env": "GHCR_USER", "password-env": "REG_PASS"}]}`,
			key: "registry-credentials[0]", msg: []string{"environment variable GHCR_USER", "registry ghcr.io", "is not set"}, buildOnly: true},
		{name: "unset password variable of a normalised registry (build only)", js: `{"registry-credentials": [{"registry": "docker.io", "username-env": "REG_USER", "password-env": "HUB_TOKEN"}]}`,
			key: "registry-credentials[0]", msg: []string{"environment variable HUB_TOKEN", "registry registry-1.docker.io"}, buildOnly: true},

		// require-tls and docker-config.
		{name: "require-tls as a string", js: `{"require-tls": "true"}`, key: "require-tls", msg: []string{"must be a boolean, got string"}},
		{name: "docker-config as a number", js: `{"docker-config": 1}`, key: "docker-config", msg: []string{"must be a boolean, got number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd := newWorkDir(t, "Dockerfile")
			env := elasticEnv(tt.env)

			cfg, err := config.Parse([]byte(tt.js), env, wd)
			if cfg != nil {
				t.Errorf("Parse(%s) returned a Config with an error; want nil", tt.js)
			}
			if p, ok := findProblem(problemsOf(t, err), tt.key); !ok {
				t.Errorf("Parse(%s): no problem at key %q; got:\n%v", tt.js, tt.key, err)
			} else {
				for _, s := range tt.msg {
					if !strings.Contains(p.Msg, s) {
						t.Errorf("Parse(%s): problem %q does not mention %q", tt.js, p, s)
					}
				}
			}

			_, err = config.ParseForEnvironment([]byte(tt.js), env, wd)
			if tt.buildOnly {
				// The environment hook runs before plugins that export the
				// variables: no problem, and here nothing else is wrong.
				if err != nil {
					t.Errorf("ParseForEnvironment(%s) error = %v; want none (checked by the command hook)", tt.js, err)
				}
				return
			}
			if _, ok := findProblem(problemsOf(t, err), tt.key); !ok {
				t.Errorf("ParseForEnvironment(%s): no problem at key %q; got:\n%v", tt.js, tt.key, err)
			}
		})
	}
}

func findProblem(problems []config.Problem, key string) (config.Problem, bool) {
	for _, p := range problems {
		if p.Key == key {
			return p, true
		}
	}
	return config.Problem{}, false
}

// Both variables of a credential are checked, each named in its own problem.
func TestParseRegistryCredentialsBothVariablesUnset(t *testing.T) {
	js := `{"registry-credentials": [{"registry": "ghcr.io", "username-env": "GHCR_USER", "password-env": "GHCR_TOKEN"}]}`
	_, err := config.Parse([]byte(js), elasticEnv(nil), newWorkDir(t, "Dockerfile"))
	problems := problemsOf(t, err)
	if len(problems) != 2 {
		t.Fatalf("Parse(%s) = %d problems; want 2:\n%v", js, len(problems), err)
	}
	for i, name := range []string{"GHCR_USER", "GHCR_TOKEN"} {
		if problems[i].Key != "registry-credentials[0]" || !strings.Contains(problems[i].Msg, "environment variable "+name+" ") {
			t.Errorf("problem %d = %q; want registry-credentials[0] naming %s", i, problems[i], name)
		}
	}
	// A variable set to the empty string is set.
	_, err = config.Parse([]byte(js), elasticEnv(map[string]string{"GHCR_USER": "", "GHCR_TOKEN": ""}), newWorkDir(t, "Dockerfile"))
	if err != nil {
		t.Errorf("Parse(%s) with empty variables: error = %v; want none", js, err)
	}
}

func TestParseForEnvironment(t *testing.T) {
	t.Run("accepts what only the build checks", func(t *testing.T) {
		tests := []struct {
			name string
			js   string
			env  map[string]string
		}{
			{name: "no checkout yet: context and Dockerfile missing", js: `{"context": "app", "dockerfile": "app/Dockerfile.ci"}`},
			{name: "no checkout yet: default Dockerfile missing", js: `{}`},
			{name: "build options whose files or variables come later", js: `{
				"build-contexts": {"shared": "../shared"},
				"secrets": "id=NPM_TOKEN",
				"ssh": true,
				"metadata-file": "out/meta.json",
				"outputs": "type=oci,dest=out/image.tar",
				"build-args": ["FROM_ENV"]}`},
			{name: "build options with bad values are left to the command hook", js: `{"tags": ["Bad"], "platforms": "linux/sparc", "cache-to": "type=redis", "push": true}`},
			{name: "registry credentials whose variables are not set yet", js: `{"registry-credentials": [{"registry": "ghcr.io", "username-env": "GHCR_USER", "password-env": "GHCR_TOKEN"}]}`},
			{name: "buildkit-host option with the files missing", js: `{"buildkit-host": "unix:///run/buildkit/buildkitd.sock", "context": "app"}`, env: map[string]string{"BUILDKIT_HOST": "-"}},
			{
				name: "no buildkit-host anywhere and no checkout",
				js:   `{"context": "app", "secrets-bucket": "b"}`,
				env:  map[string]string{"BUILDKIT_HOST": "-"},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wd := newWorkDir(t) // empty: the checkout has not happened
				env := elasticEnv(tt.env)
				cfg, err := config.ParseForEnvironment([]byte(tt.js), env, wd)
				if err != nil {
					t.Fatalf("ParseForEnvironment(%s) error = %v; want none", tt.js, err)
				}
				if cfg == nil {
					t.Fatalf("ParseForEnvironment(%s) = nil Config", tt.js)
				}
				// The same configuration does fail the build: the checks are deferred, not gone.
				if _, err := config.Parse([]byte(tt.js), env, wd); err == nil {
					t.Errorf("Parse(%s) error = nil; want the build's problems", tt.js)
				}
			})
		}
	})

	t.Run("still fails on schema errors and a bad daemon address", func(t *testing.T) {
		tests := []struct {
			name string
			js   string
			env  map[string]string
			key  string
			msg  string
		}{
			{name: "unknown option", js: `{"tag": "app", "context": "app"}`, key: "tag", msg: `did you mean "tags"?`},
			{name: "wrong type of a build option", js: `{"push": "yes"}`, key: "push", msg: "must be a boolean, got string"},
			{name: "wrong type of tags", js: `{"tags": 7}`, key: "tags", msg: "must be a string or an array (list), got number"},
			{name: "nested schema error in a build option", js: `{"cache-to": [{"ref": "r.example.com/app:cache"}]}`, key: "cache-to[0].type", msg: "is required"},
			{name: "enum of a build option", js: `{"progress": "fancy"}`, key: "progress", msg: "must be one of"},
			{name: "unknown key in a secret", js: `{"secrets": {"id": "a", "file": "x"}}`, key: "secrets.file", msg: "unknown option"},
			{name: "bad buildkit-host scheme", js: `{"buildkit-host": "http://buildkitd:1234"}`, key: "buildkit-host", msg: `unsupported scheme "http"`},
			{name: "buildkit-host without a scheme", js: `{"buildkit-host": "buildkitd.internal"}`, key: "buildkit-host", msg: "want tcp://host:port"},
			{name: "buildkit-host as host:port", js: `{"buildkit-host": "buildkitd:1234"}`, key: "buildkit-host", msg: "use tcp, unix"},
			{name: "tcp buildkit-host without a port", js: `{"buildkit-host": "tcp://buildkitd"}`, key: "buildkit-host", msg: "needs a host and port"},
			{name: "bad BUILDKIT_HOST", js: `{}`, env: map[string]string{"BUILDKIT_HOST": "https://buildkitd:1234"}, key: "buildkit-host", msg: `unsupported scheme "https"`},
			{name: "zero connect-timeout", js: `{"connect-timeout": "0s"}`, key: "connect-timeout", msg: "more than 0"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wd := newWorkDir(t)
				cfg, err := config.ParseForEnvironment([]byte(tt.js), elasticEnv(tt.env), wd)
				if cfg != nil {
					t.Errorf("ParseForEnvironment(%s) returned a Config with an error; want nil", tt.js)
				}
				p, ok := findProblem(problemsOf(t, err), tt.key)
				if !ok {
					t.Fatalf("ParseForEnvironment(%s): no problem at key %q; got:\n%v", tt.js, tt.key, err)
				}
				if !strings.Contains(p.Msg, tt.msg) {
					t.Errorf("ParseForEnvironment(%s): problem %q does not mention %q", tt.js, p, tt.msg)
				}
			})
		}
	})
}

func TestNormalizeRegistry(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{in: "registry.example.com", want: "registry.example.com"},
		{in: "https://Registry.Example.com/v2/", want: "registry.example.com"},
		{in: "http://registry.example.com:5000/v2/", want: "registry.example.com:5000"},
		{in: "  ghcr.io/owner/repo  ", want: "ghcr.io"},
		{in: "docker.io", want: "registry-1.docker.io"},
		{in: "index.docker.io", want: "registry-1.docker.io"},
		{in: "https://index.docker.io/v1/", want: "registry-1.docker.io"},
		{in: "registry-1.docker.io", want: "registry-1.docker.io"},
		{in: "123456789012.dkr.ecr.us-east-1.amazonaws.com", want: "123456789012.dkr.ecr.us-east-1.amazonaws.com"},
		{in: "public.ecr.aws", want: "public.ecr.aws"},
		// Hosts and schemes are case-insensitive.
		{in: "Docker.io", want: "registry-1.docker.io"},
		{in: "HTTPS://registry.example.com/v2/", want: "registry.example.com"},
	}
	for _, tt := range tests {
		if got := config.NormalizeRegistry(tt.in); got != tt.want {
			t.Errorf("NormalizeRegistry(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestRegistryHosts(t *testing.T) {
	t.Run("from a parsed configuration", func(t *testing.T) {
		js := `{
			"tags": ["app:1", "registry.example.com/team/app:1", "docker.io/library/app:2", "index.docker.io/library/app:3"],
			"outputs": [
				{"type": "image", "name": "ghcr.io/owner/app:1,quay.io/owner/app:1", "push": true},
				"type=registry,name=registry.example.com/team/app:2",
				"type=local,dest=out"
			],
			"cache-from": ["type=registry,ref=123456789012.dkr.ecr.us-east-1.amazonaws.com/cache:app", "type=local,src=cache"],
			"cache-to": ["type=registry,ref=localhost:5000/cache:app,mode=max", "type=inline", "type=registry,ref=quay.io/owner/cache:app"]
		}`
		cfg, err := config.Parse([]byte(js), elasticEnv(nil), newWorkDir(t, "Dockerfile", "cache/"))
		if err != nil {
			t.Fatalf("Parse() error = %v", err)
		}
		want := []string{
			"registry-1.docker.io", // app:1, docker.io/..., index.docker.io/...: one host
			"registry.example.com", // tag and registry output: one host
			"ghcr.io",
			"quay.io", // image output and cache-to: one host
			"123456789012.dkr.ecr.us-east-1.amazonaws.com",
			"localhost:5000",
		}
		if got := cfg.RegistryHosts(); !reflect.DeepEqual(got, want) {
			t.Errorf("RegistryHosts() = %q; want %q", got, want)
		}
	})

	tests := []struct {
		name string
		cfg  config.Config
		want []string
	}{
		{name: "nothing names a registry", cfg: config.Config{}, want: nil},
		{name: "local outputs and caches name none", cfg: config.Config{
			Image: config.Image{Outputs: []config.Attrs{{Type: "local", Attrs: map[string]string{"dest": "/out"}}}, CacheFrom: []config.Attrs{{Type: "local", Attrs: map[string]string{"src": "/cache"}}}, CacheTo: []config.Attrs{{Type: "inline", Attrs: map[string]string{"mode": "min"}}}},
		}, want: nil},
		{name: "cache-from only", cfg: config.Config{
			Image: config.Image{CacheFrom: []config.Attrs{{Type: "registry", Attrs: map[string]string{"ref": "docker.io/org/cache"}}}},
		}, want: []string{"registry-1.docker.io"}},
		{name: "tags, then outputs, then caches, deduplicated", cfg: config.Config{
			Image: config.Image{Tags: []string{"docker.io/library/app:latest", "public.ecr.aws/org/app:latest"}, Outputs: []config.Attrs{{Type: "image", Attrs: map[string]string{"name": "public.ecr.aws/org/app:1,ghcr.io/org/app:1"}}}, CacheFrom: []config.Attrs{{Type: "registry", Attrs: map[string]string{"ref": "ghcr.io/org/cache"}}}, CacheTo: []config.Attrs{{Type: "registry", Attrs: map[string]string{"ref": "org/cache", "mode": "max"}}}},
		}, want: []string{"registry-1.docker.io", "public.ecr.aws", "ghcr.io"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.RegistryHosts(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RegistryHosts() = %q; want %q", got, tt.want)
			}
		})
	}
}
