package config

import (
	"os"
	"path/filepath"
)

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
}
