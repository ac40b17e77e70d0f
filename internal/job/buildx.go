package job

// buildx mode: the environment hook registers a buildx builder (remote
// driver) for this job that points at the daemons the plugin's own build
// would use, in a job-private docker config with the credential helper; the
// command hook then runs the step's own command, as buildkite-agent would.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/buildxcfg"
	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/credhelper"
	"github.com/remote-buildkit/remote-buildkit/internal/diagnose"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
	"github.com/remote-buildkit/remote-buildkit/internal/shellquote"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

// EnvironmentBuildx is `environment --buildx`, the agent-wide mode an
// operator runs from the agent's own environment hook (the Elastic CI
// Stack's secrets-bucket env file): every job gets a builder, with or
// without a plugin line; the plugin's configuration is used when the step
// has one.
func EnvironmentBuildx(ctx context.Context, d Deps) error {
	// A step without the plugin: its defaults (BUILDKIT_HOST, the secrets bucket, ...).
	cfg, err := Load(d, config.Environment, config.EmptyIfAbsent)
	if err != nil {
		return err
	}
	if cfg.Buildx == "" {
		cfg.Buildx = config.DefaultBuildxBuilder
	}
	return environment(ctx, d, cfg)
}

// setUpBuildx registers the job's builder and writes the exports that point
// docker, buildx and compose at it. On any error nothing new is left.
func setUpBuildx(ctx context.Context, d Deps, cfg *config.Config, b *strings.Builder) error {
	if _, _, err := buildxMode(d, cfg); err != nil {
		return err // the command hook would refuse the step: say so before the checkout
	}
	start := time.Now()
	cfg, err := resolveFleet(ctx, d, cfg)
	if err != nil {
		return err
	}
	if err := checkTLS(d, cfg); err != nil {
		return err
	}
	nodes, err := buildxNodes(ctx, d, cfg)
	if err != nil {
		return err
	}
	job, userDir, created, err := openBuildxJob(d)
	if err != nil {
		return exitcode.With(exitcode.Internal, err)
	}
	if err := writeBuildxJob(d, cfg, job, userDir, nodes); err != nil {
		if created {
			job.Remove()
		}
		return exitcode.With(exitcode.Internal, fmt.Errorf("buildx: %w", err))
	}
	b.WriteString(shellquote.Export("BUILDX_CONFIG", job.BuildxDir()))
	b.WriteString(shellquote.Export("BUILDX_BUILDER", strings.ToLower(cfg.Buildx)))
	b.WriteString(shellquote.Export("DOCKER_CONFIG", job.Dir))
	b.WriteString(shellquote.Export(credhelper.DirEnv, job.Dir))
	b.WriteString(shellquote.Export("PATH", buildxcfg.PrependPath(job.BinDir(), d.Env.Get("PATH"))))
	var where []string
	for _, n := range nodes {
		w := n.Name + " → " + n.Endpoint
		if len(n.Platforms) > 0 {
			w += " (" + strings.Join(n.Platforms, ", ") + ")"
		}
		where = append(where, w)
	}
	fmt.Fprintf(d.Err, "remote-buildkit: buildx builder %s for this job: %s; docker buildx, docker build and docker compose build use it (DOCKER_CONFIG %s, %dms)\n",
		strings.ToLower(cfg.Buildx), strings.Join(where, "; "), job.Dir, time.Since(start).Milliseconds())
	return nil
}

// buildxNodes routes like the plugin's own build and describes each daemon
// it chose as a buildx node: the TLS files of tls-dir where they are, the
// server name, and default-load when the job has a Docker engine.
func buildxNodes(ctx context.Context, d Deps, cfg *config.Config) ([]buildxcfg.Node, error) {
	for _, n := range cfg.Nodes {
		if n.Host == "" {
			return nil, exitcode.With(exitcode.BadConfig, errors.New("buildx: no BuildKit daemon to point the builder at: set buildkit-host or BUILDKIT_HOST (e.g. tcp://buildkitd.internal:1234)"))
		}
		if err := buildxcfg.CheckEndpoint(n.Host); err != nil {
			return nil, exitcode.With(exitcode.BadConfig, fmt.Errorf("buildx: %w", err))
		}
	}
	targets, closeConns, err := routeBuildx(ctx, d, cfg)
	if err != nil {
		return nil, err
	}
	defer closeConns()
	load := hasEngine(d.Env)
	var out []buildxcfg.Node
	for _, t := range targets {
		tls := buildxcfg.TLS{}
		if t.TLS.Enabled {
			tls = buildxcfg.TLS{CA: t.TLS.CA, ServerName: t.Node.TLSServerName}
			if t.TLS.ClientCertUsed {
				tls.Cert, tls.Key = t.TLS.Cert, t.TLS.Key
			}
		}
		out = append(out, buildxcfg.Node{Name: buildxcfg.NodeName(cfg.Buildx, hostOf(t.Node.Name)), Endpoint: t.Node.Host,
			Platforms: t.Platforms, DriverOpts: buildxcfg.DriverOpts(tls, load)})
	}
	return out, nil
}

// routeBuildx picks the daemons as the plugin's build of this pipeline's
// Dockerfile would: the only one, or a pool member by rendezvous rank with
// bounded loads (route); nodes with declared platforms give each platform
// its node (fleet.Assign, as a split build), buildx then splits the build
// itself, one node per platform group.
func routeBuildx(ctx context.Context, d Deps, cfg *config.Config) ([]fleet.Assignment, func(), error) {
	var declared []string
	for _, n := range cfg.Nodes {
		for _, p := range n.Platforms {
			if !slices.Contains(declared, p) {
				declared = append(declared, p)
			}
		}
	}
	key := fleet.RouteKey(cfg, d.WorkDir)
	j := newJob(d, cfg, key)
	if !cfg.Several() || len(declared) == 0 {
		// The step's command picks the platforms; without platforms route never splits an image.
		as, err := j.route(ctx, solve.NewRequest(config.Image{}))
		return as, j.dial.Close, err
	}
	as, err := fleet.Assign(ctx, j.dial.Dial, key, cfg.Nodes, declared, cfg.ConnectTimeout, func(s string) { warnf(d.Err, "%s", s) })
	if err != nil {
		j.dial.Close()
		return nil, nil, exitcode.With(exitcode.Connect, err)
	}
	return as, j.dial.Close, nil
}

// hostOf is a daemon name without its scheme ("tcp://10.0.0.1:1234" →
// "10.0.0.1:1234"); other names stay.
func hostOf(name string) string {
	if u, err := url.Parse(name); err == nil && u.Host != "" {
		return u.Host
	}
	return name
}

// hasEngine reports whether the job has a Docker engine: DOCKER_HOST, else
// the default socket, exists.
func hasEngine(env config.Env) bool {
	host := env.Get("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	p, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return true // tcp://, ssh://: an engine is configured
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// openBuildxJob returns the job's buildx directory — the one an earlier
// environment run of this job made (agent-wide mode, then the plugin's own
// hook), else a new one — and the user's own docker config directory.
func openBuildxJob(d Deps) (job buildxcfg.Job, userDir string, created bool, err error) {
	jobID := d.Env.Get("BUILDKITE_JOB_ID")
	if j, ok := buildxcfg.OpenJob(d.Env.Get(credhelper.DirEnv), jobID); ok {
		if s, err := credhelper.ReadSettings(j.Dir); err == nil {
			return j, s.UserDockerConfig, false, nil
		}
	}
	userDir = registryauth.DockerConfigDir(d.Env.Get)
	if j, ok := buildxcfg.OpenJob(userDir, ""); ok { // DOCKER_CONFIG is a job's buildx directory: use its user's
		if s, err := credhelper.ReadSettings(j.Dir); err == nil {
			userDir = s.UserDockerConfig
		}
	}
	j, err := buildxcfg.CreateJob("", jobID)
	return j, userDir, true, err
}

// writeBuildxJob fills the job directory: the credential helper's settings
// (where the logins come from, no secrets) and its link, config.json, links
// to the user's docker config entries, and the builder.
func writeBuildxJob(d Deps, cfg *config.Config, job buildxcfg.Job, userDir string, nodes []buildxcfg.Node) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var served []string // registry-credentials hosts: answered by the helper even where the user's config names another
	for _, rc := range cfg.RegistryCredentials {
		served = append(served, rc.Registry)
	}
	steps := []func() error{
		func() error { return credhelper.SettingsOf(cfg, userDir).Write(job.Dir) },
		func() error { return job.WriteDockerConfig(userDir, credhelper.Name, served) },
		func() error { return job.LinkHelper(credhelper.Program, exe) },
		func() error { return buildxcfg.Builder{Name: cfg.Buildx, Nodes: nodes}.Write(job.BuildxDir(), d.Now()) },
		func() error { return job.LinkUserEntries(userDir) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// cleanupBuildx removes the job's buildx directory, when this tool made it
// for this job.
func cleanupBuildx(d Deps) error {
	j, ok := buildxcfg.OpenJob(d.Env.Get(credhelper.DirEnv), d.Env.Get("BUILDKITE_JOB_ID"))
	if !ok {
		return nil
	}
	if err := j.Remove(); err != nil {
		return exitcode.With(exitcode.Internal, fmt.Errorf("remove the job's buildx directory %s: %w", j.Dir, err))
	}
	fmt.Fprintf(d.Err, "remote-buildkit: removed the job's buildx builder and docker config %s\n", j.Dir)
	return nil
}

// What the command hook does in buildx mode.
const (
	modeBuild   = iota // the plugin's own build (or diagnose)
	modeCommand        // the step's own command
	modeOther          // nothing: another plugin runs the step's command
)

// commandPlugins run the step's command themselves, in their command hook.
var commandPlugins = []string{"docker-compose", "docker"}

// buildxMode decides the command hook of a step with buildx (cfg, read
// for the environment phase): the step's command runs instead of the
// plugin's build, and build options beside a command are a configuration
// error; other is the plugin that runs the command instead.
func buildxMode(d Deps, cfg *config.Config) (mode int, other string, err error) {
	if cfg.Buildx == "" || cfg.Diagnose {
		return modeBuild, "", nil
	}
	opts := strings.Join(cfg.BuildOptions(), ", ")
	command := strings.TrimSpace(d.Env.Get("BUILDKITE_COMMAND"))
	names := cfg.Plugins
	self := slices.Index(names, config.PluginName)
	for i, n := range names {
		if !slices.Contains(commandPlugins, n) {
			continue
		}
		if i > self {
			return 0, "", exitcode.With(exitcode.BadConfig, fmt.Errorf("buildx: list remote-buildkit after the %s plugin in the step's plugins: %s runs the step, and with strict-single-hooks only the first plugin's command hook runs", n, n))
		}
		if opts != "" {
			return 0, "", exitcode.With(exitcode.BadConfig, fmt.Errorf("buildx: the %s plugin runs this step, so the plugin's build options (%s) would build a second time: remove them", n, opts))
		}
		return modeOther, n, nil
	}
	switch {
	case command != "" && opts != "":
		return 0, "", exitcode.With(exitcode.BadConfig, fmt.Errorf("buildx: this step has a command and the plugin's build options (%s): with buildx the command hook runs the step's command; remove the build options, or the command to let the plugin build", opts))
	case command != "":
		return modeCommand, "", nil
	case opts != "":
		return modeBuild, "", nil
	}
	return 0, "", exitcode.With(exitcode.BadConfig, errors.New("buildx: this step has no command and the plugin no build options: add a command (e.g. docker buildx build --push -t … .), or build options such as tags and push"))
}

// commandStep is the step of a buildx step whose command runs instead of
// the plugin's build (argv as buildkite-agent would run it), or that
// another plugin runs (no argv); nil for the plugin's own build.
func commandStep(d Deps, cfg *config.Config) (*Step, error) {
	mode, other, err := buildxMode(d, cfg)
	switch {
	case err != nil:
		return nil, err
	case mode == modeBuild:
		return nil, nil
	case mode == modeOther:
		return &Step{Kind: OtherPluginRuns, Config: cfg, OtherPlugin: other}, nil
	}
	argv, err := agentCommand(d, d.Env.Get("BUILDKITE_COMMAND"))
	if err != nil {
		return nil, err
	}
	return &Step{Kind: RunCommand, Config: cfg, Command: argv}, nil
}

// runCommand runs the step's command in place of this process (buildx
// mode); another plugin's step needs nothing.
func runCommand(d Deps, step *Step) error {
	if step.Kind == OtherPluginRuns {
		fmt.Fprintf(d.Err, "remote-buildkit: buildx: the %s plugin runs this step's command, with this job's builder\n", step.OtherPlugin)
		return nil
	}
	fmt.Fprintf(d.Out, "~~~ Running commands (remote-buildkit buildx builder %s)\n$ %s\n", d.Env.Get("BUILDX_BUILDER"), step.Command[len(step.Command)-1])
	if d.Exec == nil {
		return exitcode.With(exitcode.Internal, errors.New("no way to run the step's command (Deps.Exec)"))
	}
	return d.Exec(step.Command)
}

// agentCommand is buildkite-agent's default command phase
// (internal/job/executor.go defaultCommandPhase): BUILDKITE_SHELL's words,
// then "./<script>" when the command names a file in the checkout (made
// executable when commands may be evaluated), else the command itself;
// with BUILDKITE_COMMAND_EVAL=false only scripts in the checkout run.
func agentCommand(d Deps, command string) ([]string, error) {
	shell := d.Env.Get("BUILDKITE_SHELL")
	if shell == "" {
		shell = "/bin/bash -e -c"
	}
	interp, err := shellquote.Split(shell)
	if err != nil || len(interp) == 0 {
		return nil, exitcode.With(exitcode.BadConfig, fmt.Errorf("BUILDKITE_SHELL %q is not a command line (%v): set it as for the agent, e.g. /bin/bash -e -c", shell, err))
	}
	eval := true
	if v, ok := d.Env("BUILDKITE_COMMAND_EVAL"); ok {
		b, err := strconv.ParseBool(v)
		eval = err == nil && b // a value that is not a boolean does not allow anything
	}
	script := strings.ReplaceAll(command, "\n", "")
	path, err := filepath.Abs(filepath.Join(d.WorkDir, script))
	fi, serr := os.Stat(path)
	isScript := err == nil && serr == nil && !fi.IsDir()
	switch {
	case !isScript && !eval:
		return nil, exitcode.With(exitcode.BadConfig, errors.New("this agent is not allowed to evaluate console commands (no-command-eval): run a script within your repository instead (such as scripts/build.sh)"))
	case isScript && !eval && !strings.HasPrefix(path, d.WorkDir+string(os.PathSeparator)):
		return nil, exitcode.With(exitcode.BadConfig, errors.New("this agent is only allowed to run scripts within your repository (no-command-eval)"))
	case !isScript:
		return append(interp, command), nil
	}
	if eval {
		if err := os.Chmod(path, fi.Mode().Perm()|0o111); err != nil {
			return nil, exitcode.With(exitcode.Internal, fmt.Errorf("make the step's script %s executable: %w", path, err))
		}
	}
	rel, err := filepath.Rel(d.WorkDir, path)
	if err != nil {
		return nil, exitcode.With(exitcode.Internal, err)
	}
	return append(interp, "."+string(os.PathSeparator)+rel), nil
}

// diagnoseRunner is diagnose's runner for cfg (or the error reading it),
// with the buildx check routed as the environment hook routes the builder.
func diagnoseRunner(d Deps, cfg *config.Config, cfgErr error) *diagnose.Runner {
	r := diagnose.NewRunnerFor(d.Env, d.WorkDir, cfg, cfgErr)
	if r.Config == nil || r.Config.Buildx == "" {
		return r
	}
	cfg = r.Config
	r.BuildxPlan = func(ctx context.Context) ([]buildxcfg.Node, error) {
		c, err := resolveFleet(ctx, d, cfg)
		if err != nil {
			return nil, err
		}
		return buildxNodes(ctx, d, c)
	}
	return r
}
