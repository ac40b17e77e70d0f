package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
)

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
		if e.Type == "local" && !v.localCache(k, attrs) {
			continue
		}
		out = append(out, Attrs{Type: e.Type, Attrs: attrs})
	}
	return out
}

// localCache resolves a local cache's src and dest: the directory, which
// BuildKit's client reads and writes as a whole, holds no link out of the
// checkout.
func (v *validator) localCache(k string, attrs map[string]string) bool {
	for _, a := range []string{"src", "dest"} {
		p, set := attrs[a]
		if !set {
			continue
		}
		abs, in, ok := v.path(k, a, p)
		if !ok || !v.tree(k, a, p, abs, in) {
			return false
		}
		attrs[a] = abs
	}
	return true
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
		root := ""
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
			// Links inside an output directory are checked as the export
			// is moved in (internal/checkout.Staging): only the
			// directories it writes.
			dest, in, ok := v.path(k, "dest", attrs["dest"])
			if !ok {
				continue
			}
			attrs["dest"] = dest
			if in {
				root = v.workDir
			}
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
		out = append(out, Attrs{Type: e.Type, Attrs: attrs, Root: root})
	}
	return out
}
