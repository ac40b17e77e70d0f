package buildflags

import (
	"strconv"
	"strings"

	"github.com/moby/buildkit/sourcepolicy/policysession"
	"github.com/pkg/errors"
	"github.com/sirupsen/logrus"
	"github.com/tonistiigi/go-csvvalue"
)

// PolicyFile is buildx's policy.File (remote-buildkit: defined here so the
// bake parser does not link buildx's policy engine).
type PolicyFile struct {
	Filename string
	Data     []byte
}

type PolicyConfig struct {
	Files    []PolicyFile
	Reset    bool
	Disabled bool
	Strict   *bool
	LogLevel *logrus.Level

	// Callback, when non-nil, is a programmatic policy evaluator. Set in
	// code (not from CLI flags) for cases like `buildx replay` that
	// enforce pinning without loading a policy file. A config with a
	// Callback must not set Files; callbacks run after the file-based
	// policies of other configs.
	Callback policysession.PolicyCallback `json:"-"`
}

func ParsePolicyConfigs(in []string) ([]PolicyConfig, error) {
	if len(in) == 0 {
		return nil, nil
	}

	out := make([]PolicyConfig, 0, len(in))
	for _, s := range in {
		cfg, err := ParsePolicyConfig(s)
		if err != nil {
			return nil, err
		}
		out = append(out, cfg)
	}
	return out, nil
}

func ParsePolicyConfig(value string) (PolicyConfig, error) {
	fields, err := csvvalue.Fields(value, nil)
	if err != nil {
		return PolicyConfig{}, err
	}
	return parsePolicyFields(fields)
}

func parsePolicyFields(fields []string) (PolicyConfig, error) {
	cfg := PolicyConfig{}
	for _, field := range fields {
		key, value, ok := strings.Cut(field, "=")
		if !ok {
			return PolicyConfig{}, errors.Errorf("invalid value %s", field)
		}
		key = strings.TrimSpace(strings.ToLower(key))
		switch key {
		case "filename":
			if value == "" {
				return PolicyConfig{}, errors.Errorf("invalid value %s", field)
			}
			cfg.Files = append(cfg.Files, PolicyFile{Filename: value})
		case "reset":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return PolicyConfig{}, errors.Wrapf(err, "invalid value %s", field)
			}
			cfg.Reset = b
		case "disabled":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return PolicyConfig{}, errors.Wrapf(err, "invalid value %s", field)
			}
			cfg.Disabled = b
		case "strict":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return PolicyConfig{}, errors.Wrapf(err, "invalid value %s", field)
			}
			cfg.Strict = &b
		case "log-level":
			lvl, err := logrus.ParseLevel(value)
			if err != nil {
				return PolicyConfig{}, errors.Wrapf(err, "invalid value %s", field)
			}
			cfg.LogLevel = &lvl
		default:
			return PolicyConfig{}, errors.Errorf("invalid value %s", field)
		}
	}
	return cfg, nil
}
