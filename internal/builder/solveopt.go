package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/solver/pb"
	"github.com/tonistiigi/fsutil"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
)

// Plan is everything one Solve (or Call) needs, made from a Request before
// connecting.
type Plan struct {
	Opt   client.SolveOpt
	call  string // build, check, outline or targets
	files *pendingFiles
	sync  *contextsync.Session // the local directories' sync: Finish once the solve is over
}

// Plan turns the request into a SolveOpt: frontend attributes, local mounts,
// exporters, cache entries, entitlements and the session's attachables (auth
// plus secrets and ssh). Nothing is written until the build succeeds. A
// call other than build exports nothing (no image, outputs, load or cache).
func (r Request) Plan(auth session.Attachable) (*Plan, error) {
	if r.Load() && r.loader == nil {
		return nil, errors.New("load is set but the request has no loader for the Docker engine (WithLoader)")
	}
	attrs := r.frontendAttrs()
	cs := contextsync.NewSession(contextsync.Options{Mode: contextsync.Mode(r.contextSync.Mode), CacheDir: r.contextSync.CacheDir, Key: r.sessionKey})
	p := &Plan{call: r.Call(), files: &pendingFiles{}, sync: cs}
	mounts, err := r.localMounts(attrs, cs)
	if err != nil {
		cs.Finish(context.Background())
		return nil, err
	}
	attachables, err := r.attachables(auth)
	if err != nil {
		cs.Finish(context.Background())
		return nil, err
	}
	p.Opt = client.SolveOpt{
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       attrs,
		LocalMounts:         mounts,
		LocalFilterOpt:      cs.FilterOpt, // content-addressed stats (context-sync)
		CacheImports:        cacheEntries(r.cacheFrom),
		AllowedEntitlements: r.entitlements(),
		Session:             attachables,
		// Context uploads are diffed against the daemon's copy from the last
		// build with the same key: only changed files travel.
		SharedKey: r.sessionKey,
	}
	if p.call == "build" {
		p.Opt.Exports = r.exports(p.files)
		p.Opt.CacheExports = cacheEntries(r.cacheTo)
	} else {
		p.Opt.Internal = true // as buildx marks a call: not in the daemon's build history
	}
	return p, nil
}

// entitlements are allow plus network.host for network: host, which buildx
// adds itself (build/opt.go toSolveOpt); config has already made sure allow
// names it.
func (r Request) entitlements() []string {
	out := slices.Clone(r.allow)
	if r.network == "host" && !slices.Contains(out, "network.host") {
		out = append(out, "network.host")
	}
	return out
}

// frontendAttrs are the dockerfile.v0 frontend's options.
func (r Request) frontendAttrs() map[string]string {
	attrs := map[string]string{
		"filename": filepath.Base(r.dockerfile),
	}
	if r.target != "" {
		attrs["target"] = r.target
	}
	if len(r.platforms) > 0 {
		attrs["platform"] = strings.Join(r.platforms, ",")
	}
	for _, k := range config.SortedKeys(r.buildArgs) {
		attrs["build-arg:"+k] = r.buildArgs[k]
	}
	for _, k := range config.SortedKeys(r.labels) {
		attrs["label:"+k] = r.labels[k]
	}
	if len(r.noCacheFilters) > 0 {
		attrs["no-cache"] = strings.Join(r.noCacheFilters, ",")
	}
	if r.noCache {
		attrs["no-cache"] = ""
	}
	if r.provenance != nil {
		attrs["attest:provenance"] = *r.provenance
	}
	if r.sbom != nil {
		attrs["attest:sbom"] = *r.sbom
	}
	r.runAttrs(attrs)
	return attrs
}

// runAttrs are the RUN environment and the call, with the names and value
// formats buildx sends (build/opt.go toSolveOpt, build/build.go for the
// call's requestid).
func (r Request) runAttrs(attrs map[string]string) {
	if r.pull {
		attrs["image-resolve-mode"] = pb.AttrImageResolveModeForcePull
	}
	if r.network == "none" || r.network == "host" {
		attrs["force-network-mode"] = r.network
	}
	if len(r.addHosts) > 0 {
		attrs["add-hosts"] = strings.Join(r.addHosts, ",")
	}
	if r.shmSize > 0 {
		attrs["shm-size"] = strconv.FormatInt(r.shmSize, 10)
	}
	if len(r.ulimits) > 0 {
		attrs["ulimit"] = strings.Join(r.ulimits, ",")
	}
	if id := callRequestID[r.Call()]; id != "" {
		attrs["requestid"] = id
		attrs["frontend.caps"] = "moby.buildkit.frontend.subrequests+forward"
	}
}

// callRequestID is the frontend subrequest of each call; buildx turns check
// into lint (util/buildflags/callfunc.go ParseCallFunc).
var callRequestID = map[string]string{
	"check":   lint.RequestLint, // frontend.lint
	"outline": outline.RequestSubrequestsOutline,
	"targets": targets.RequestTargets,
}

// localMounts are the directories the session serves: the context, the
// Dockerfile's directory and local build contexts (named in attrs), each
// through cs (context-sync). The context's files are pre-hashed with the
// .dockerignore the frontend will apply: <Dockerfile>.dockerignore first.
func (r Request) localMounts(attrs map[string]string, cs *contextsync.Session) (map[string]fsutil.FS, error) {
	dfDir := filepath.Dir(r.dockerfile)
	ctxFS, err := cs.Mount(contextsync.Dir{Name: "context", Path: r.contextDir, Prehash: true, Ignore: []string{
		filepath.Join(dfDir, filepath.Base(r.dockerfile)+".dockerignore"), filepath.Join(r.contextDir, ".dockerignore")}})
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", r.contextDir, err)
	}
	dfFS, err := cs.Mount(contextsync.Dir{Name: "dockerfile", Path: dfDir})
	if err != nil {
		return nil, fmt.Errorf("dockerfile %s: %w", r.dockerfile, err)
	}
	mounts := map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS}
	for _, name := range config.SortedKeys(r.buildContexts) {
		val := r.buildContexts[name]
		if !filepath.IsAbs(val) {
			attrs["context:"+name] = val
			continue
		}
		mountName := "ctx-" + name
		fs, err := cs.Mount(contextsync.Dir{Name: mountName, Path: val, Prehash: true, Ignore: []string{filepath.Join(val, ".dockerignore")}})
		if err != nil {
			return nil, fmt.Errorf("build-contexts.%s %s: %w", name, val, err)
		}
		mounts[mountName] = fs
		attrs["context:"+name] = "local:" + mountName
	}
	return mounts, nil
}

// exports are the image exporter for the tags plus the outputs; files go
// through pending so they appear only when the build succeeds.
func (r Request) exports(pending *pendingFiles) []client.ExportEntry {
	var exports []client.ExportEntry
	if len(r.tags) > 0 {
		exports = append(exports, client.ExportEntry{
			Type: client.ExporterImage,
			Attrs: map[string]string{
				"name": strings.Join(r.tags, ","),
				"push": strconv.FormatBool(r.push),
			},
		})
	}
	if r.Load() {
		// buildx's --load: a docker exporter named after the tags
		// (commands/build.go, build/opt.go toSolveOpt).
		e := client.ExportEntry{Type: client.ExporterDocker, Attrs: map[string]string{}, Output: r.loader}
		if len(r.tags) > 0 {
			e.Attrs["name"] = strings.Join(r.tags, ",")
		}
		exports = append(exports, e)
	}
	for _, o := range r.outputs {
		e := client.ExportEntry{Type: o.Type, Attrs: map[string]string{}}
		for k, v := range o.Attrs {
			e.Attrs[k] = v
		}
		if dest, ok := e.Attrs["dest"]; ok {
			delete(e.Attrs, "dest")
			if o.Type == client.ExporterLocal || e.Attrs["tar"] == "false" {
				e.OutputDir = dest
			} else {
				e.Output = pending.add(dest)
			}
		}
		exports = append(exports, e)
	}
	// buildx sets the annotations on every exporter (commands/build.go).
	for _, e := range exports {
		maps.Copy(e.Attrs, r.annotations)
	}
	return exports
}

// attachables are the session's providers: registry auth, secrets, ssh.
func (r Request) attachables(auth session.Attachable) ([]session.Attachable, error) {
	attachables := []session.Attachable{auth}
	if len(r.secrets) > 0 {
		var sources []secretsprovider.Source
		for _, s := range r.secrets {
			sources = append(sources, secretsprovider.Source{ID: s.ID, Env: s.Env, FilePath: s.Src})
		}
		store, err := secretsprovider.NewStore(sources)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		attachables = append(attachables, secretsprovider.NewSecretProvider(store))
	}
	if len(r.ssh) > 0 {
		var confs []sshprovider.AgentConfig
		for _, s := range r.ssh {
			confs = append(confs, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
		}
		sp, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return nil, fmt.Errorf("ssh: %w", err)
		}
		attachables = append(attachables, sp)
	}
	return attachables, nil
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
