// Package config turns the plugin's JSON configuration into a validated,
// typed Config: the schema in plugin.yml first, then checks of meaning
// (platforms, references, files) that a schema cannot express.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Defaults.
const (
	DefaultConnectTimeout = 20 * time.Second
	DefaultTLSDirName     = ".buildkit"
)

// TLS file names inside tls-dir, the layout `buildctl --tlsdir` also reads.
const (
	CAFile   = "ca.pem"
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// Config is the validated plugin configuration.
type Config struct {
	// Nodes is every daemon, never empty: one per buildkit-host entry, or the
	// nodes option. The first is the default node; it carries the top-level
	// host and TLS options (Host is "" when buildkit-host is not set, which
	// only the environment phase and diagnose accept).
	Nodes          []Node
	TLSDir         string // the top-level tls-dir: where the secrets bucket's certificates are installed
	ConnectTimeout time.Duration

	ContextDir    string // absolute
	SessionKey    string // stable per pipeline and context: the daemon diffs against the last upload
	Dockerfile    string // absolute
	Target        string
	BuildArgs     map[string]string
	Labels        map[string]string
	BuildContexts map[string]string

	Tags      []string // normalised references
	Push      bool
	Platforms []string // normalised platform strings
	NoCache   bool

	CacheFrom []Attrs
	CacheTo   []Attrs
	Outputs   []Attrs
	Secrets   []Secret
	SSH       []SSH

	// Elastic CI Stack integration.
	RequireTLS          bool
	SecretsBucket       string // "" when certificates are not fetched from S3
	SecretsRegion       string // "" to look it up
	SecretsPrefix       string
	SecretsObjects      Objects
	PipelineSlug        string
	ECR                 ECR
	RegistryCredentials []RegistryCredential
	DockerConfig        bool

	VersionCheck string // off, warn or strict
	Diagnose     bool

	// Results for later steps.
	Annotate bool
	MetaData MetaData
	Artifact bool

	Progress     string
	Provenance   *string // nil: off; otherwise the attest:provenance value
	SBOM         *string
	MetadataFile string // absolute, "" for none
	Timeout      time.Duration
}

// Attrs is a typed "type=...,k=v" entry (cache import/export or output).
type Attrs struct {
	Type  string
	Attrs map[string]string
}

// Secret is a build secret read from an environment variable or a file.
type Secret struct {
	ID, Env, Src string
}

// Node is one BuildKit daemon: its address and how to authenticate to it.
// It is the only description of a daemon; builder.Connect dials one.
type Node struct {
	Name          string
	Host          string
	Platforms     []string // declared; empty = discovered from the workers
	TLSDir        string
	TLSDirSet     bool   // tls-dir was configured explicitly: its files are required
	SecretsPrefix string // "" = the certificates in TLSDir are used as they are
	TLSServerName string
}

// Default is the default node: the only daemon of a single-daemon build, the
// first of a pool.
func (c *Config) Default() Node {
	if len(c.Nodes) == 0 {
		return Node{TLSDir: c.TLSDir}
	}
	return c.Nodes[0]
}

// Several reports whether the build has a pool or platform nodes.
func (c *Config) Several() bool { return len(c.Nodes) > 1 }

// Objects are the certificate objects' names under the secrets prefix.
type Objects struct {
	CA, Cert, Key string
}

// ECR configures in-memory Amazon ECR logins.
type ECR struct {
	Enabled    bool
	Region     string   // "" = the region in the registry host
	AccountIDs []string // empty = every account
	AssumeRole string
}

// MetaData says which build meta-data keys get the digest.
type MetaData struct {
	Enabled bool
	Key     string
	PerTag  bool // also <key>:<tag> for each tag
}

// DefaultMetaDataKey is the meta-data key later steps read the digest from.
const DefaultMetaDataKey = "remote-buildkit-digest"

// RegistryCredential names the job's environment variables holding a
// registry's username and password.
type RegistryCredential struct {
	Registry, UsernameEnv, PasswordEnv string
}

// Phase says which hook the configuration is read for: the environment hook
// runs before the checkout, so only the build phase checks source files.
type Phase int

// Phases.
const (
	Build Phase = iota
	Environment
)

// SSH is an SSH agent socket or key set forwarded under an ID.
type SSH struct {
	ID    string
	Paths []string
}

// raw mirrors the schema; the decoders in values.go normalise each shape.
type raw struct {
	BuildkitHost *stringList `json:"buildkit-host"`
	Nodes        []struct {
		Name          string     `json:"name"`
		Host          string     `json:"host"`
		Platforms     stringList `json:"platforms"`
		TLSDir        *string    `json:"tls-dir"`
		SecretsPrefix *string    `json:"secrets-prefix"`
		TLSServerName string     `json:"tls-server-name"`
	} `json:"nodes"`
	TLSDir         *string       `json:"tls-dir"`
	TLSServerName  string        `json:"tls-server-name"`
	ConnectTimeout *duration     `json:"connect-timeout"`
	Dockerfile     string        `json:"dockerfile"`
	Context        string        `json:"context"`
	Target         string        `json:"target"`
	BuildArgs      keyValues     `json:"build-args"`
	Labels         keyValues     `json:"labels"`
	BuildContexts  keyValues     `json:"build-contexts"`
	Tags           stringList    `json:"tags"`
	Push           bool          `json:"push"`
	Platforms      stringList    `json:"platforms"`
	CacheFrom      attrEntries   `json:"cache-from"`
	CacheTo        attrEntries   `json:"cache-to"`
	Secrets        secretEntries `json:"secrets"`
	SSH            sshList       `json:"ssh"`
	NoCache        bool          `json:"no-cache"`
	Outputs        attrEntries   `json:"outputs"`
	RequireTLS     bool          `json:"require-tls"`
	SecretsBucket  *string       `json:"secrets-bucket"`
	SecretsRegion  string        `json:"secrets-region"`
	SecretsPrefix  *string       `json:"secrets-prefix"`
	SecretsObjects struct {
		CA   string `json:"ca"`
		Cert string `json:"cert"`
		Key  string `json:"key"`
	} `json:"secrets-objects"`
	ECR                 json.RawMessage `json:"ecr"`
	RegistryCredentials []struct {
		Registry    string `json:"registry"`
		UsernameEnv string `json:"username-env"`
		PasswordEnv string `json:"password-env"`
	} `json:"registry-credentials"`
	DockerConfig bool            `json:"docker-config"`
	VersionCheck string          `json:"version-check"`
	Annotate     *bool           `json:"annotate"`
	MetaDataRaw  json.RawMessage `json:"meta-data"`
	Artifact     bool            `json:"artifact"`
	Diagnose     bool            `json:"diagnose"`
	Progress     string          `json:"progress"`
	Provenance   attestation     `json:"provenance"`
	SBOM         attestation     `json:"sbom"`
	MetadataFile string          `json:"metadata-file"`
	Timeout      *duration       `json:"timeout"`
}

// Parse validates the JSON configuration against plugin.yml's schema, then
// decodes it, applies defaults from the environment and checks its meaning.
// Relative paths are resolved against workDir. Every problem is reported in
// one *Error.
func Parse(js []byte, env Env, workDir string) (*Config, error) {
	return parse(js, env, workDir, Build)
}

// ParseForEnvironment parses for the environment hook, which runs before the
// checkout: the schema is enforced in full, but only the options that hook
// acts on are checked further.
func ParseForEnvironment(js []byte, env Env, workDir string) (*Config, error) {
	return parse(js, env, workDir, Environment)
}

func parse(js []byte, env Env, workDir string, phase Phase) (*Config, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, &Error{Problems: []Problem{{Msg: fmt.Sprintf("configuration is not valid JSON: %v", err)}}}
	}
	if doc == nil {
		doc = map[string]any{}
		js = []byte("{}")
	}
	problems, err := validateSchema(doc)
	if err != nil {
		return nil, err
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, &Error{Problems: problems}
	}
	// Check the meaning of every option the schema accepted, so one run
	// reports every problem; options the schema rejected are left out.
	rejected := map[string]bool{}
	for _, p := range problems {
		top := topKey(p.Key)
		rejected[top] = true
		delete(obj, top)
	}
	if js, err = json.Marshal(obj); err != nil {
		return nil, err
	}
	var r raw
	if err := json.Unmarshal(js, &r); err != nil {
		return nil, &Error{Problems: append(problems, Problem{Msg: fmt.Sprintf("configuration: %v", err)})}
	}
	v := &validator{env: env, workDir: workDir, rejected: rejected, files: phase == Build}
	cfg := v.build(&r)
	for _, p := range v.problems {
		top := topKey(p.Key)
		if !rejected[top] && (phase == Build || environmentKeys[top]) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return topKey(problems[i].Key) < topKey(problems[j].Key) })
		return nil, &Error{Problems: problems}
	}
	return cfg, nil
}

// environmentKeys are the options the environment hook acts on; the others
// are checked by the command hook, after the checkout.
var environmentKeys = map[string]bool{
	"buildkit-host": true, "tls-dir": true, "tls-server-name": true, "connect-timeout": true,
	"require-tls": true, "secrets-bucket": true, "secrets-region": true, "secrets-prefix": true,
	"secrets-objects": true, "ecr": true, "registry-credentials": true, "docker-config": true,
	"version-check": true, "diagnose": true,
}

// topKey is the option a problem's key path belongs to ("cache-to[0]" → "cache-to").
func topKey(key string) string {
	if i := strings.IndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return key
}

type validator struct {
	rejected map[string]bool // options the schema rejected: not checked again
	files    bool            // check the checkout's files (build phase)
	env      Env
	workDir  string
	problems []Problem
}

func (v *validator) addf(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(v.workDir, p)
}

func (v *validator) build(r *raw) *Config {
	c := &Config{
		ConnectTimeout: DefaultConnectTimeout,
		Target:         r.Target,
		Push:           r.Push,
		NoCache:        r.NoCache,
		Progress:       r.Progress,
	}

	// Connection.
	top := Node{TLSServerName: r.TLSServerName} // the top-level options: every node's defaults
	if r.TLSDir != nil {
		top.TLSDir, top.TLSDirSet = v.abs(expandHome(*r.TLSDir, v.env)), true
	} else if home := v.env.Get("HOME"); home != "" {
		top.TLSDir = filepath.Join(home, DefaultTLSDirName)
	}
	c.TLSDir = top.TLSDir
	v.daemons(r, c, top)
	if r.ConnectTimeout != nil {
		c.ConnectTimeout = time.Duration(*r.ConnectTimeout)
		if c.ConnectTimeout <= 0 {
			v.addf("connect-timeout", "must be more than 0 (e.g. \"20s\"); leave it out for the default %s", DefaultConnectTimeout)
		}
	}
	if r.Timeout != nil {
		c.Timeout = time.Duration(*r.Timeout)
		if c.Timeout <= 0 {
			v.addf("timeout", "must be more than 0 (e.g. \"30m\"); leave it out for no limit")
		}
	}

	// Sources.
	c.ContextDir = v.abs(orDefault(r.Context, "."))
	contextOK := true
	if fi, err := os.Stat(c.ContextDir); err != nil || !fi.IsDir() {
		v.addf("context", "directory %s does not exist: set context to the build context directory, relative to the job's working directory", c.ContextDir)
		contextOK = false
	}
	if r.Dockerfile != "" {
		c.Dockerfile = v.abs(r.Dockerfile)
	} else {
		c.Dockerfile = filepath.Join(c.ContextDir, "Dockerfile")
	}
	if fi, err := os.Stat(c.Dockerfile); (err != nil || fi.IsDir()) && (contextOK || r.Dockerfile != "") {
		v.addf("dockerfile", "file %s does not exist: set dockerfile to the Dockerfile's path, relative to the job's working directory", c.Dockerfile)
	}
	if rel, err := filepath.Rel(v.workDir, c.ContextDir); err == nil {
		c.SessionKey = "remote-buildkit:" + v.env.Get("BUILDKITE_PIPELINE_SLUG") + ":" + filepath.ToSlash(rel)
	}
	c.BuildArgs = v.keyValues("build-args", r.BuildArgs, true)
	c.Labels = v.keyValues("labels", r.Labels, false)
	c.BuildContexts = v.buildContexts(r.BuildContexts)

	// Image.
	for i, t := range r.Tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			v.addf(fmt.Sprintf("tags[%d]", i), "%q is not a valid image reference: %v (want registry/repository:tag, lowercase)", t, err)
			continue
		}
		c.Tags = append(c.Tags, reference.TagNameOnly(named).String())
	}
	if c.Push && len(c.Tags) == 0 && len(r.Tags) == 0 && !v.rejected["tags"] {
		v.addf("push", "push is true but no tags are set: add tags (e.g. tags: [registry.example.com/app:latest])")
	}
	for i, p := range r.Platforms {
		spec, err := platforms.Parse(p)
		if err != nil {
			v.addf(fmt.Sprintf("platforms[%d]", i), "%q is not a valid platform: %v (want os/arch[/variant], e.g. linux/amd64, linux/arm64)", p, err)
			continue
		}
		if !knownOS[spec.OS] || !knownArch[spec.Architecture] {
			v.addf(fmt.Sprintf("platforms[%d]", i), "%q is not a known platform (want os/arch[/variant], e.g. linux/amd64, linux/arm64, linux/arm/v7)", p)
			continue
		}
		c.Platforms = append(c.Platforms, platforms.Format(spec))
	}

	// Cache, outputs, secrets, ssh.
	c.CacheFrom = v.cacheEntries("cache-from", r.CacheFrom, false)
	c.CacheTo = v.cacheEntries("cache-to", r.CacheTo, true)
	c.Outputs = v.outputs(r.Outputs)
	c.Secrets = v.secrets(r.Secrets)
	c.SSH = v.ssh(r.SSH)

	v.elasticStack(r, c)
	c.VersionCheck = orDefault(r.VersionCheck, "warn")
	c.Diagnose = r.Diagnose
	c.Annotate = r.Annotate == nil || *r.Annotate
	c.Artifact = r.Artifact
	c.MetaData = MetaData{Enabled: true, Key: DefaultMetaDataKey}
	if len(r.MetaDataRaw) > 0 {
		var on bool
		if json.Unmarshal(r.MetaDataRaw, &on) == nil {
			c.MetaData.Enabled = on
		} else {
			var m struct {
				Key    string `json:"key"`
				PerTag bool   `json:"per-tag"`
			}
			_ = json.Unmarshal(r.MetaDataRaw, &m) // shape checked by the schema
			c.MetaData.Key = orDefault(m.Key, DefaultMetaDataKey)
			c.MetaData.PerTag = m.PerTag
		}
	}

	// Reporting.
	if c.Progress == "" {
		c.Progress = "auto"
		if v.env.Get("BUILDKITE") != "" {
			c.Progress = "plain"
		}
	}
	if r.Provenance.Set {
		val := r.Provenance.Value
		if val == "" {
			val = "mode=min"
		}
		c.Provenance = &val
	}
	if r.SBOM.Set {
		val := r.SBOM.Value
		c.SBOM = &val
	}
	if r.MetadataFile != "" {
		c.MetadataFile = v.abs(r.MetadataFile)
		if fi, err := os.Stat(filepath.Dir(c.MetadataFile)); err != nil || !fi.IsDir() {
			v.addf("metadata-file", "directory %s does not exist: create it or point metadata-file elsewhere", filepath.Dir(c.MetadataFile))
		}
	}
	return c
}

// The GOOS/GOARCH values BuildKit workers report (after containerd's normalisation).
var (
	knownOS   = map[string]bool{"linux": true, "windows": true, "darwin": true, "freebsd": true}
	knownArch = map[string]bool{"amd64": true, "arm64": true, "arm": true, "386": true, "ppc64le": true, "s390x": true, "riscv64": true, "mips64le": true, "mips64": true, "loong64": true}
)

// daemons reads buildkit-host (one address or a pool) and nodes; top holds
// the top-level TLS options. c.Nodes is never left empty.
func (v *validator) daemons(r *raw, c *Config, top Node) {
	defer func() {
		if len(c.Nodes) == 0 {
			c.Nodes = []Node{top}
		}
	}()
	var hosts []string
	switch {
	case r.BuildkitHost != nil:
		hosts = *r.BuildkitHost
	case v.env.Get("BUILDKIT_HOST") != "" && len(r.Nodes) == 0:
		hosts = splitList(v.env.Get("BUILDKIT_HOST"))
	}
	if len(r.Nodes) > 0 && r.BuildkitHost != nil {
		v.addf("nodes", "give either buildkit-host or nodes, not both: list every daemon under nodes")
		return
	}
	seen := map[string]string{}
	for i, h := range hosts {
		key := "buildkit-host"
		if len(hosts) > 1 {
			key = fmt.Sprintf("buildkit-host[%d]", i)
		}
		if err := checkHost(h); err != nil {
			v.addf(key, "%v", err)
			continue
		}
		if seen[h] != "" {
			v.addf(key, "%s is listed twice", h)
			continue
		}
		seen[h] = key
		n := top
		n.Name, n.Host = h, h
		c.Nodes = append(c.Nodes, n)
	}
	names := map[string]bool{}
	for i, n := range r.Nodes {
		k := fmt.Sprintf("nodes[%d]", i)
		if err := checkHost(n.Host); err != nil {
			v.addf(k+".host", "%v", err)
			continue
		}
		node := Node{Name: orDefault(n.Name, n.Host), Host: n.Host, TLSDir: top.TLSDir, TLSDirSet: top.TLSDirSet, TLSServerName: orDefault(n.TLSServerName, top.TLSServerName)}
		if names[node.Name] {
			v.addf(k+".name", "node name %q is used twice: give each node its own name", node.Name)
			continue
		}
		names[node.Name] = true
		for j, p := range n.Platforms {
			spec, err := platforms.Parse(p)
			if err != nil || !knownOS[spec.OS] || !knownArch[spec.Architecture] {
				v.addf(fmt.Sprintf("%s.platforms[%d]", k, j), "%q is not a known platform (want os/arch, e.g. linux/arm64)", p)
				continue
			}
			node.Platforms = append(node.Platforms, platforms.Format(spec))
		}
		if n.SecretsPrefix != nil {
			node.SecretsPrefix = strings.Trim(*n.SecretsPrefix, "/")
			if n.TLSDir == nil {
				// Each node's certificates get a directory of their own.
				node.TLSDir = filepath.Join(c.TLSDir, "nodes", safeName(node.Name))
			}
		}
		if n.TLSDir != nil {
			node.TLSDir, node.TLSDirSet = v.abs(expandHome(*n.TLSDir, v.env)), true
		}
		c.Nodes = append(c.Nodes, node)
	}
	if len(c.Nodes) == 0 && v.files && len(hosts) == 0 && len(r.Nodes) == 0 {
		v.addf("buildkit-host", "not set: set the buildkit-host option or BUILDKIT_HOST (e.g. tcp://buildkitd.internal:1234)")
	}
}

// safeName turns a node name into a directory name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// elasticStack reads the secrets-bucket, ECR and registry credential options.
func (v *validator) elasticStack(r *raw, c *Config) {
	c.RequireTLS = r.RequireTLS
	c.DockerConfig = r.DockerConfig
	c.PipelineSlug = v.env.Get("BUILDKITE_PIPELINE_SLUG")
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

	c.ECR = ECR{Enabled: true}
	if len(r.ECR) > 0 && string(r.ECR) != "null" {
		var on bool
		if err := json.Unmarshal(r.ECR, &on); err == nil {
			c.ECR.Enabled = on
		} else {
			var e struct {
				Region     string          `json:"region"`
				AccountIDs json.RawMessage `json:"account-ids"`
				AssumeRole string          `json:"assume-role"`
			}
			if err := json.Unmarshal(r.ECR, &e); err != nil {
				v.addf("ecr", "%v", err)
			}
			c.ECR.Region, c.ECR.AssumeRole = e.Region, e.AssumeRole
			for i, id := range accountIDs(e.AccountIDs) {
				if !accountID.MatchString(id) {
					v.addf(fmt.Sprintf("ecr.account-ids[%d]", i), "%q is not a 12-digit AWS account ID (quote it in YAML so leading zeros survive)", id)
					continue
				}
				c.ECR.AccountIDs = append(c.ECR.AccountIDs, id)
			}
		}
	}

	seen := map[string]bool{}
	for i, rc := range r.RegistryCredentials {
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
		c.RegistryCredentials = append(c.RegistryCredentials, RegistryCredential{Registry: host, UsernameEnv: rc.UsernameEnv, PasswordEnv: rc.PasswordEnv})
	}
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// accountIDs reads "1,2", 1 or ["1", 2] (the schema allows each).
func accountIDs(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		list = []json.RawMessage{raw}
	}
	var out []string
	for _, item := range list {
		var s string
		if json.Unmarshal(item, &s) == nil {
			out = append(out, splitList(s)...)
			continue
		}
		out = append(out, strings.TrimSpace(string(item)))
	}
	return out
}

// NormalizeRegistry reduces "https://host:5000/v2/" or "docker.io" to the
// host the daemon asks credentials for.
func NormalizeRegistry(r string) string {
	r = strings.ToLower(strings.TrimSpace(r))
	r = strings.TrimPrefix(strings.TrimPrefix(r, "https://"), "http://")
	r, _, _ = strings.Cut(r, "/")
	switch r {
	case "docker.io", "index.docker.io":
		return "registry-1.docker.io"
	}
	return r
}

func checkHost(host string) error {
	u, err := url.Parse(host)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("%q is not an address: want tcp://host:port, unix:///path, docker-container://name, kube-pod://name or ssh://user@host", host)
	}
	switch u.Scheme {
	case "tcp":
		if u.Host == "" || u.Port() == "" {
			return fmt.Errorf("%q needs a host and port: want tcp://host:1234", host)
		}
	case "unix":
		if u.Path == "" {
			return fmt.Errorf("%q needs a socket path: want unix:///run/buildkit/buildkitd.sock", host)
		}
	case "docker-container", "podman-container", "nerdctl-container", "kube-pod", "ssh":
	default:
		return fmt.Errorf("unsupported scheme %q in %q: use tcp, unix, docker-container, podman-container, nerdctl-container, kube-pod or ssh", u.Scheme, host)
	}
	return nil
}

func (v *validator) keyValues(key string, kvs keyValues, fromEnv bool) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	out := map[string]string{}
	for i, kv := range kvs {
		if strings.TrimSpace(kv.Key) == "" {
			v.addf(fmt.Sprintf("%s[%d]", key, i), "empty key: want KEY=value")
			continue
		}
		if !kv.HasValue {
			if !fromEnv {
				v.addf(fmt.Sprintf("%s[%d]", key, i), "%q has no value: want KEY=value", kv.Key)
				continue
			}
			// Like `docker build --build-arg KEY`: the value comes from the job's
			// environment, and an unset variable leaves the arg out.
			val, ok := v.env(kv.Key)
			if !ok {
				continue
			}
			kv.Value = val
		}
		out[kv.Key] = kv.Value
	}
	return out
}

func (v *validator) buildContexts(kvs keyValues) map[string]string {
	m := v.keyValues("build-contexts", kvs, false)
	for name, val := range m {
		if isURLContext(val) {
			continue
		}
		p := v.abs(val)
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			v.addf("build-contexts."+name, "directory %s does not exist: give a local directory or docker-image://, target:, oci-layout://, https:// or git URL", p)
			continue
		}
		m[name] = p
	}
	return m
}

func isURLContext(s string) bool {
	for _, p := range []string{"docker-image://", "target:", "oci-layout://", "https://", "http://", "git://", "git@", "ssh://", "input:", "local:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

var cacheTypes = map[string][]string{ // type → required attrs
	"registry": {"ref"},
	"local":    nil, // src for import, dest for export: checked below
	"inline":   nil,
	"s3":       nil,
	"gha":      nil,
	"azblob":   nil,
}

func (v *validator) cacheEntries(key string, entries attrEntries, export bool) []Attrs {
	var out []Attrs
	for i, e := range entries {
		k := fmt.Sprintf("%s[%d]", key, i)
		if e.Err != nil {
			v.addf(k, "%v", e.Err)
			continue
		}
		req, ok := cacheTypes[e.Type]
		if !ok {
			v.addf(k, "unknown cache type %q: use registry, local, inline, s3, gha or azblob", e.Type)
			continue
		}
		if e.Type == "inline" && !export {
			v.addf(k, "type=inline is an export-only cache: to import it use type=registry,ref=<image>")
			continue
		}
		if e.Type == "local" {
			req = []string{"src"}
			if export {
				req = []string{"dest"}
			}
		}
		missing := false
		for _, a := range req {
			if e.Attrs[a] == "" {
				v.addf(k, "type=%s needs %s= (e.g. type=%s,%s=...)", e.Type, a, e.Type, a)
				missing = true
			}
		}
		if missing {
			continue
		}
		if ref := e.Attrs["ref"]; ref != "" {
			if _, err := reference.ParseNormalizedNamed(ref); err != nil {
				v.addf(k, "ref %q is not a valid image reference: %v", ref, err)
				continue
			}
		}
		attrs := e.Attrs
		if export {
			if m := attrs["mode"]; m == "" {
				attrs["mode"] = "min"
			} else if m != "min" && m != "max" {
				v.addf(k, "mode=%s: want mode=min or mode=max", m)
				continue
			}
		}
		if e.Type == "local" {
			for _, a := range []string{"src", "dest"} {
				if p, ok := attrs[a]; ok {
					attrs[a] = v.abs(p)
				}
			}
		}
		out = append(out, Attrs{Type: e.Type, Attrs: attrs})
	}
	return out
}

func (v *validator) outputs(entries attrEntries) []Attrs {
	var out []Attrs
	for i, e := range entries {
		k := fmt.Sprintf("outputs[%d]", i)
		if e.Err != nil {
			v.addf(k, "%v", e.Err)
			continue
		}
		attrs := e.Attrs
		given := e.Type
		switch e.Type {
		case "registry":
			// buildx's alias, missing from older daemons ("exporter "registry"
			// could not be found"): always send it as image,push=true.
			e.Type = "image"
			attrs["push"] = "true"
			fallthrough
		case "image":
			if attrs["name"] == "" {
				v.addf(k, "type=%s needs name= (e.g. name=registry.example.com/app:tag); or use the tags option", given)
				continue
			}
			bad := false
			for _, n := range strings.Split(attrs["name"], ",") {
				if _, err := reference.ParseNormalizedNamed(n); err != nil {
					v.addf(k, "name %q is not a valid image reference: %v", n, err)
					bad = true
				}
			}
			if bad {
				continue
			}
		case "local", "tar", "oci", "docker":
			if attrs["dest"] == "" {
				v.addf(k, "type=%s needs dest= (a path relative to the job's working directory)", e.Type)
				continue
			}
			attrs["dest"] = v.abs(attrs["dest"])
			if e.Type != "local" && attrs["tar"] != "false" {
				if fi, err := os.Stat(attrs["dest"]); err == nil && fi.IsDir() {
					v.addf(k, "dest %s is a directory: type=%s writes a tarball, give a file path", attrs["dest"], e.Type)
					continue
				}
				if fi, err := os.Stat(filepath.Dir(attrs["dest"])); err != nil || !fi.IsDir() {
					v.addf(k, "directory of dest %s does not exist: create it first", attrs["dest"])
					continue
				}
			}
		default:
			v.addf(k, "unknown output type %q: use image, registry, local, tar, oci or docker", e.Type)
			continue
		}
		out = append(out, Attrs{Type: e.Type, Attrs: attrs})
	}
	return out
}

func (v *validator) secrets(entries secretEntries) []Secret {
	var out []Secret
	ids := map[string]bool{}
	for i, e := range entries {
		k := fmt.Sprintf("secrets[%d]", i)
		if e.Err != nil {
			v.addf(k, "%v", e.Err)
			continue
		}
		switch {
		case e.ID == "":
			v.addf(k, "missing id=: want id=NAME,env=VAR or id=NAME,src=PATH")
			continue
		case e.Env != "" && e.Src != "":
			v.addf(k, "secret %q has both env= and src=: give one", e.ID)
			continue
		case ids[e.ID]:
			v.addf(k, "secret id %q is given twice", e.ID)
			continue
		}
		ids[e.ID] = true
		if e.Env == "" && e.Src == "" {
			// Like buildctl: a bare id reads the variable of the same name.
			e.Env = e.ID
		}
		if e.Env != "" {
			if _, ok := v.env(e.Env); !ok {
				v.addf(k, "secret %q: environment variable %s is not set: export it in the job (e.g. from the agent's secrets) or use src=", e.ID, e.Env)
				continue
			}
		} else {
			e.Src = v.abs(expandHome(e.Src, v.env))
			if fi, err := os.Stat(e.Src); err != nil || fi.IsDir() {
				v.addf(k, "secret %q: file %s does not exist", e.ID, e.Src)
				continue
			}
		}
		out = append(out, Secret{ID: e.ID, Env: e.Env, Src: e.Src})
	}
	return out
}

func (v *validator) ssh(entries sshList) []SSH {
	var out []SSH
	for i, s := range entries {
		k := fmt.Sprintf("ssh[%d]", i)
		id, paths, hasPaths := strings.Cut(s, "=")
		if id == "" {
			v.addf(k, "%q: want default or id=/path/to/socket-or-key", s)
			continue
		}
		e := SSH{ID: id}
		if hasPaths {
			for _, p := range strings.Split(paths, ",") {
				p = v.abs(expandHome(p, v.env))
				if _, err := os.Stat(p); err != nil {
					v.addf(k, "ssh %q: %s does not exist", id, p)
					continue
				}
				e.Paths = append(e.Paths, p)
			}
		} else if v.env.Get("SSH_AUTH_SOCK") == "" {
			v.addf(k, "ssh %q uses the SSH agent but SSH_AUTH_SOCK is not set: start an agent in the job or give id=/path/to/key", id)
			continue
		}
		out = append(out, e)
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func expandHome(p string, env Env) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return filepath.Join(env.Get("HOME"), strings.TrimPrefix(p, "~"))
	}
	return p
}

// Keys returns the option names the schema defines, sorted.
func Keys() ([]string, error) {
	_, keys, err := Schema()
	return append([]string(nil), keys...), err
}

// SortedKeys returns m's keys in order (for deterministic frontend attrs and logs).
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RegistryHosts lists the registries the build talks to that the
// configuration names: tags, image outputs and registry caches (base images
// in FROM lines are only known to the daemon).
func (c *Config) RegistryHosts() []string {
	seen := map[string]bool{}
	var out []string
	add := func(ref string) {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return
		}
		h := NormalizeRegistry(reference.Domain(named))
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, t := range c.Tags {
		add(t)
	}
	for _, o := range c.Outputs {
		for _, n := range strings.Split(o.Attrs["name"], ",") {
			add(n)
		}
	}
	for _, e := range append(append([]Attrs{}, c.CacheFrom...), c.CacheTo...) {
		if e.Attrs["ref"] != "" {
			add(e.Attrs["ref"])
		}
	}
	return out
}

// CertPrefixes lists where a certificate set is looked for in the secrets
// bucket, in precedence order: <pipeline-slug>/<prefix>/ then <prefix>/,
// as the Elastic CI Stack's own secrets hooks do.
func (c *Config) CertPrefixes(prefix string) []string {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	var out []string
	if c.PipelineSlug != "" {
		out = append(out, c.PipelineSlug+"/"+p)
	}
	return append(out, p)
}
