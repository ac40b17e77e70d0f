package config

import "slices"

// RawFromEnvWithSource lets the tests check which entry rawFromEnv took.
var RawFromEnvWithSource = rawFromEnv

// RawFromEnv is rawFromEnv without the source.
func RawFromEnv(env Env) ([]byte, error) {
	js, _, err := rawFromEnv(env)
	return js, err
}

// ScopedKeys lists the classified options, sorted.
func ScopedKeys() []string {
	out := make([]string, 0, len(scopes))
	for k := range scopes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
