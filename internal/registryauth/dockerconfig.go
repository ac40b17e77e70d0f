// Package registryauth supplies registry credentials to the BuildKit session
// from memory: the daemon asks, the client answers; nothing is written.
package registryauth

import (
	"fmt"
	"os"
	"path/filepath"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
)

// DockerConfigDir is where buildctl and docker read credentials from:
// $DOCKER_CONFIG, else ~/.docker.
func DockerConfigDir(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	return filepath.Join(getenv("HOME"), ".docker")
}

// LoadDockerConfig reads (never writes) config.json in dir, including its
// credential helpers. A missing file is an empty configuration.
func LoadDockerConfig(dir string) (*configfile.ConfigFile, error) {
	path := filepath.Join(dir, dockerconfig.ConfigFileName)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return configfile.New(path), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read registry credentials %s: %w", path, err)
	}
	defer f.Close()
	cf := configfile.New(path)
	if err := cf.LoadFromReader(f); err != nil {
		return nil, fmt.Errorf("read registry credentials %s: %w (fix the JSON or point DOCKER_CONFIG elsewhere)", path, err)
	}
	return cf, nil
}

// Provider returns the session attachable answering the daemon's credential
// requests from cf. The provider keeps token seeds in a directory of its
// own (seedDir), so nothing lands in the user's ~/.docker.
func Provider(cf *configfile.ConfigFile, seedDir string) session.Attachable {
	dockerconfig.SetDir(seedDir)
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cf),
	})
}
