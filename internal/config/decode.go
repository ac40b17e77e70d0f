package config

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The schema has already checked shapes when these decoders run; they only
// normalise the accepted spellings (string or list, map or "K=V" list, ...).

// raw mirrors the schema; the decoders below normalise each shape.
type raw struct {
	BuildkitHost   *stringList   `json:"buildkit-host"`
	Nodes          []rawNode     `json:"nodes"`
	TLSDir         *string       `json:"tls-dir"`
	TLSServerName  string        `json:"tls-server-name"`
	ConnectTimeout *duration     `json:"connect-timeout"`
	Dockerfile     string        `json:"dockerfile"`
	Context        string        `json:"context"`
	ContextSync    string        `json:"context-sync"`
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
	InsecureRegs   stringList    `json:"insecure-registries"`
	SecretsBucket  *string       `json:"secrets-bucket"`
	SecretsRegion  string        `json:"secrets-region"`
	SecretsPrefix  *string       `json:"secrets-prefix"`
	SecretsObjects struct {
		CA   string `json:"ca"`
		Cert string `json:"cert"`
		Key  string `json:"key"`
	} `json:"secrets-objects"`
	ECR                 ecrOption               `json:"ecr"`
	RegistryCredentials []rawRegistryCredential `json:"registry-credentials"`
	DockerConfig        bool                    `json:"docker-config"`
	Buildx              buildxOption            `json:"buildx"`
	VersionCheck        string                  `json:"version-check"`
	Annotate            *bool                   `json:"annotate"`
	MetaData            metaDataOption          `json:"meta-data"`
	Artifact            bool                    `json:"artifact"`
	Diagnose            bool                    `json:"diagnose"`
	Progress            string                  `json:"progress"`
	Provenance          attestation             `json:"provenance"`
	SBOM                attestation             `json:"sbom"`
	MetadataFile        string                  `json:"metadata-file"`
	Timeout             *duration               `json:"timeout"`
	Retries             *int                    `json:"retries"`
	MaxLoadFactor       *float64                `json:"max-load-factor"`
	DNSServer           string                  `json:"dns-server"`
	Insights            json.RawMessage         `json:"insights"` // true/false, or {record} (on)
	Load                bool                    `json:"load"`
	Call                string                  `json:"call"`
	Annotations         lineList                `json:"annotations"`
	NoCacheFilters      stringList              `json:"no-cache-filters"`
	Pull                bool                    `json:"pull"`
	AddHosts            stringList              `json:"add-hosts"`
	Network             string                  `json:"network"`
	Allow               stringList              `json:"allow"`
	ShmSize             *scalar                 `json:"shm-size"`
	Ulimit              stringList              `json:"ulimit"`
	GitContext          gitContextOption        `json:"git-context"`
	Reproducible        bool                    `json:"reproducible"`
	CacheMounts         string                  `json:"cache-mounts"`
	ContextKey          *ContextKey             `json:"context-key"`
	Bake                plainList               `json:"bake"`
	Targets             plainList               `json:"targets"`
	Set                 plainList               `json:"set"`
	BakeEnv             stringList              `json:"bake-env"`
}

// rawNode is one entry of nodes.
type rawNode struct {
	Name          string     `json:"name"`
	Host          string     `json:"host"`
	Platforms     stringList `json:"platforms"`
	TLSDir        *string    `json:"tls-dir"`
	SecretsPrefix *string    `json:"secrets-prefix"`
	TLSServerName string     `json:"tls-server-name"`
}

// rawRegistryCredential is one entry of registry-credentials.
type rawRegistryCredential struct {
	Registry    string `json:"registry"`
	UsernameEnv string `json:"username-env"`
	PasswordEnv string `json:"password-env"`
}

// stringList decodes "a,b" or ["a", "b"].
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var items plainList
	if err := items.UnmarshalJSON(b); err != nil {
		return err
	}
	*l = nil
	for _, item := range items {
		*l = append(*l, splitList(item)...)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// plainList decodes "a" or ["a", "b"], never splitting a string (bake
// files, targets and --set overrides, whose values may hold commas).
type plainList []string

func (l *plainList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = []string{s}
		return nil
	}
	var items []string
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	*l = items
	return nil
}

// lineList decodes "a\nb" or ["a", "b"]: only lines split a string, so
// entries may hold commas (annotation values, "manifest,index:key=v").
type lineList []string

func (l *lineList) UnmarshalJSON(b []byte) error {
	var items []string
	if err := json.Unmarshal(b, &items); err != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		items = []string{s}
	}
	*l = nil
	for _, item := range items {
		for _, line := range strings.Split(item, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				*l = append(*l, line)
			}
		}
	}
	return nil
}

// scalar decodes a string or a number as its text.
type scalar string

func (s *scalar) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = scalar(scalarString(v))
	return nil
}

// keyValue is one entry of a map or "K=V" list; HasValue is false for a bare "K".
type keyValue struct {
	Key      string
	Value    string
	HasValue bool
}

// keyValues decodes {"K": "v"} or ["K=v", "K"], sorted by key for stable output.
type keyValues []keyValue

func (kv *keyValues) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err == nil {
		*kv = nil
		for k, v := range m {
			*kv = append(*kv, keyValue{Key: k, Value: scalarString(v), HasValue: true})
		}
		sort.Slice(*kv, func(i, j int) bool { return (*kv)[i].Key < (*kv)[j].Key })
		return nil
	}
	var items []string
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	*kv = nil
	for _, item := range items {
		k, v, ok := strings.Cut(item, "=")
		*kv = append(*kv, keyValue{Key: k, Value: v, HasValue: ok})
	}
	return nil
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// decodeEntries decodes one entry or a list of them, each a string (read by
// fromString) or an object (decoded into O, then read by fromObject).
func decodeEntries[E, O any](b []byte, fromString func(string) E, fromObject func(O) E) ([]E, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		raw = []json.RawMessage{b}
	}
	var out []E
	for _, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			out = append(out, fromString(s))
			continue
		}
		var obj O
		if err := json.Unmarshal(r, &obj); err != nil {
			return out, err
		}
		out = append(out, fromObject(obj))
	}
	return out, nil
}

// attrEntry is a buildctl-style "type=x,k=v" entry, given as a string or an object.
type attrEntry struct {
	Type  string
	Attrs map[string]string
	Err   error // a string that does not parse; reported by validate with its key
}

type attrEntries []attrEntry

func (a *attrEntries) UnmarshalJSON(b []byte) error {
	var err error
	*a, err = decodeEntries(b, func(s string) (e attrEntry) {
		e.Type, e.Attrs, e.Err = parseAttrString(s)
		return e
	}, attrEntryFromObject)
	return err
}

func attrEntryFromObject(m map[string]any) attrEntry {
	e := attrEntry{Attrs: map[string]string{}}
	for k, v := range m {
		if k == "type" {
			e.Type = scalarString(v)
			continue
		}
		e.Attrs[strings.ToLower(k)] = scalarString(v)
	}
	return e
}

// parseAttrString parses "type=registry,ref=x,mode=max" (CSV, so values may be quoted).
func parseAttrString(s string) (string, map[string]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.TrimLeadingSpace = true
	fields, err := r.Read()
	if err != nil {
		return "", nil, fmt.Errorf("%q is not a comma-separated list of key=value: %w", s, err)
	}
	typ := ""
	attrs := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", nil, fmt.Errorf("%q: %q is not key=value", s, f)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "type" {
			typ = v
			continue
		}
		attrs[k] = v
	}
	if typ == "" {
		return "", nil, fmt.Errorf("%q has no type= (e.g. type=registry,ref=...; in a YAML flow list [a,b] commas split entries: use a block list)", s)
	}
	return typ, attrs, nil
}

// secretEntry is "id=x,env=Y", "id=x,src=path" or the same as an object.
type secretEntry struct {
	ID, Env, Src string
	Err          error
}

type secretEntries []secretEntry

func (s *secretEntries) UnmarshalJSON(b []byte) error {
	var err error
	*s, err = decodeEntries(b, parseSecretString, func(obj struct{ ID, Env, Src string }) secretEntry {
		return secretEntry{ID: obj.ID, Env: obj.Env, Src: obj.Src}
	})
	return err
}

func parseSecretString(str string) secretEntry {
	var e secretEntry
	r := csv.NewReader(strings.NewReader(str))
	fields, err := r.Read()
	if err != nil {
		e.Err = fmt.Errorf("%q is not a comma-separated list of key=value: %w", str, err)
		return e
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			e.Err = fmt.Errorf("%q: %q is not key=value (want id=NAME,env=VAR or id=NAME,src=PATH)", str, f)
			return e
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "id":
			e.ID = v
		case "env":
			e.Env = v
		case "src", "source":
			e.Src = v
		case "type":
			if v != "env" && v != "file" {
				e.Err = fmt.Errorf("%q: type must be env or file", str)
				return e
			}
		default:
			e.Err = fmt.Errorf("%q: unknown key %q (want id=NAME,env=VAR or id=NAME,src=PATH)", str, k)
			return e
		}
	}
	return e
}

// sshList decodes true ("default"), "default", "id=path" or a list of those.
type sshList []string

func (l *sshList) UnmarshalJSON(b []byte) error {
	var on bool
	if err := json.Unmarshal(b, &on); err == nil {
		*l = nil
		if on {
			*l = []string{"default"}
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = []string{s}
		return nil
	}
	var items []string
	err := json.Unmarshal(b, &items)
	*l = items
	return err
}

// attestation decodes true/false or a parameter string; Set is false when off.
type attestation struct {
	Set   bool
	Value string
}

func (a *attestation) UnmarshalJSON(b []byte) error {
	var on bool
	if err := json.Unmarshal(b, &on); err == nil {
		*a = attestation{Set: on}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "false", "0", "off", "none", "":
		*a = attestation{}
	case "true", "1", "on":
		*a = attestation{Set: true}
	default:
		*a = attestation{Set: true, Value: s}
	}
	return nil
}

// duration decodes "10m" or a number of seconds.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var secs float64 // the schema allows integers only, which JSON may spell 90.0 or 1e2
	if err := json.Unmarshal(b, &secs); err == nil {
		*d = duration(time.Duration(secs * float64(time.Second)))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// ecrOption decodes ecr: true/false, or {region, account-ids, assume-role}.
// Err is an object it could not read, reported by the validator with its key.
type ecrOption struct {
	Off                bool
	Region, AssumeRole string
	AccountIDs         []string
	Err                error
}

func (e *ecrOption) UnmarshalJSON(b []byte) error {
	*e = ecrOption{}
	if string(b) == "null" { // as if not given
		return nil
	}
	var obj struct {
		Region     string          `json:"region"`
		AccountIDs json.RawMessage `json:"account-ids"`
		AssumeRole string          `json:"assume-role"`
	}
	e.Off, e.Err = switchOrObject(b, &obj)
	e.Region, e.AssumeRole, e.AccountIDs = obj.Region, obj.AssumeRole, accountIDs(obj.AccountIDs)
	return nil
}

// accountIDs reads "1,2", 1 or ["1", 2] (the schema allows each).
func accountIDs(js json.RawMessage) []string {
	if len(js) == 0 {
		return nil
	}
	lists, _ := decodeEntries(js, splitList, func(n json.RawMessage) []string { // a RawMessage always decodes
		return []string{strings.TrimSpace(string(n))}
	})
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// metaDataOption decodes meta-data: true/false, or {key, per-tag}.
type metaDataOption struct {
	Off    bool
	Key    string
	PerTag bool
}

func (m *metaDataOption) UnmarshalJSON(b []byte) error {
	var obj struct {
		Key    string `json:"key"`
		PerTag bool   `json:"per-tag"`
	}
	off, _ := switchOrObject(b, &obj) // shape checked by the schema
	*m = metaDataOption{Off: off, Key: obj.Key, PerTag: obj.PerTag}
	return nil
}

// value is the option's setting, on with the default key when not given.
func (m metaDataOption) value() MetaData {
	return MetaData{Enabled: !m.Off, Key: orDefault(m.Key, DefaultMetaDataKey), PerTag: m.PerTag}
}

// gitContextOption decodes git-context: true/false, or {token-env}.
type gitContextOption struct {
	On       bool
	TokenEnv string
}

func (g *gitContextOption) UnmarshalJSON(b []byte) error {
	var obj struct {
		TokenEnv string `json:"token-env"`
	}
	off, err := switchOrObject(b, &obj) // shape checked by the schema
	*g = gitContextOption{On: !off && err == nil, TokenEnv: obj.TokenEnv}
	return nil
}

// switchOrObject decodes an option that is a boolean switch or an object
// (which leaves it on): off is the switch turned off, err is obj's decoding
// error.
func switchOrObject(b []byte, obj any) (off bool, err error) {
	var on bool
	if json.Unmarshal(b, &on) == nil {
		return !on, nil
	}
	return false, json.Unmarshal(b, obj)
}

// buildxOption decodes buildx: true (the default builder name), false, or a
// builder name.
type buildxOption string

func (o *buildxOption) UnmarshalJSON(b []byte) error {
	var on bool
	if json.Unmarshal(b, &on) == nil {
		*o = ""
		if on {
			*o = DefaultBuildxBuilder
		}
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	*o = buildxOption(name)
	return nil
}
