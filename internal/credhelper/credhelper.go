// Package credhelper is docker-credential-remote-buildkit: a Docker
// credential helper (the docker-credential-helpers protocol: get, list;
// store and erase keep nothing) that answers docker, buildx and compose from
// the same sources as the plugin's own build — registry-credentials from the
// job's environment, ECR tokens with their 0600 cache, then the user's own
// docker config, read only. Nothing secret is written anywhere.
package credhelper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/registryauth"
)

// Name is the helper's name in a docker config (credsStore, credHelpers).
const Name = "remote-buildkit"

// Program is the executable docker runs for Name; the binary answers the
// protocol when it is invoked under this name.
const Program = "docker-credential-" + Name

// DirEnv names the variable holding the job's buildx directory, where the
// helper finds its settings.
const DirEnv = "REMOTE_BUILDKIT_BUILDX_DIR"

// settingsFile holds the Settings in the job's buildx directory.
const settingsFile = "credential-helper.json"

// Settings are where the helper's logins come from: the names of the
// variables holding them, never their values.
type Settings struct {
	UserDockerConfig    string // the user's docker config directory, read only
	TLSDir              string // ECR token cache
	ECR                 config.ECR
	RegistryCredentials []config.RegistryCredential
}

// SettingsOf are the settings of a job's configuration; userDir is the
// user's own docker config directory.
func SettingsOf(cfg *config.Config, userDir string) Settings {
	return Settings{UserDockerConfig: userDir, TLSDir: cfg.TLSDir, ECR: cfg.ECR, RegistryCredentials: cfg.RegistryCredentials}
}

// Write stores s in dir (0600).
func (s Settings) Write(dir string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, settingsFile), b, 0o600)
}

// ReadSettings reads the settings stored in dir.
func ReadSettings(dir string) (Settings, error) {
	var s Settings
	b, err := os.ReadFile(filepath.Join(dir, settingsFile))
	if err != nil {
		return s, fmt.Errorf("%s: no job settings in %s (%s): it answers only inside a job whose environment hook set up buildx: %w", Program, dir, DirEnv, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %s: %w", Program, filepath.Join(dir, settingsFile), err)
	}
	return s, nil
}

// Sources are the logins of s, as the build assembles them
// (registryauth.ForConfig), with the user's docker config from
// s.UserDockerConfig. Its own helper is taken out of that config: a config
// that names it would send the helper to itself.
func (s Settings) Sources(env config.Env) (*registryauth.Sources, error) {
	cfg := &config.Config{TLSDir: s.TLSDir, ECR: s.ECR, RegistryCredentials: s.RegistryCredentials}
	src, err := registryauth.ForConfig(cfg, func(k string) (string, bool) {
		if k == "DOCKER_CONFIG" {
			return s.UserDockerConfig, true
		}
		return env(k)
	})
	if err != nil {
		return nil, err
	}
	if src.Docker.CredentialsStore == Name {
		src.Docker.CredentialsStore = ""
	}
	for h, name := range src.Docker.CredentialHelpers {
		if name == Name {
			delete(src.Docker.CredentialHelpers, h)
		}
	}
	return src, nil
}

// Serves reports whether src answers host itself (registry-credentials, or
// an ECR registry while ECR logins are on), not from the user's config.
func Serves(src *registryauth.Sources, host string) bool {
	host = config.NormalizeRegistry(host)
	if _, ok := src.Static[host]; ok {
		return true
	}
	if src.ECR == nil {
		return false
	}
	r, ok := registryauth.ECRRegistryOf(host, src.ECRHosts)
	return ok && src.ECR.Covers(r)
}

// Run answers one request of the protocol: action is get, list, store,
// erase or version; in and out are the helper's stdin and stdout. The job's
// settings come from $REMOTE_BUILDKIT_BUILDX_DIR.
func Run(ctx context.Context, action string, in io.Reader, out io.Writer, env config.Env) error {
	if action == credentials.ActionVersion {
		return credentials.PrintVersion(out)
	}
	dir := env.Get(DirEnv)
	if dir == "" {
		return fmt.Errorf("%s: %s is not set: it answers only inside a job whose environment hook set up buildx", Program, DirEnv)
	}
	s, err := ReadSettings(dir)
	if err != nil {
		return err
	}
	src, err := s.Sources(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return credentials.HandleCommand(&Helper{ctx: ctx, src: src, env: env, creds: s.RegistryCredentials}, action, in, out)
}

func init() {
	credentials.Name = Program
	credentials.Package = "github.com/remote-buildkit/remote-buildkit"
}

// Helper implements credentials.Helper on a job's logins.
type Helper struct {
	ctx   context.Context
	src   *registryauth.Sources
	env   config.Env
	creds []config.RegistryCredential // to name a variable the step's environment lacks
}

// NewHelper answers from src; creds are the registry-credentials entries
// behind src.Static (Run builds one from the job's settings).
func NewHelper(ctx context.Context, src *registryauth.Sources, env config.Env, creds []config.RegistryCredential) *Helper {
	return &Helper{ctx: ctx, src: src, env: env, creds: creds}
}

// Get returns the login for serverURL ("127.0.0.1:5000",
// "https://index.docker.io/v1/"); an identity token comes back as docker
// stores it, with the user name "<token>".
func (h *Helper) Get(serverURL string) (string, string, error) {
	host := config.NormalizeRegistry(serverURL)
	for _, rc := range h.creds {
		for _, name := range []string{rc.UsernameEnv, rc.PasswordEnv} {
			if _, ok := h.env(name); rc.Registry == host && !ok {
				return "", "", fmt.Errorf("%s: registry-credentials for %s: %s is not set in this step's environment: export it in the job (e.g. from the agent's secrets)", Program, host, name)
			}
		}
	}
	ac, err := h.src.Lookup(h.ctx, host)
	if err != nil {
		return "", "", err
	}
	switch {
	case ac.IdentityToken != "":
		return "<token>", ac.IdentityToken, nil
	case ac.Username != "" || ac.Password != "":
		return ac.Username, ac.Password, nil
	}
	return "", "", credentials.NewErrCredentialsNotFound()
}

// List returns the registries with a login and their user names: the
// registry-credentials hosts and the user's docker config's.
func (h *Helper) List() (map[string]string, error) {
	out := map[string]string{}
	if h.src.Docker != nil {
		all, err := h.src.Docker.GetAllCredentials()
		if err != nil {
			return nil, err
		}
		for host, ac := range all {
			if ac.Username != "" {
				out[host] = ac.Username
			}
		}
	}
	for host, ac := range h.src.Static {
		out[host] = ac.Username
	}
	return out, nil
}

// errStore: the helper keeps nothing; logins come from the plugin's sources.
var errStore = errors.New("logins are not stored in this job's docker config (remote-buildkit keeps registry credentials in memory)")

// Add is docker login: a registry the helper serves needs no login (it
// succeeds and keeps nothing); any other is refused, naming the fix.
func (h *Helper) Add(c *credentials.Credentials) error {
	host := config.NormalizeRegistry(c.ServerURL)
	if Serves(h.src, host) {
		return nil
	}
	return fmt.Errorf("%s: docker login %s: %w; give it to the plugin instead: registry-credentials [{registry: %s, username-env: …, password-env: …}]", Program, host, errStore, host)
}

// Delete is docker logout: nothing is stored, so there is nothing to erase.
func (h *Helper) Delete(string) error { return nil }

var _ credentials.Helper = (*Helper)(nil)
