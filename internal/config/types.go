package config

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
)

// Defaults.
const (
	DefaultConnectTimeout = 20 * time.Second
	DefaultRetries        = 1
	DefaultTLSDirName     = ".buildkit"
	DefaultMaxLoadFactor  = 1.25
	DefaultBuildxBuilder  = "remote-buildkit" // buildx: true
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
	MaxLoadFactor  float64 // a pool member's bound: ceil(factor × (running + 1) / members)
	DNSServer      string  // "host:port" resolving dns:// daemon addresses; "" = the system's resolver

	Image // the image's build options: what solve.Request carries

	// Elastic CI Stack integration.
	RequireTLS          bool
	InsecureRegistries  []string // normalised hosts the user allows plain HTTP to (insecure-registries)
	SecretsBucket       string   // "" when certificates are not fetched from S3
	SecretsRegion       string   // "" to look it up
	SecretsPrefix       string
	SecretsObjects      Objects
	PipelineSlug        string
	ECR                 ECR
	RegistryCredentials []RegistryCredential
	DockerConfig        bool
	Buildx              string // the job's buildx builder name; "" = no builder
	ContextKey          ContextKey
	Bake                *Bake // bake: the step's bake files; nil for one image

	VersionCheck string // off, warn or strict
	Diagnose     bool

	// Results for later steps.
	Annotate bool
	MetaData MetaData
	Artifact bool
	Insights bool // per-step timings in the metadata file and the annotation
	// InsightsRecord uploads the daemon's build record (insights: {record: true}).
	InsightsRecord bool

	Progress     string
	MetadataFile string // absolute, "" for none
	MetadataRoot string // the checkout when metadata-file is relative to it: written through an os.Root
	Timeout      time.Duration
	Retries      int // runs again after an infrastructure failure

	// Options are the top-level options the configuration sets, sorted.
	Options []string
	// Plugins are the names of the step's plugins, in order, as the agent
	// derives them from BUILDKITE_PLUGINS ("docker-compose", "remote-buildkit").
	Plugins []string
}

// Image is one image's build options, as the build request carries them
// (solve.NewRequest takes a deep copy): the context and Dockerfile, what
// the frontend gets, the exporters and the session's secrets. A new build
// option is a field here, its decode/check in this package, and its SolveOpt
// mapping in internal/solve.
type Image struct {
	ContextDir    string       // absolute
	ContextScope  ContextScope // whose context state it is: the session key's inputs (internal/contextkey)
	Dockerfile    string       // absolute
	Target        string
	BuildArgs     map[string]string
	Labels        map[string]string
	BuildContexts map[string]string
	ContextSync   ContextSync // how those directories travel to the daemon

	Tags      []string // normalised references
	Push      bool
	Load      bool     // also into the agent's Docker engine (single platform)
	Platforms []string // normalised platform strings
	NoCache   bool

	// docker/build-push-action's inputs, in the form the frontend takes
	// them (as buildx sends them).
	Call           string            // build, check, outline or targets
	Annotations    map[string]string // exporter attr (annotation.K, annotation-manifest[linux/arm64].K, ...) → value
	NoCacheFilters []string          // stages rebuilt without the cache
	Pull           bool              // image-resolve-mode=pull
	AddHosts       []string          // "host=ip"
	Network        string            // "" (default), none or host
	Allow          []string          // entitlements: network.host, security.insecure, device[=NAME]
	ShmSize        int64             // bytes; 0 = the daemon's default
	Ulimits        []string          // "name=soft:hard", sorted by name

	CacheFrom []Attrs
	CacheTo   []Attrs
	Outputs   []Attrs
	Secrets   []Secret
	SSH       []SSH

	Provenance *string // nil: off; otherwise the attest:provenance value
	SBOM       *string

	// GitContext is set by git-context: the daemon fetches the context and
	// the Dockerfile from the job's repository at its commit, and nothing of
	// them is uploaded (local build-contexts still are).
	GitContext *GitContext
	// SourceDateEpoch is the build-arg:SOURCE_DATE_EPOCH the build gets
	// (from the job's environment, or the commit's time with reproducible);
	// "" when build-args sets it or nothing does.
	SourceDateEpoch string
	// Reproducible adds rewrite-timestamp=true to every image, oci and
	// docker exporter (layer timestamps clamped to SourceDateEpoch).
	Reproducible bool
	// CacheMountNS is the build-arg:BUILDKIT_CACHE_MOUNT_NS that keeps RUN
	// --mount=type=cache mounts apart per pipeline (cache-mounts: pipeline);
	// "" for cache-mounts: shared or when build-args sets it.
	CacheMountNS string
}

// GitContext is where the daemon fetches the build's sources from
// (gitcontext.Context), as check_git.go reads it from git-context.
type GitContext = gitcontext.Context

// Clone is a deep copy: nothing of it is shared with i.
func (i Image) Clone() Image { return deepCopy(i) }

// ContextSync is how the local directories (context, Dockerfile directory,
// local build-contexts) are sent to the daemon.
type ContextSync struct {
	Mode     string // content (mtimes derived from content) or mtime (real mtimes)
	CacheDir string // the agent's hash cache; "" when neither XDG_CACHE_HOME nor HOME is set
	// GitAttributes is the user's git attributes file git applies to the
	// checkout ($XDG_CONFIG_HOME/git/attributes, else
	// ~/.config/git/attributes); "" when neither is set.
	GitAttributes string
}

// ContextScope is what the daemon's copy of a local directory belongs to:
// the session shared key is a keyed tag over it (internal/contextkey), so
// only builds of the same organization, pipeline, trust domain and context
// directory, holding the same key, diff against the same copy.
type ContextScope struct {
	Org, Pipeline string
	Domain        string // TrustBranch or TrustPullRequest
	Dir           string // the context directory relative to the job's working directory, slash-separated
}

// Trust domains of a pipeline's builds on the daemon.
const (
	TrustBranch      = "branch"       // branch (release) builds
	TrustPullRequest = "pull-request" // builds of a pull request: their own cache mounts and context state
)

// ContextKey is the context-key option: where the secret keying the
// context state comes from; both "" = derived from the client
// certificate's private key.
type ContextKey struct {
	Env    string // the job's environment variable holding it
	Secret string // the Buildkite secret holding it (buildkite-agent secret get)
}

// Attrs is a typed "type=...,k=v" entry (cache import/export or output).
type Attrs struct {
	Type  string
	Attrs map[string]string
	// Root is the checkout when an output's dest was given relative to it:
	// the output is written through an os.Root on it (internal/checkout).
	Root string
}

// Secret is a build secret read from an environment variable or a file.
type Secret struct {
	ID, Env, Src string
}

// Node is one BuildKit daemon: its address and how to authenticate to it.
// It is the only description of a daemon; solve.Connect dials one.
type Node struct {
	Name          string
	Host          string
	Platforms     []string // declared; empty = discovered from the workers
	TLSDir        string
	TLSDirSet     bool   // tls-dir was configured explicitly: its files are required
	SecretsPrefix string // "" = the certificates in TLSDir are used as they are
	TLSServerName string
	// TLS is the job's TLS decision for this daemon, made once in job set-up
	// (solve.DecideTLS) and used by every dial; TLSWhy names what asked.
	TLS    TLSMode
	TLSWhy string
}

// TLSMode is a job's TLS decision for a daemon.
type TLSMode int

// TLS decisions.
const (
	TLSUndecided TLSMode = iota // not decided yet (decided at the dial from the node alone)
	TLSOff                      // plaintext: nothing asked for TLS
	TLSServer                   // server-authenticated TLS: ca.pem only
	TLSMutual                   // mTLS: ca.pem, cert.pem and key.pem
)

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
	// Command is the command hook's read (Read): Build for a step that
	// builds the plugin's own image, Environment for one that does not
	// (see checkedAs).
	Command
)

// SSH is an SSH agent socket or key set forwarded under an ID.
type SSH struct {
	ID    string
	Paths []string
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

// Bake is a bake step's own options: what `docker buildx bake` is asked
// for, and what the step grants its bake and compose files (nil for a
// single-image step).
type Bake struct {
	Files   []string // as given, relative to the working directory
	Targets []string // empty: the default group
	Set     []string // --set overrides
	// Env names the job's variables the files may read although they look
	// secret (bake-env).
	Env []string
	// Allow is the step's allow list in buildx's --allow vocabulary
	// (network.host, fs.read=PATH, image.push=PATTERN, buildx.local.delete…):
	// what bake's entitlement checks grant. Relative paths are made
	// absolute against the working directory.
	Allow []string
	// SecretEnv names the variables the plugin itself treats as secret
	// (registry-credentials passwords, the git-context token, GIT_AUTH_TOKEN).
	SecretEnv []string
	// ForkPR: the job builds a pull request from another repository
	// (BUILDKITE_PULL_REQUEST is a number and BUILDKITE_PULL_REQUEST_REPO
	// differs from BUILDKITE_REPO).
	ForkPR bool

	step    map[string]json.RawMessage // the step's other options, under each target's
	env     Env
	workDir string
}
