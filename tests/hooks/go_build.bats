#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2154 # bats: @test subshells, run sets $stderr, bash -c scripts
# End to end: hooks/lib.bash really builds the helper from this checkout with
# go (slow when the go build cache is cold: ~80 s), then the binary runs.

load helper

setup_file() {
  common_setup_file
}

setup() {
  common_setup
}

@test "with go and no binary, the plugin checkout is really built, cached by commit, and the binary runs" {
  local go
  go="$(type -P go)" || skip "go is not installed: the hooks cannot build the helper binary from the checkout"
  export REMOTE_BUILDKIT_CACHE="$BATS_TEST_TMPDIR/cache"
  HOOK_PATH="$(dirname "$go"):$HOOK_PATH"
  local commit bin
  commit="$(git -C "$REPO_ROOT" rev-parse HEAD)"
  bin="$REMOTE_BUILDKIT_CACHE/bin/$commit/remote-buildkit"

  # The hooks' own discovery, on the real checkout (not a copy).
  run --separate-stderr env PATH="$HOOK_PATH" bash -c 'source "$1/hooks/lib.bash" && remote_buildkit_bin' _ "$REPO_ROOT"

  assert_success
  assert_output "$bin"
  assert_equal "$stderr" "remote-buildkit: building the helper binary from $REPO_ROOT (commit $commit) with go…"
  assert_file_executable "$bin"
  assert_equal "$(ls -A "$(dirname "$bin")")" $'remote-buildkit\nremote-buildkit.sha256\nremote-buildkit.stat'

  run --separate-stderr "$bin" version
  assert_success
  assert_line --index 0 "remote-buildkit $commit"
  assert_line --index 1 --regexp '^buildkit client v[0-9]'

  # Second call: the cached binary, no build.
  run --separate-stderr env PATH="$HOOK_PATH" bash -c 'source "$1/hooks/lib.bash" && remote_buildkit_bin' _ "$REPO_ROOT"
  assert_success
  assert_output "$bin"
  assert_equal "$stderr" ''
}
