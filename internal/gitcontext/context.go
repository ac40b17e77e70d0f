package gitcontext

// A git context: the daemon fetches the build's sources from the job's
// repository at its commit instead of receiving the checkout.

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/gitutil"
	"github.com/moby/buildkit/util/sshutil"
	"github.com/moby/buildkit/util/urlutil"

	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// keyscanTimeout bounds reading an ssh repository's host key.
const keyscanTimeout = 15 * time.Second

// Context is where the daemon fetches the build's sources from.
type Context struct {
	Remote     string   // the repository URL (BUILDKITE_REPO): ssh, https, http or git
	Commit     string   // the full commit id
	Subdir     string   // the context directory inside the repository, slash-separated; "" for its root
	Dockerfile string   // the Dockerfile's path inside the repository, slash-separated
	Excludes   []string // the .dockerignore patterns (read from the commit), applied on the daemon
	SSH        bool     // an ssh URL: fetched through the session's ssh-agent "default"
	TokenEnv   string   // the job's variable holding an https token; "" for none
	Root       string   // the checkout's top level (where Subdir and Dockerfile start)
}

// Source names what a git context builds: URL#commit[:subdir], the form
// docker build takes, without credentials.
func (g *Context) Source() string {
	s := urlutil.RedactCredentials(g.Remote) + "#" + g.Commit
	if g.Subdir != "" {
		s += ":" + g.Subdir
	}
	return s
}

// Inputs are a git context's frontend inputs: the
// repository at the commit, fetched by the daemon's git source, is the
// Dockerfile's source ("dockerfile", attr filename the path in it) and —
// scoped to the context directory, with the .dockerignore patterns applied
// as the upload would apply them — the context ("context"). The frontend
// takes inputs in place of local mounts (dockerui initContext), as buildx
// sends a git context with a query string. keepGitDir keeps the .git
// directory (BUILDKIT_CONTEXT_KEEP_GIT_DIR); mtimeCommit sets the files'
// times to the commit's (SOURCE_DATE_EPOCH).
func Inputs(g *Context, keepGitDir, mtimeCommit bool) (map[string]llb.State, error) {
	opts := []llb.GitOption{llb.GitRef(g.Commit), llb.WithCustomName("[internal] load git source " + g.Source())}
	if keepGitDir {
		opts = append(opts, llb.KeepGitDir())
	}
	if mtimeCommit {
		opts = append(opts, llb.GitMTimeCommit())
	}
	u, err := gitutil.ParseURL(g.Remote)
	if err != nil {
		return nil, exitcode.With(exitcode.BadConfig, fmt.Errorf("git-context: BUILDKITE_REPO %s: %w", urlutil.RedactCredentials(g.Remote), err))
	}
	if u.Scheme == gitutil.SSHProtocol {
		// llb.Git would scan without a time limit; the daemon's git checks
		// the host key against what is read here.
		keys, err := keyscan(u.Host)
		if err != nil {
			return nil, exitcode.With(exitcode.Connect, fmt.Errorf("git-context: cannot read the host key of %s, the ssh server of BUILDKITE_REPO %s: %w", u.Host, urlutil.RedactCredentials(g.Remote), err))
		}
		opts = append(opts, llb.KnownSSHHosts(keys))
	}
	root := llb.Git(g.Remote, "", opts...)
	context := root
	if g.Subdir != "" || len(g.Excludes) > 0 {
		context = llb.Scratch().File(llb.Copy(root, "/"+g.Subdir+"/", "/", &llb.CopyInfo{
			CopyDirContentsOnly: true,
			ExcludePatterns:     g.Excludes,
		}), llb.WithCustomName(fmt.Sprintf("[internal] git context /%s (%d .dockerignore patterns)", g.Subdir, len(g.Excludes))))
	}
	return map[string]llb.State{"context": context, "dockerfile": root}, nil
}

// keyscan reads an ssh server's host key (host or host:port) as a
// known_hosts line, waiting at most keyscanTimeout.
func keyscan(host string) (string, error) {
	type answer struct {
		keys string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		keys, err := sshutil.SSHKeyScan(host)
		ch <- answer{keys, err}
	}()
	select {
	case a := <-ch:
		return a.keys, a.err
	case <-time.After(keyscanTimeout):
		return "", fmt.Errorf("no answer in %s", keyscanTimeout)
	}
}

// GitError is a git-context fetch the daemon could not do, explained in
// one line. Infra says whether it is the network's or the git server's
// fault (exit 3) rather than the configuration's (exit 2); either way
// running the build again as it is would not help, so it is not retried.
type GitError struct {
	Infra bool
	msg   string
	Err   error
}

func (e *GitError) Error() string { return e.msg }
func (e *GitError) Unwrap() error { return e.Err }

// gitFailure finds the git source's failure in a solve error: BuildKit's
// "failed to fetch remote URL: git stderr: …" (or checkout) and the
// missing ssh-agent.
var gitFailure = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`failed to (?:fetch|checkout) remote \S+: (?:git stderr: )?(.*?)(?: : exit status \d+|$)|(no SSH key "[^"]*" forwarded from the client)`)
})

// The git client's (and ssh's, curl's) words for each kind of failure.
var (
	gitUnreachable = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)connection refused|couldn't connect to server|failed to connect to|unable to connect to|unable to look up|could not resolve host|name or service not known|temporary failure in name resolution|timed out|network is unreachable|no route to host|connection reset|connection closed by|returned error: 5\d\d|RPC failed`)
	})
	gitNoCommit = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)not our ref|reference is not a tree|couldn't find remote ref|unadvertised object|bad object`)
	})
	gitRefused = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)not found|no such repository|not exported|does not appear to be a git repository|authentication failed|could not read (?:username|password)|terminal prompts disabled|permission denied|host key verification failed|returned error: 40[134]|no SSH key|access denied|invalid credentials`)
	})
)

// Explain rewrites a failed fetch of the git context into what went
// wrong and what to do (nil when err is not one).
func Explain(g *Context, err error) error {
	if g == nil {
		return nil
	}
	m := gitFailure().FindStringSubmatch(strings.Join(strings.Fields(err.Error()), " "))
	if m == nil {
		return nil
	}
	cause := strings.TrimSpace(strings.ReplaceAll(m[1]+m[2], "fatal: ", ""))
	what := fmt.Sprintf("git-context: the daemon could not fetch %s at %s: %s", urlutil.RedactCredentials(g.Remote), g.Commit, cause)
	switch {
	case gitUnreachable().MatchString(cause):
		return exitcode.With(exitcode.Connect, &GitError{Infra: true, Err: err, msg: what +
			" (the daemon cannot reach the git server: check DNS, routes and firewalls from the daemon's host to it)"})
	case gitNoCommit().MatchString(cause):
		return exitcode.With(exitcode.BadConfig, &GitError{Err: err, msg: what +
			" (the repository does not have the commit: push it — git-context builds BUILDKITE_COMMIT from the repository, not from the agent's checkout)"})
	case gitRefused().MatchString(cause):
		return exitcode.With(exitcode.BadConfig, &GitError{Err: err, msg: what + " (" + gitAuthFix(g) + ")"})
	}
	return exitcode.With(exitcode.BuildFailed, &GitError{Err: err, msg: what})
}

// gitAuthFix says how the daemon authenticates to the repository.
func gitAuthFix(g *Context) string {
	switch {
	case g.TokenEnv != "":
		return "the repository is missing or refused the token in $" + g.TokenEnv + ": check BUILDKITE_REPO and that the token may read it"
	case strings.HasPrefix(g.Remote, "http://") || strings.HasPrefix(g.Remote, "https://"):
		return "the repository is missing or needs credentials: check BUILDKITE_REPO, and give a token (GIT_AUTH_TOKEN, or the variable git-context.token-env names)"
	case strings.HasPrefix(g.Remote, "git://"):
		return "the git server does not serve that repository: check BUILDKITE_REPO"
	}
	return "the repository is missing or refused the key: check BUILDKITE_REPO, and that the job's ssh-agent (SSH_AUTH_SOCK) holds a key that may read it"
}

// TokenSecret is the session secret BuildKit's git source reads an https
// token from for host (source/git: GIT_AUTH_TOKEN.<host>, then GIT_AUTH_TOKEN).
func TokenSecret(host string) string { return "GIT_AUTH_TOKEN." + host }

// Fetchable says which protocol the daemon fetches remote with, or why it
// cannot fetch it.
func Fetchable(remote string) (string, error) {
	if remote == "" {
		return "", errors.New("BUILDKITE_REPO is not set: the daemon fetches the job's repository from it (git-context works in a Buildkite job; elsewhere set BUILDKITE_REPO and BUILDKITE_COMMIT)")
	}
	u, err := gitutil.ParseURL(remote)
	if errors.Is(err, gitutil.ErrUnknownProtocol) || errors.Is(err, gitutil.ErrInvalidProtocol) {
		return "", fmt.Errorf("BUILDKITE_REPO %s is not a URL the daemon can fetch (a local path or file:// is on the agent's disk, not the daemon's): use the repository's ssh or https URL, or drop git-context to upload the checkout", urlutil.RedactCredentials(remote))
	}
	if err != nil {
		return "", fmt.Errorf("BUILDKITE_REPO %s is not a git URL: %v", urlutil.RedactCredentials(remote), err)
	}
	return u.Scheme, nil
}
