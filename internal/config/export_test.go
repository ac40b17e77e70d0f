package config

// RawFromEnvWithSource lets the tests check which entry RawFromEnv took.
var RawFromEnvWithSource = rawFromEnv
