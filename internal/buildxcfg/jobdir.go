package buildxcfg

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Job is a job-private docker config directory (the job's DOCKER_CONFIG):
// config.json, the buildx store in buildx/ (BUILDX_CONFIG), the credential
// helper's link in bin/, and links to everything else of the user's docker
// config directory (cli-plugins, contexts, ...). Nothing in it is secret.
type Job struct{ Dir string }

// markerFile marks a directory this tool created (and may remove); it holds
// the job's ID.
const markerFile = ".remote-buildkit-buildx-job"

// configFile is docker's config file name in a config directory.
const configFile = "config.json"

// own are the names in a job directory that are not links to the user's.
var own = []string{markerFile, configFile, "buildx", "bin"}

// CreateJob makes a new 0700 job directory under parent (os.TempDir when
// ""), marked with jobID.
func CreateJob(parent, jobID string) (Job, error) {
	dir, err := os.MkdirTemp(parent, "remote-buildkit-buildx-")
	if err != nil {
		return Job{}, fmt.Errorf("create the job's buildx directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, markerFile), []byte(jobID), 0o600); err != nil {
		os.RemoveAll(dir)
		return Job{}, fmt.Errorf("create the job's buildx directory: %w", err)
	}
	return Job{Dir: dir}, nil
}

// OpenJob returns the job directory dir when this tool created it for jobID
// (any job when jobID is ""); ok is false for anything else.
func OpenJob(dir, jobID string) (Job, bool) {
	if dir == "" || !filepath.IsAbs(dir) {
		return Job{}, false
	}
	b, err := os.ReadFile(filepath.Join(dir, markerFile))
	if err != nil || (jobID != "" && string(b) != "" && string(b) != jobID) {
		return Job{}, false
	}
	return Job{Dir: dir}, true
}

// BuildxDir is the job's BUILDX_CONFIG.
func (j Job) BuildxDir() string { return filepath.Join(j.Dir, "buildx") }

// BinDir holds the credential helper's link; it goes first on the job's PATH.
func (j Job) BinDir() string { return filepath.Join(j.Dir, "bin") }

// Remove deletes the job directory; links are removed, not followed.
func (j Job) Remove() error { return os.RemoveAll(j.Dir) }

// LinkHelper makes bin/<program> a link to the executable exe, so docker
// finds the credential helper on PATH.
func (j Job) LinkHelper(program, exe string) error {
	if err := os.MkdirAll(j.BinDir(), 0o700); err != nil {
		return err
	}
	link := filepath.Join(j.BinDir(), program)
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Symlink(exe, link)
}

// LinkUserEntries links every entry of the user's docker config directory
// userDir into the job directory (cli-plugins, contexts, certificates for
// DOCKER_TLS_VERIFY, ...) except config.json and buildx, which the job has
// its own of: docker then finds them where it looks, in $DOCKER_CONFIG. A
// missing userDir has nothing to link.
func (j Job) LinkUserEntries(userDir string) error {
	entries, err := os.ReadDir(userDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the docker config directory %s: %w", userDir, err)
	}
	for _, e := range entries {
		if slices.Contains(own, e.Name()) {
			continue
		}
		link := filepath.Join(j.Dir, e.Name())
		if _, err := os.Lstat(link); err == nil {
			continue // linked by an earlier run for this job
		}
		if err := os.Symlink(filepath.Join(userDir, e.Name()), link); err != nil {
			return err
		}
	}
	return nil
}

// WriteDockerConfig writes the job's config.json: the user's (read from
// userDir, never written) without its plain-text logins ("auths"), with
// the credential helper name as credsStore (every registry) and in
// credHelpers for the served hosts (which a user's helper would otherwise
// answer). The user's logins stay reachable through that helper, which
// reads their config.
func (j Job) WriteDockerConfig(userDir, helper string, served []string) error {
	doc := map[string]json.RawMessage{}
	b, err := os.ReadFile(filepath.Join(userDir, configFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("read %s: %w (fix the JSON or point DOCKER_CONFIG elsewhere)", filepath.Join(userDir, configFile), err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read %s: %w", filepath.Join(userDir, configFile), err)
	}
	helpers := map[string]string{}
	if raw, ok := doc["credHelpers"]; ok {
		_ = json.Unmarshal(raw, &helpers) // a malformed entry is dropped, as docker would fail on it
	}
	for _, h := range served {
		helpers[h] = helper
	}
	delete(doc, "auths")
	doc["credsStore"], _ = json.Marshal(helper)
	if len(helpers) > 0 {
		doc["credHelpers"], _ = json.Marshal(helpers)
	}
	out, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(j.Dir, configFile), out, 0o600)
}

// PrependPath returns the PATH value with dir first (once).
func PrependPath(dir, path string) string {
	var keep []string
	for _, p := range filepath.SplitList(path) {
		if p != dir && p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(append([]string{dir}, keep...), string(filepath.ListSeparator))
}
