//go:build remote_buildkit_test

package registryauth

// testOverrides: this is a test build (make build), which reads HostsEnv.
const testOverrides = true
