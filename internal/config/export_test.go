package config

import "slices"

// RawFromEnvWithSource lets the tests check which entry RawFromEnv took.
var RawFromEnvWithSource = rawFromEnv

// ScopedKeys lists the classified options, sorted.
func ScopedKeys() []string {
	out := make([]string, 0, len(scopes))
	for k := range scopes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
