package config

import (
	"errors"
	"os"
	"path/filepath"

	inside "github.com/remote-buildkit/remote-buildkit/internal/checkout"
)

// InsightsDir is where the job writes the insights files (the timeline
// picture, the build record), relative to the checkout.
const InsightsDir = ".remote-buildkit"

// insightsDir checks that the insights files can be written in the
// checkout: a committed .remote-buildkit link out of it is refused before
// anything is built (the writes go through an os.Root as well).
func (v *validator) insightsDir() {
	if !v.files {
		return
	}
	_, err := inside.Resolve(v.workDir, InsightsDir)
	if err == nil {
		return
	}
	if errors.As(err, new(*inside.LinkError)) {
		v.addf("insights", "%s: %v: remove the link from the checkout, or set insights: false", InsightsDir, err)
		return
	}
	v.addf("insights", "%s: %v", InsightsDir, err)
}

// reporting reads progress, insights, the attestations and metadata-file.
func (v *validator) reporting(r *raw, c *Config) {
	if c.Progress == "" {
		c.Progress = "auto"
		if v.env.Get("BUILDKITE") != "" {
			c.Progress = "plain"
		}
	}
	c.Insights = v.env.Get("BUILDKITE") != ""
	if r.Insights != nil {
		var obj struct {
			Record bool `json:"record"`
		}
		off, _ := switchOrObject(r.Insights, &obj) // shape checked by the schema
		c.Insights, c.InsightsRecord = !off, obj.Record
	}
	if c.Insights {
		v.insightsDir()
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
		var in, ok bool
		if c.MetadataFile, in, ok = v.path("metadata-file", "", r.MetadataFile); !ok {
			return
		}
		if in {
			c.MetadataRoot = v.workDir
		}
		if fi, err := os.Stat(filepath.Dir(c.MetadataFile)); err != nil || !fi.IsDir() {
			v.addf("metadata-file", "directory %s does not exist: create it or point metadata-file elsewhere", filepath.Dir(c.MetadataFile))
		}
	}
}
