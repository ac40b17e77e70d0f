// Package buildxcfg sets up a job-private buildx builder with the remote
// driver: the builder's files in buildx's own store format (what `docker
// buildx create --driver remote` writes), the job's docker config directory
// around it, and the builder's connection for checking it.
package buildxcfg

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Driver is the buildx driver of every builder written here.
const Driver = "remote"

// Builder is a buildx builder: one node, or one per platform group of a
// split.
type Builder struct {
	Name  string
	Nodes []Node
}

// Node is one buildx node of the remote driver: a BuildKit endpoint and the
// driver options (cacert, cert, key, servername, default-load).
type Node struct {
	Name       string
	Endpoint   string
	Platforms  []string // declared platforms ("linux/arm64"); empty = what the daemon's workers report
	DriverOpts map[string]string
}

// validName is buildx's rule for builder and node names (store.ValidateName).
var validName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9\.\-_]*$`)

// ValidName reports whether buildx accepts s as a builder or node name.
func ValidName(s string) bool { return validName.MatchString(s) }

// NodeName turns a daemon's name ("amd64", "127.0.0.31:1260") into a buildx
// node name of builder: letters, digits, '.', '-' and '_', starting with a
// letter (else prefixed with the builder's name).
func NodeName(builder, s string) string {
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
	if !ValidName(n) {
		n = builder + "-" + n
	}
	return strings.ToLower(n)
}

// The store's files, as buildx v0.38.2 reads them (store/store.go,
// store/nodegroup.go): instances/<name> is the node group as JSON,
// activity/<name> its last use, current the selected builder.
const (
	instancesDir = "instances"
	activityDir  = "activity"
	defaultsDir  = "defaults"
	currentFile  = "current"
)

// storeNodeGroup and storeNode mirror buildx's store.NodeGroup and store.Node
// (their JSON field names; Flags is BuildkitdFlags' stored name).
type storeNodeGroup struct {
	Name    string
	Driver  string
	Nodes   []storeNode
	Dynamic bool
}

type storeNode struct {
	Name       string
	Endpoint   string
	Platforms  []ocispecs.Platform
	DriverOpts map[string]string
	Flags      []string
	Files      map[string][]byte
}

// storeCurrent mirrors buildx's store.current: Global selects the builder
// whatever the docker context.
type storeCurrent struct {
	Key    string
	Name   string
	Global bool
}

// Write writes b into the buildx config directory dir (BUILDX_CONFIG) as its
// only builder and makes it the current one; now is its last activity.
// Builders written before into dir are replaced.
func (b Builder) Write(dir string, now time.Time) error {
	if !ValidName(b.Name) {
		return fmt.Errorf("buildx builder name %q: use letters, digits, '.', '-' and '_', starting with a letter", b.Name)
	}
	name := strings.ToLower(b.Name)
	group := storeNodeGroup{Name: name, Driver: Driver}
	for _, n := range b.Nodes {
		ps, err := parsePlatforms(n.Platforms)
		if err != nil {
			return err
		}
		group.Nodes = append(group.Nodes, storeNode{Name: n.Name, Endpoint: n.Endpoint, Platforms: ps, DriverOpts: n.DriverOpts})
	}
	for _, sub := range []string{instancesDir, activityDir} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return fmt.Errorf("buildx config %s: %w", dir, err)
		}
	}
	for _, sub := range []string{instancesDir, activityDir, defaultsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("buildx config %s: %w", dir, err)
		}
	}
	ng, err := json.Marshal(group)
	if err != nil {
		return err
	}
	cur, err := json.Marshal(storeCurrent{Name: name, Global: true})
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{filepath.Join(instancesDir, name), ng},
		{filepath.Join(activityDir, name), []byte(now.UTC().Format(time.RFC3339))},
		{currentFile, cur},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.path), f.data, 0o600); err != nil {
			return fmt.Errorf("buildx config %s: %w", dir, err)
		}
	}
	return nil
}

func parsePlatforms(in []string) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	for _, s := range in {
		p, err := platforms.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("platform %q: %w", s, err)
		}
		out = append(out, platforms.Normalize(p))
	}
	return out, nil
}
