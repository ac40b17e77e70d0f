package registryauth

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// Sources answers the daemon's credential requests, in order: the
// registry-credentials option (job environment), Amazon ECR tokens, then the
// job's docker config. Everything stays in this process's memory.
type Sources struct {
	Static   map[string]types.AuthConfig // registry host → login
	ECR      *Tokens                     // nil: ECR logins disabled
	ECRHosts map[string]ECRRegistry      // extra hosts treated as ECR (tests)
	Docker   *configfile.ConfigFile

	once   sync.Once
	docker authprovider.AuthConfigProvider
	mu     sync.Mutex
	errs   map[string]error
}

// StaticFromEnv builds the registry-credentials logins from the job's environment.
func StaticFromEnv(entries []config.RegistryCredential, getenv func(string) string) map[string]types.AuthConfig {
	m := map[string]types.AuthConfig{}
	for _, e := range entries {
		m[e.Registry] = types.AuthConfig{Username: getenv(e.UsernameEnv), Password: getenv(e.PasswordEnv), ServerAddress: e.Registry}
	}
	return m
}

// Lookup returns the login for host (an empty AuthConfig means anonymous).
func (s *Sources) Lookup(ctx context.Context, host string) (types.AuthConfig, error) {
	if ac, ok := s.Static[host]; ok {
		return ac, nil
	}
	if s.ECR != nil {
		if r, ok := ECRRegistryOf(host, s.ECRHosts); ok && s.ECR.Covers(r) {
			tok, err := s.ECR.Get(ctx, r)
			if err != nil {
				s.mu.Lock()
				if s.errs == nil {
					s.errs = map[string]error{}
				}
				s.errs[host] = err
				s.mu.Unlock()
				return types.AuthConfig{}, err
			}
			return types.AuthConfig{Username: tok.Username, Password: tok.Password, ServerAddress: host}, nil
		}
	}
	if s.Docker == nil {
		return types.AuthConfig{}, nil
	}
	s.once.Do(func() { s.docker = authprovider.LoadAuthConfig(s.Docker) })
	return s.docker(ctx, host, nil, nil)
}

// Preflight obtains the ECR logins of the given hosts before the build, so a
// denied token fails fast with its own message instead of a 401 mid-build.
func (s *Sources) Preflight(ctx context.Context, hosts []string) error {
	for _, h := range hosts {
		if s.ECR == nil {
			return nil
		}
		if r, ok := ECRRegistryOf(h, s.ECRHosts); ok && s.ECR.Covers(r) {
			if _, err := s.ECR.Get(ctx, r); err != nil {
				return fmt.Errorf("registry %s: %w", h, err)
			}
		}
	}
	return nil
}

// Errors returns the credential errors met during the build, by host.
func (s *Sources) Errors() map[string]error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]error{}
	for k, v := range s.errs {
		out[k] = v
	}
	return out
}

// UseSeedDir points the auth provider's token seeds (docker/cli's config
// directory, a process-wide setting) at seedDir, a temp dir, so nothing
// lands in the user's ~/.docker. Call it once, before any session starts:
// concurrent builds then only read it.
func UseSeedDir(seedDir string) { dockerconfig.SetDir(seedDir) }

// Attachable returns a session's auth provider; UseSeedDir must have been
// called. It is safe to call from several goroutines.
func (s *Sources) Attachable() session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: func(ctx context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
			return s.Lookup(ctx, host)
		},
	})
}

// WriteDockerConfig writes config.json with the logins of hosts into a new
// 0700 temp dir and returns it: for jobs that also run docker or buildctl.
func (s *Sources) WriteDockerConfig(ctx context.Context, hosts []string) (string, error) {
	dir, err := os.MkdirTemp("", "remote-buildkit-docker-config-")
	if err != nil {
		return "", err
	}
	cf := configfile.New(dir + "/config.json")
	sort.Strings(hosts)
	for _, h := range hosts {
		ac, err := s.Lookup(ctx, h)
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("registry %s: %w", h, err)
		}
		if ac.Username == "" && ac.Password == "" {
			continue
		}
		ac.ServerAddress = h
		cf.AuthConfigs[h] = ac
	}
	if err := os.WriteFile(dir+"/"+MarkerFile, nil, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	f, err := os.OpenFile(dir+"/config.json", os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err == nil {
		err = cf.SaveToWriter(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("write job docker config: %w", err)
	}
	return dir, nil
}

// MarkerFile marks a docker config dir this tool created (and may delete).
const MarkerFile = ".remote-buildkit-job-config"

// Source says where the login for host would come from: "registry-credentials",
// "ECR", "docker config" or "" (anonymous). For ECR it obtains the token.
func (s *Sources) Source(ctx context.Context, host string) (string, error) {
	if _, ok := s.Static[host]; ok {
		return "registry-credentials", nil
	}
	if s.ECR != nil {
		if r, ok := ECRRegistryOf(host, s.ECRHosts); ok && s.ECR.Covers(r) {
			if _, err := s.ECR.Get(ctx, r); err != nil {
				return "", err
			}
			return r.String(), nil
		}
	}
	ac, err := s.Lookup(ctx, host)
	if err != nil {
		return "", err
	}
	if ac.Username != "" || ac.Password != "" || ac.IdentityToken != "" || ac.RegistryToken != "" {
		return "docker config", nil
	}
	return "", nil
}
