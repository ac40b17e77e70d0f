// Command remote-buildkit is the helper binary of the remote-buildkit
// Buildkite plugin: it builds images on a remote BuildKit daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/credhelper"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
	"github.com/remote-buildkit/remote-buildkit/internal/initgc"
)

// version is set at link time (-X main.version=...); see Makefile and hooks.
var version = ""

func main() {
	initgc.Restore()
	// Bake and compose files are the checkout's, which is untrusted: they
	// see only the filtered variables internal/bake passes them (bake.Vars),
	// never the process environment (the agent token, registry passwords).
	// Upstream bake reads this once per process, on its first parse: set it
	// before anything can parse a bake file.
	os.Setenv("BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP", "true")
	if filepath.Base(os.Args[0]) == credhelper.Program { // docker runs the binary under the helper's name
		os.Exit(credentialHelper(os.Args[1:], os.Stdin, os.Stdout, os.LookupEnv))
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr, os.LookupEnv))
}

// credentialHelper answers one docker-credential-helpers request; errors go
// to stdout with exit 1, as the protocol has them.
func credentialHelper(args []string, in io.Reader, out io.Writer, env config.Env) int {
	if len(args) != 1 {
		fmt.Fprintf(out, "usage: %s get|list|store|erase|version\n", credhelper.Program)
		return 1
	}
	if err := credhelper.Run(context.Background(), args[0], in, out, env); err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	return 0
}

// run is main without the process: tests call it with their own writers and env.
func run(args []string, stdout, stderr io.Writer, env config.Env) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := cancelOnSignal(cancel, stderr, cancelGrace)
	defer stop()
	app := newApp(stdout, stderr, env)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitcode.OK
	}
	code := exitcode.Of(err)
	var usage *usageError
	if errors.As(err, &usage) {
		code = exitcode.BadConfig
	}
	reportError(stderr, err, env)
	return code
}

type usageError struct{ error }

// cancelGrace is how long a cancelled build may take to stop on the daemon
// before the process exits anyway (the agent's own grace period is 10 s).
const cancelGrace = 8 * time.Second

// cancelOnSignal cancels the build on SIGINT/SIGTERM (the agent's cancel);
// a second signal, or the grace period running out, exits at once.
func cancelOnSignal(cancel context.CancelFunc, stderr io.Writer, grace time.Duration) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "remote-buildkit: %s: cancelling the build on the daemon (send again to exit at once)\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
		case <-time.After(grace):
			fmt.Fprintf(stderr, "remote-buildkit: the daemon did not stop the build within %s\n", grace)
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "remote-buildkit: error: build cancelled")
		os.Exit(exitcode.Cancelled)
	}()
	return func() { signal.Stop(sigs); close(done) }
}

func newApp(stdout, stderr io.Writer, env config.Env) *cli.App {
	onUsageError := func(_ *cli.Context, err error, _ bool) error { return &usageError{err} }
	commands := []*cli.Command{
		environmentCommand(env),
		buildCommand(env),
		cleanupCommand(env),
		diagnoseCommand(env),
		validateCommand(env),
		versionCommand(),
		certsCommand(), builderConfigCommand(),
	}
	for _, c := range commands {
		c.OnUsageError = onUsageError
	}
	return &cli.App{
		Name:            "remote-buildkit",
		Usage:           "build and push container images on a remote BuildKit daemon (Buildkite plugin helper)",
		Version:         versionString(),
		Writer:          stdout,
		ErrWriter:       stderr,
		Commands:        commands,
		HideVersion:     true,
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return &usageError{fmt.Errorf("unknown command %q: run remote-buildkit --help", c.Args().First())}
			}
			return cli.ShowAppHelp(c)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run reports errors and picks the code
	}
}

// reportError prints one line per problem, prefixed so it stands out in a
// Buildkite log, and expands the log section holding the failure.
func reportError(w io.Writer, err error, env config.Env) {
	if env.Get("BUILDKITE") != "" {
		fmt.Fprintln(w, "^^^ +++")
	}
	var cerr *config.Error
	if errors.As(err, &cerr) {
		for _, p := range cerr.Problems {
			fmt.Fprintf(w, "remote-buildkit: configuration error: %s\n", p)
		}
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "remote-buildkit: error: %s\n", line)
	}
}
