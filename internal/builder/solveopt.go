package builder

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/tonistiigi/fsutil"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// Plan is everything one Solve needs, built from a Config before connecting.
type Plan struct {
	Opt   client.SolveOpt
	files *pendingFiles
}

// NewPlan turns the validated config into a SolveOpt: frontend attributes,
// local mounts, exporters, cache entries and the session's attachables
// (auth plus secrets and ssh). Nothing is written until the build succeeds.
func NewPlan(c *config.Config, auth session.Attachable) (*Plan, error) {
	attrs := map[string]string{
		"filename": filepath.Base(c.Dockerfile),
	}
	if c.Target != "" {
		attrs["target"] = c.Target
	}
	if len(c.Platforms) > 0 {
		attrs["platform"] = strings.Join(c.Platforms, ",")
	}
	for _, k := range config.SortedKeys(c.BuildArgs) {
		attrs["build-arg:"+k] = c.BuildArgs[k]
	}
	for _, k := range config.SortedKeys(c.Labels) {
		attrs["label:"+k] = c.Labels[k]
	}
	if c.NoCache {
		attrs["no-cache"] = ""
	}
	if c.Provenance != nil {
		attrs["attest:provenance"] = *c.Provenance
	}
	if c.SBOM != nil {
		attrs["attest:sbom"] = *c.SBOM
	}

	ctxFS, err := fsutil.NewFS(c.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", c.ContextDir, err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(c.Dockerfile))
	if err != nil {
		return nil, fmt.Errorf("dockerfile %s: %w", c.Dockerfile, err)
	}
	mounts := map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS}
	for _, name := range config.SortedKeys(c.BuildContexts) {
		val := c.BuildContexts[name]
		if filepath.IsAbs(val) {
			fs, err := fsutil.NewFS(val)
			if err != nil {
				return nil, fmt.Errorf("build-contexts.%s %s: %w", name, val, err)
			}
			mountName := "ctx-" + name
			mounts[mountName] = fs
			attrs["context:"+name] = "local:" + mountName
			continue
		}
		attrs["context:"+name] = val
	}

	p := &Plan{files: &pendingFiles{}}
	var exports []client.ExportEntry
	if len(c.Tags) > 0 {
		exports = append(exports, client.ExportEntry{
			Type: client.ExporterImage,
			Attrs: map[string]string{
				"name": strings.Join(c.Tags, ","),
				"push": strconv.FormatBool(c.Push),
			},
		})
	}
	for _, o := range c.Outputs {
		e := client.ExportEntry{Type: o.Type, Attrs: map[string]string{}}
		for k, v := range o.Attrs {
			e.Attrs[k] = v
		}
		if dest, ok := e.Attrs["dest"]; ok {
			delete(e.Attrs, "dest")
			if o.Type == client.ExporterLocal || e.Attrs["tar"] == "false" {
				e.OutputDir = dest
			} else {
				e.Output = p.files.add(dest)
			}
		}
		exports = append(exports, e)
	}

	attachables := []session.Attachable{auth}
	if len(c.Secrets) > 0 {
		var sources []secretsprovider.Source
		for _, s := range c.Secrets {
			sources = append(sources, secretsprovider.Source{ID: s.ID, Env: s.Env, FilePath: s.Src})
		}
		store, err := secretsprovider.NewStore(sources)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		attachables = append(attachables, secretsprovider.NewSecretProvider(store))
	}
	if len(c.SSH) > 0 {
		var confs []sshprovider.AgentConfig
		for _, s := range c.SSH {
			confs = append(confs, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
		}
		sp, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return nil, fmt.Errorf("ssh: %w", err)
		}
		attachables = append(attachables, sp)
	}

	p.Opt = client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   mounts,
		Exports:       exports,
		CacheImports:  cacheEntries(c.CacheFrom),
		CacheExports:  cacheEntries(c.CacheTo),
		Session:       attachables,
		// Context uploads are diffed against the daemon's copy from the last
		// build with the same key: only changed files travel.
		SharedKey: c.SessionKey,
	}
	return p, nil
}

func cacheEntries(in []config.Attrs) []client.CacheOptionsEntry {
	var out []client.CacheOptionsEntry
	for _, a := range in {
		out = append(out, client.CacheOptionsEntry{Type: a.Type, Attrs: a.Attrs})
	}
	return out
}

// pendingFiles holds exporter output files as temp files next to their
// destination; Commit renames them into place after a successful build,
// Discard removes them after a failed one.
type pendingFiles struct {
	mu    sync.Mutex
	files []*os.File
	dests []string
}

func (p *pendingFiles) add(dest string) func(map[string]string) (io.WriteCloser, error) {
	return func(map[string]string) (io.WriteCloser, error) {
		f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", dest, err)
		}
		p.mu.Lock()
		p.files = append(p.files, f)
		p.dests = append(p.dests, dest)
		p.mu.Unlock()
		return f, nil
	}
}

// Commit moves every finished output file into place.
func (p *Plan) Commit() error {
	p.files.mu.Lock()
	defer p.files.mu.Unlock()
	for i, f := range p.files.files {
		f.Close()
		if err := os.Chmod(f.Name(), 0o644); err != nil {
			return fmt.Errorf("output %s: %w", p.files.dests[i], err)
		}
		if err := os.Rename(f.Name(), p.files.dests[i]); err != nil {
			return fmt.Errorf("output %s: %w", p.files.dests[i], err)
		}
	}
	p.files.files, p.files.dests = nil, nil
	return nil
}

// Discard removes output files of a build that did not finish.
func (p *Plan) Discard() {
	p.files.mu.Lock()
	defer p.files.mu.Unlock()
	for _, f := range p.files.files {
		f.Close()
		os.Remove(f.Name())
	}
	p.files.files, p.files.dests = nil, nil
}
