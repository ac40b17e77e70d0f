package config

import (
	"fmt"
	"regexp"
	"sync"
)

// elasticStack reads the secrets-bucket, ECR and registry credential options.
func (v *validator) elasticStack(r *raw, c *Config) {
	c.RequireTLS = r.RequireTLS
	for i, h := range r.InsecureRegs {
		if n := NormalizeRegistry(h); n != "" {
			c.InsecureRegistries = append(c.InsecureRegistries, n)
		} else {
			v.addf(fmt.Sprintf("insecure-registries[%d]", i), "%q has no host: give the registry's host, e.g. registry.internal:5000", h)
		}
	}
	c.DockerConfig = r.DockerConfig
	c.Buildx = string(r.Buildx)
	if c.Buildx != "" && c.DockerConfig {
		v.addf("docker-config", "docker-config and buildx both give the job a DOCKER_CONFIG: drop docker-config (with buildx, docker and buildx get the same logins through the job's credential helper, nothing in plain text)")
	}
	c.PipelineSlug = v.env.Get("BUILDKITE_PIPELINE_SLUG")
	v.secretsBucket(r, c)
	c.ECR = v.ecr(r.ECR)
	c.RegistryCredentials = v.registryCredentials(r.RegistryCredentials)
}

// secretsBucket reads where the certificates come from in the secrets bucket.
func (v *validator) secretsBucket(r *raw, c *Config) {
	if r.SecretsBucket != nil {
		c.SecretsBucket = *r.SecretsBucket
	} else {
		c.SecretsBucket = v.env.Get("BUILDKITE_PLUGIN_S3_SECRETS_BUCKET")
	}
	c.SecretsRegion = orDefault(r.SecretsRegion, v.env.Get("BUILDKITE_PLUGIN_S3_SECRETS_REGION"))
	c.SecretsPrefix = "buildkit"
	if r.SecretsPrefix != nil {
		c.SecretsPrefix = *r.SecretsPrefix
	}
	c.SecretsObjects = Objects{
		CA:   orDefault(r.SecretsObjects.CA, CAFile),
		Cert: orDefault(r.SecretsObjects.Cert, CertFile),
		Key:  orDefault(r.SecretsObjects.Key, KeyFile),
	}
	if c.SecretsBucket != "" && c.TLSDir == "" {
		v.addf("tls-dir", "HOME is not set, so there is no default tls-dir for the certificates from s3://%s: set tls-dir", c.SecretsBucket)
	}
}

// ecr checks the account IDs of the ecr option.
func (v *validator) ecr(o ecrOption) ECR {
	out := ECR{Enabled: !o.Off, Region: o.Region, AssumeRole: o.AssumeRole}
	if o.Err != nil {
		v.addf("ecr", "%v", o.Err)
	}
	out.AccountIDs = v.normalize("ecr.account-ids", o.AccountIDs, func(id string) (string, error) {
		if !accountID().MatchString(id) {
			return "", fmt.Errorf("%q is not a 12-digit AWS account ID (quote it in YAML so leading zeros survive)", id)
		}
		return id, nil
	})
	return out
}

// registryCredentials checks each registry is named once and, in the build
// phase, that its variables are set.
func (v *validator) registryCredentials(list []rawRegistryCredential) []RegistryCredential {
	var out []RegistryCredential
	seen := map[string]bool{}
	for i, rc := range list {
		k := fmt.Sprintf("registry-credentials[%d]", i)
		host := NormalizeRegistry(rc.Registry)
		if host == "" {
			v.addf(k, "registry %q has no host: give the registry's host, e.g. registry.example.com:5000", rc.Registry)
			continue
		}
		if seen[host] {
			v.addf(k, "registry %s is listed twice", host)
			continue
		}
		seen[host] = true
		if v.files { // the build needs them; the environment hook may run before other plugins set them
			for _, name := range []string{rc.UsernameEnv, rc.PasswordEnv} {
				if _, ok := v.env(name); !ok {
					v.addf(k, "environment variable %s (for registry %s) is not set: export it in the job, e.g. from the agent's secrets", name, host)
				}
			}
		}
		out = append(out, RegistryCredential{Registry: host, UsernameEnv: rc.UsernameEnv, PasswordEnv: rc.PasswordEnv})
	}
	return out
}

var accountID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{12}$`) })
