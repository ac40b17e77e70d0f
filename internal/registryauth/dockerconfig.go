// Package registryauth supplies registry credentials to the BuildKit session
// from memory: the daemon asks, the client answers; nothing is written.
package registryauth

import (
	"fmt"
	"os"
	"path/filepath"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
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

// DirExists reports whether dir is an existing directory.
func DirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}
