//go:build !remote_buildkit_test

package registryauth

// testOverrides: a released binary ignores the test overrides (HostsEnv).
const testOverrides = false
