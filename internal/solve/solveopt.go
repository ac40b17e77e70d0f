package solve

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
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/solver/pb"
	"github.com/tonistiigi/fsutil"

	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
	"github.com/remote-buildkit/remote-buildkit/internal/checkout"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/contextsync"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/gitcontext"
)

// Plan is everything one Solve (or Call) needs, made from a Request before
// connecting.
type Plan struct {
	Opt   client.SolveOpt
	call  string // build, check, outline or targets
	files *pendingFiles
	git   *config.GitContext   // git-context: explains the daemon's fetch failures
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
	cs := contextsync.NewSession(contextsync.Options{Mode: contextsync.Mode(r.img.ContextSync.Mode), CacheDir: r.img.ContextSync.CacheDir,
		Key: r.SessionKey(), StatKey: r.key.StatKey(), UserAttributes: r.img.ContextSync.GitAttributes})
	p := &Plan{call: r.Call(), files: &pendingFiles{}, sync: cs, git: r.img.GitContext}
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
	inputs, err := r.gitInputs()
	if err != nil {
		cs.Finish(context.Background())
		return nil, err
	}
	p.Opt = client.SolveOpt{
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       attrs,
		FrontendInputs:      inputs,
		LocalMounts:         mounts,
		LocalFilterOpt:      cs.FilterOpt, // content-addressed stats (context-sync)
		CacheImports:        cacheEntries(r.img.CacheFrom),
		AllowedEntitlements: r.entitlements(),
		Session:             attachables,
		// Context uploads are diffed against the daemon's copy from the last
		// build with the same key: only changed files travel.
		SharedKey: r.SessionKey(),
	}
	if p.call == "build" {
		p.Opt.Exports = r.exports(p.files)
		p.Opt.CacheExports = cacheEntries(r.img.CacheTo)
	} else {
		p.Opt.Internal = true // as buildx marks a call: not in the daemon's build history
	}
	return p, nil
}

// entitlements are allow plus network.host for network: host, which buildx
// adds itself (build/opt.go toSolveOpt); config has already made sure allow
// names it.
func (r Request) entitlements() []string {
	out := slices.Clone(r.img.Allow)
	if r.img.Network == "host" && !slices.Contains(out, "network.host") {
		out = append(out, "network.host")
	}
	return out
}

// frontendAttrs are the dockerfile.v0 frontend's options.
func (r Request) frontendAttrs() map[string]string {
	attrs := map[string]string{
		"filename": filepath.Base(r.img.Dockerfile),
	}
	if g := r.img.GitContext; g != nil {
		// The Dockerfile input is the repository's root (gitInputs); what
		// the build came from goes in the build record and provenance, as
		// buildx names a git context it sends as an input.
		attrs["filename"] = g.Dockerfile
		attrs["input:context"] = g.Source()
	}
	if r.img.Target != "" {
		attrs["target"] = r.img.Target
	}
	if len(r.img.Platforms) > 0 {
		attrs["platform"] = strings.Join(r.img.Platforms, ",")
	}
	for _, k := range config.SortedKeys(r.img.BuildArgs) {
		attrs["build-arg:"+k] = r.img.BuildArgs[k]
	}
	// Set by the plugin when build-args does not set them (config).
	if r.img.SourceDateEpoch != "" {
		attrs["build-arg:SOURCE_DATE_EPOCH"] = r.img.SourceDateEpoch
	}
	if r.img.CacheMountNS != "" {
		attrs["build-arg:BUILDKIT_CACHE_MOUNT_NS"] = r.img.CacheMountNS
	}
	for _, k := range config.SortedKeys(r.img.Labels) {
		attrs["label:"+k] = r.img.Labels[k]
	}
	if len(r.img.NoCacheFilters) > 0 {
		attrs["no-cache"] = strings.Join(r.img.NoCacheFilters, ",")
	}
	if r.img.NoCache {
		attrs["no-cache"] = ""
	}
	if r.img.Provenance != nil {
		attrs["attest:provenance"] = *r.img.Provenance
	}
	if r.img.SBOM != nil {
		attrs["attest:sbom"] = *r.img.SBOM
	}
	r.runAttrs(attrs)
	return attrs
}

// runAttrs are the RUN environment and the call, with the names and value
// formats buildx sends (build/opt.go toSolveOpt, build/build.go for the
// call's requestid).
func (r Request) runAttrs(attrs map[string]string) {
	if r.img.Pull {
		attrs["image-resolve-mode"] = pb.AttrImageResolveModeForcePull
	}
	if r.img.Network == "none" || r.img.Network == "host" {
		attrs["force-network-mode"] = r.img.Network
	}
	if len(r.img.AddHosts) > 0 {
		attrs["add-hosts"] = strings.Join(r.img.AddHosts, ",")
	}
	if r.img.ShmSize > 0 {
		attrs["shm-size"] = strconv.FormatInt(r.img.ShmSize, 10)
	}
	if len(r.img.Ulimits) > 0 {
		attrs["ulimit"] = strings.Join(r.img.Ulimits, ",")
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
// With git-context the daemon fetches the context and Dockerfile itself.
func (r Request) localMounts(attrs map[string]string, cs *contextsync.Session) (map[string]fsutil.FS, error) {
	if r.img.GitContext != nil {
		return r.buildContextMounts(attrs, map[string]fsutil.FS{}, cs)
	}
	dfDir := filepath.Dir(r.img.Dockerfile)
	ctxFS, err := cs.Mount(contextsync.Dir{Name: "context", Path: r.img.ContextDir, Prehash: true, Ignore: []string{
		filepath.Join(dfDir, filepath.Base(r.img.Dockerfile)+".dockerignore"), filepath.Join(r.img.ContextDir, ".dockerignore")}})
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", r.img.ContextDir, err)
	}
	dfFS, err := cs.Mount(contextsync.Dir{Name: "dockerfile", Path: dfDir})
	if err != nil {
		return nil, fmt.Errorf("dockerfile %s: %w", r.img.Dockerfile, err)
	}
	return r.buildContextMounts(attrs, map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS}, cs)
}

// buildContextMounts adds the local build-contexts directories to mounts
// and names each in attrs; the other build-contexts go to attrs as they are.
func (r Request) buildContextMounts(attrs map[string]string, mounts map[string]fsutil.FS, cs *contextsync.Session) (map[string]fsutil.FS, error) {
	for _, name := range config.SortedKeys(r.img.BuildContexts) {
		val := r.img.BuildContexts[name]
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
	if len(r.img.Tags) > 0 {
		exports = append(exports, client.ExportEntry{
			Type: client.ExporterImage,
			Attrs: map[string]string{
				"name": strings.Join(r.img.Tags, ","),
				"push": strconv.FormatBool(r.img.Push),
			},
		})
	}
	if r.Load() {
		// buildx's --load: a docker exporter named after the tags
		// (commands/build.go, build/opt.go toSolveOpt).
		e := client.ExportEntry{Type: client.ExporterDocker, Attrs: map[string]string{}, Output: r.loader}
		if len(r.img.Tags) > 0 {
			e.Attrs["name"] = strings.Join(r.img.Tags, ",")
		}
		exports = append(exports, e)
	}
	for _, o := range r.img.Outputs {
		e := client.ExportEntry{Type: o.Type, Attrs: map[string]string{}}
		for k, v := range o.Attrs {
			e.Attrs[k] = v
		}
		if dest, ok := e.Attrs["dest"]; ok {
			delete(e.Attrs, "dest")
			if o.Type == client.ExporterLocal || e.Attrs["tar"] == "false" {
				e.OutputDir = pending.dir(o.Root, dest)
			} else {
				e.Output = pending.add(o.Root, dest)
			}
		}
		exports = append(exports, e)
	}
	// buildx sets the annotations on every exporter (commands/build.go).
	for _, e := range exports {
		maps.Copy(e.Attrs, r.img.Annotations)
		if _, set := e.Attrs[rewriteTimestamp]; r.img.Reproducible && timestamped[e.Type] && !set {
			e.Attrs[rewriteTimestamp] = "true"
		}
	}
	return exports
}

// rewriteTimestamp makes an exporter clamp the layers' file times to
// SOURCE_DATE_EPOCH (BuildKit docs/build-repro.md); reproducible sets it on
// the exporters that write layers.
const rewriteTimestamp = "rewrite-timestamp"

var timestamped = map[string]bool{client.ExporterImage: true, client.ExporterOCI: true, client.ExporterDocker: true, "registry": true}

// attachables are the session's providers: registry auth, secrets, ssh.
func (r Request) attachables(auth session.Attachable) ([]session.Attachable, error) {
	attachables := []session.Attachable{auth}
	if len(r.img.Secrets) > 0 {
		var sources []secretsprovider.Source
		for _, s := range r.img.Secrets {
			sources = append(sources, secretsprovider.Source{ID: s.ID, Env: s.Env, FilePath: s.Src})
		}
		store, err := secretsprovider.NewStore(sources)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		attachables = append(attachables, secretsprovider.NewSecretProvider(store))
	}
	if len(r.img.SSH) > 0 {
		var confs []sshprovider.AgentConfig
		for _, s := range r.img.SSH {
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
// destination, and output directories in staging directories: Commit moves
// them into place after a successful build, Discard removes them after a
// failed one. A destination inside the checkout (root set) is written
// through an os.Root on it: a committed link cannot redirect the write.
type pendingFiles struct {
	atomicfile.Set
	mu   sync.Mutex
	dirs []pendingDir
}

// pendingDir is a local output exported into a staging directory the
// plugin created, moved to dest (relative to the checkout) on Commit.
type pendingDir struct {
	stage *checkout.Staging
	dest  string
}

func (p *pendingFiles) add(root, dest string) func(map[string]string) (io.WriteCloser, error) {
	return func(map[string]string) (io.WriteCloser, error) {
		var f *os.File
		var err error
		if rel, in := inRoot(root, dest); in {
			f, err = p.CreateIn(root, rel, 0o644)
		} else {
			f, err = p.Create(dest, 0o644)
		}
		if err != nil {
			return nil, outputError(dest, err)
		}
		return f, nil
	}
}

// dir is the directory the exporter of a local output to dest writes into:
// dest itself when the step named it absolute, else a staging directory.
func (p *pendingFiles) dir(root, dest string) string {
	rel, in := inRoot(root, dest)
	if !in {
		return dest
	}
	st := checkout.NewStaging(root)
	p.mu.Lock()
	p.dirs = append(p.dirs, pendingDir{stage: st, dest: rel})
	p.mu.Unlock()
	return st.Dir
}

// inRoot is dest relative to root, when root is set (dest is in the checkout).
func inRoot(root, dest string) (string, bool) {
	if root == "" {
		return "", false
	}
	rel, err := filepath.Rel(root, dest)
	return rel, err == nil && checkout.Relative(rel)
}

// commit moves the output directories into place, after the files.
func (p *pendingFiles) commit() error {
	if err := p.Commit(); err != nil {
		p.discard()
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	dirs := p.dirs
	p.dirs = nil
	var errs []error
	for _, d := range dirs {
		if err := d.stage.Move(d.dest); err != nil {
			errs = append(errs, outputError(d.dest, err))
		}
	}
	return errors.Join(errs...)
}

// outputError names the output; a link out of the checkout is the step's
// configuration meeting the checkout's files: exit 2, as config reports it.
func outputError(dest string, err error) error {
	err = fmt.Errorf("outputs: dest %s: %w", dest, err)
	if errors.As(err, new(*checkout.LinkError)) {
		return exitcode.With(exitcode.BadConfig, fmt.Errorf("%w: %s", err, checkout.LinkFix))
	}
	return err
}

func (p *pendingFiles) discard() {
	p.Discard()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.dirs {
		d.stage.Discard()
	}
	p.dirs = nil
}

// Commit moves every finished output file into place.
func (p *Plan) Commit() error { return p.files.commit() }

// Discard removes output files of a build that did not finish.
func (p *Plan) Discard() { p.files.discard() }

// gitInputs are git-context's frontend inputs (nil without it), fetched by
// the daemon (gitcontext.Inputs); the .git directory is kept and the files'
// times set to the commit's as the frontend does for a git context
// (dockerui initContext).
func (r Request) gitInputs() (map[string]llb.State, error) {
	if r.img.GitContext == nil {
		return nil, nil
	}
	keep, _ := strconv.ParseBool(r.img.BuildArgs["BUILDKIT_CONTEXT_KEEP_GIT_DIR"])
	return gitcontext.Inputs(r.img.GitContext, keep, r.img.SourceDateEpoch != "" || r.img.BuildArgs["SOURCE_DATE_EPOCH"] != "")
}
