#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2154 # bats: @test subshells, run sets $stderr, bash -c scripts
# hooks/command and the binary discovery in hooks/lib.bash.

load helper

setup_file() {
  common_setup_file
  # A copy of the hooks in a git repo, in a directory whose name has a space.
  export PLUGIN="$BATS_FILE_TMPDIR/plugin checkout"
  make_plugin_checkout "$PLUGIN" git
  PLUGIN_COMMIT="$(git -C "$PLUGIN" rev-parse HEAD)"
  export PLUGIN_COMMIT
}

setup() {
  common_setup
}

NOT_FOUND='remote-buildkit: helper binary not found: set REMOTE_BUILDKIT_BIN, put remote-buildkit on PATH (e.g. bake it into the agent AMI), or install Go so the plugin can build it from its checkout'

# write_fake_go_build: $BATS_TEST_TMPDIR/fake-go-build records its cwd and argv
# in $BATS_TEST_TMPDIR/go.{pwd,argv} and writes, at the path after "build -o",
# a binary printing "built-by-stub <args>".
write_fake_go_build() {
  cat >"$BATS_TEST_TMPDIR/fake-go-build" <<'EOF'
#!/usr/bin/env bash
pwd > "$BATS_TEST_TMPDIR/go.pwd"
printf '%s\n' "$@" > "$BATS_TEST_TMPDIR/go.argv"
printf '#!/usr/bin/env bash\necho "built-by-stub $*"\n' > "$3"
chmod +x "$3"
EOF
  chmod +x "$BATS_TEST_TMPDIR/fake-go-build"
  export BATS_TEST_TMPDIR
}

# stub_go_build VERSION [COUNT]: expects COUNT (default 1) calls of the go build
# of the plugin with main.version=VERSION (a glob), each running fake-go-build.
stub_go_build() {
  local version="$1" count="${2:-1}" i plan=()
  write_fake_go_build
  for ((i = 0; i < count; i++)); do
    # bats-mock splits patterns on spaces: "?" stands for the one in "-X main.version=...".
    plan+=("build -o * -tags urfave_cli_no_docs -ldflags -X?main.version=${version} ./cmd/remote-buildkit : '$BATS_TEST_TMPDIR/fake-go-build' \"\$@\"")
  done
  stub go "${plan[@]}"
}

# assert_go_built_into PATH COMMIT: the last go call was the expected build,
# run in the plugin dir, into a temp file next to PATH.
assert_go_built_into() {
  local bin="$1" commit="$2" argv
  assert_equal "$(cat "$BATS_TEST_TMPDIR/go.pwd")" "$(cd "$PLUGIN" && pwd -P)"
  mapfile -t argv <"$BATS_TEST_TMPDIR/go.argv"
  assert_equal "${#argv[@]}" 8
  assert_equal "${argv[0]}" build
  assert_equal "${argv[1]}" -o
  assert_equal "$(dirname "$(dirname "${argv[2]}")")" "$(dirname "$bin")"
  assert_not_equal "${argv[2]}" "$bin"
  assert_equal "${argv[3]}" -tags
  assert_equal "${argv[4]}" urfave_cli_no_docs
  assert_equal "${argv[5]}" -ldflags
  assert_equal "${argv[6]}" "-X main.version=${commit}"
  assert_equal "${argv[7]}" ./cmd/remote-buildkit
}

@test "REMOTE_BUILDKIT_BIN wins over PATH; the hook runs '<bin> build' and its output reaches the caller" {
  make_fake_bin "$BATS_TEST_TMPDIR/on path/remote-buildkit" from-path 0
  make_fake_bin "$BATS_TEST_TMPDIR/my bin/remote-buildkit" from-env 0
  export REMOTE_BUILDKIT_BIN="$BATS_TEST_TMPDIR/my bin/remote-buildkit"
  HOOK_PATH="$BATS_TEST_TMPDIR/on path:$HOOK_PATH"

  run_hook "$PLUGIN/hooks"

  assert_success
  assert_output 'from-env stdout'
  assert_equal "$stderr" 'from-env stderr'
  assert_equal "$(cat "$REMOTE_BUILDKIT_BIN.argv")" build
  assert_file_not_exists "$BATS_TEST_TMPDIR/on path/remote-buildkit.argv"
}

@test "the hook exits with the binary's exit code" {
  make_fake_bin "$BATS_TEST_TMPDIR/bin/remote-buildkit" failing 2
  export REMOTE_BUILDKIT_BIN="$BATS_TEST_TMPDIR/bin/remote-buildkit"

  run_hook "$PLUGIN/hooks"

  assert_failure 2
  assert_output 'failing stdout'
  assert_equal "$stderr" 'failing stderr'
  assert_equal "$(cat "$REMOTE_BUILDKIT_BIN.argv")" build
}

@test "REMOTE_BUILDKIT_BIN pointing to a non-executable file is an error naming it" {
  make_fake_bin "$BATS_TEST_TMPDIR/on path/remote-buildkit" from-path 0
  HOOK_PATH="$BATS_TEST_TMPDIR/on path:$HOOK_PATH"
  printf 'not a program\n' >"$BATS_TEST_TMPDIR/remote-buildkit"
  export REMOTE_BUILDKIT_BIN="$BATS_TEST_TMPDIR/remote-buildkit"

  run_hook "$PLUGIN/hooks"

  assert_failure 1
  assert_output ''
  assert_equal "$stderr" "remote-buildkit: REMOTE_BUILDKIT_BIN=$REMOTE_BUILDKIT_BIN is not an executable file: point REMOTE_BUILDKIT_BIN at the remote-buildkit binary (and chmod +x it), or unset it"
  assert_file_not_exists "$BATS_TEST_TMPDIR/on path/remote-buildkit.argv"
}

@test "REMOTE_BUILDKIT_BIN pointing to a missing file or a directory is an error naming it" {
  export REMOTE_BUILDKIT_BIN="$BATS_TEST_TMPDIR/does not exist"
  run_hook "$PLUGIN/hooks"
  assert_failure 1
  assert_output ''
  assert_regex "$stderr" "^remote-buildkit: REMOTE_BUILDKIT_BIN=$BATS_TEST_TMPDIR/does not exist is not an executable file: [^"$'\n'"]+\$"

  export REMOTE_BUILDKIT_BIN="$BATS_TEST_TMPDIR"
  run_hook "$PLUGIN/hooks"
  assert_failure 1
  assert_regex "$stderr" "^remote-buildkit: REMOTE_BUILDKIT_BIN=$BATS_TEST_TMPDIR is not an executable file"
}

@test "a bare REMOTE_BUILDKIT_BIN name is the file in the working directory, not a PATH lookup" {
  make_fake_bin "$BATS_TEST_TMPDIR/on path/remote-buildkit" from-path 0
  make_fake_bin "$BATS_TEST_TMPDIR/remote-buildkit" from-cwd 0
  HOOK_PATH="$BATS_TEST_TMPDIR/on path:$HOOK_PATH"
  export REMOTE_BUILDKIT_BIN=remote-buildkit

  run_hook "$PLUGIN/hooks" # runs from $BATS_TEST_TMPDIR

  assert_success
  assert_output 'from-cwd stdout'
  assert_file_not_exists "$BATS_TEST_TMPDIR/on path/remote-buildkit.argv"
}

@test "remote-buildkit on PATH is used when REMOTE_BUILDKIT_BIN is unset (or empty)" {
  make_fake_bin "$BATS_TEST_TMPDIR/on path/remote-buildkit" from-path 3
  HOOK_PATH="$BATS_TEST_TMPDIR/on path:$HOOK_PATH"

  run_hook "$PLUGIN/hooks"

  assert_failure 3
  assert_output 'from-path stdout'
  assert_equal "$stderr" 'from-path stderr'
  assert_equal "$(cat "$BATS_TEST_TMPDIR/on path/remote-buildkit.argv")" build

  export REMOTE_BUILDKIT_BIN=
  run_hook "$PLUGIN/hooks"
  assert_failure 3
  assert_output 'from-path stdout'
}

@test "the hook works when sourced from another directory, as the Buildkite agent's hook wrapper does" {
  make_fake_bin "$BATS_TEST_TMPDIR/on path/remote-buildkit" from-path 0
  mkdir -p "$BATS_TEST_TMPDIR/elsewhere"
  cd "$BATS_TEST_TMPDIR/elsewhere"

  run --separate-stderr env PATH="$BATS_TEST_TMPDIR/on path:$HOOK_PATH" bash -c '. "$1"; echo "not reached"' _ "$PLUGIN/hooks/command"

  assert_success
  assert_output 'from-path stdout'
  assert_equal "$(cat "$BATS_TEST_TMPDIR/on path/remote-buildkit.argv")" build
}

@test "without a binary, go builds one from the plugin checkout into a cache keyed by its commit, then reuses it" {
  load_bats_mock
  export REMOTE_BUILDKIT_CACHE="$BATS_TEST_TMPDIR/cache dir"
  local bin="$REMOTE_BUILDKIT_CACHE/bin/$PLUGIN_COMMIT/remote-buildkit"
  stub_go_build "$PLUGIN_COMMIT"

  run_hook "$PLUGIN/hooks"

  assert_success
  assert_output 'built-by-stub build'
  assert_equal "$stderr" "remote-buildkit: building the helper binary from $(cd "$PLUGIN" && pwd -P) (commit $PLUGIN_COMMIT) with go…"
  unstub go
  assert_go_built_into "$bin" "$PLUGIN_COMMIT"
  assert_file_executable "$bin"
  # Only the binary is left: the temp build dir is gone.
  assert_equal "$(ls -A "$(dirname "$bin")")" $'remote-buildkit\nremote-buildkit.sha256\nremote-buildkit.stat'

  # Second run: the cached binary, and go is not called at all.
  stub go
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built-by-stub build'
  assert_equal "$stderr" ''
  unstub go
}

@test "the go build cache defaults to \$XDG_CACHE_HOME/remote-buildkit, then \$HOME/.cache/remote-buildkit" {
  load_bats_mock
  stub_go_build "$PLUGIN_COMMIT" 2

  export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/xdg cache"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built-by-stub build'
  assert_go_built_into "$XDG_CACHE_HOME/remote-buildkit/bin/$PLUGIN_COMMIT/remote-buildkit" "$PLUGIN_COMMIT"
  assert_file_executable "$XDG_CACHE_HOME/remote-buildkit/bin/$PLUGIN_COMMIT/remote-buildkit"

  unset XDG_CACHE_HOME
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built-by-stub build'
  assert_go_built_into "$HOME/.cache/remote-buildkit/bin/$PLUGIN_COMMIT/remote-buildkit" "$PLUGIN_COMMIT"
  assert_file_executable "$HOME/.cache/remote-buildkit/bin/$PLUGIN_COMMIT/remote-buildkit"
  unstub go
}

@test "a failing go build is a one-line error and caches nothing" {
  load_bats_mock
  export REMOTE_BUILDKIT_CACHE="$BATS_TEST_TMPDIR/cache"
  stub go "build * : echo 'main.go:1:1: syntax error' >&2; exit 1"

  run_hook "$PLUGIN/hooks"

  assert_failure 1
  assert_output ''
  local plugin_dir
  plugin_dir="$(cd "$PLUGIN" && pwd -P)"
  assert_equal "$stderr" "remote-buildkit: building the helper binary from $plugin_dir (commit $PLUGIN_COMMIT) with go…
main.go:1:1: syntax error
remote-buildkit: failed to build the helper binary from $plugin_dir with go (see above): fix the build, or set REMOTE_BUILDKIT_BIN / put remote-buildkit on PATH"
  unstub go
  assert_file_not_exists "$REMOTE_BUILDKIT_CACHE/bin/$PLUGIN_COMMIT/remote-buildkit"
  assert_equal "$(ls -A "$REMOTE_BUILDKIT_CACHE/bin/$PLUGIN_COMMIT")" ''
}

@test "a plugin checkout that is not a git repo is keyed by the hash of its Go sources" {
  load_bats_mock
  local copy="$BATS_TEST_TMPDIR/plugin copy"
  make_plugin_checkout "$copy" nogit
  export REMOTE_BUILDKIT_CACHE="$BATS_TEST_TMPDIR/cache"
  stub_go_build 'nogit-*'

  run_hook "$copy/hooks"

  assert_success
  assert_output 'built-by-stub build'
  local keys
  keys="$(ls "$REMOTE_BUILDKIT_CACHE/bin")"
  assert_regex "$keys" '^nogit-[0-9a-f]{16}$'
  assert_equal "$(sed -n 7p "$BATS_TEST_TMPDIR/go.argv")" "-X main.version=$keys"
  assert_file_executable "$REMOTE_BUILDKIT_CACHE/bin/$keys/remote-buildkit"
  unstub go

  # Same sources: same key, cache hit. Changed sources: new key, new build.
  stub_go_build 'nogit-*'
  run_hook "$copy/hooks"
  assert_success
  assert_equal "$stderr" ''
  echo '// changed' >>"$copy/cmd/remote-buildkit/main.go"
  run_hook "$copy/hooks"
  assert_success
  assert_regex "$stderr" '^remote-buildkit: building the helper binary from .* \(commit nogit-[0-9a-f]{16}\) with go…$'
  unstub go
  local dirs=("$REMOTE_BUILDKIT_CACHE"/bin/nogit-*)
  assert_equal "${#dirs[@]}" 2
}

@test "two hooks building at once both get a complete binary" {
  # A slow fake go that leaves a half-written executable for a while
  # (bats-mock's call counter isn't safe for parallel calls).
  mkdir -p "$BATS_TEST_TMPDIR/go bin"
  cat >"$BATS_TEST_TMPDIR/go bin/go" <<'EOF'
#!/usr/bin/env bash
printf '#!/usr/bin/env bash\n' > "$3"
chmod +x "$3"
sleep 0.6
printf 'echo "built-by-slow-go $*"\n' >> "$3"
EOF
  chmod +x "$BATS_TEST_TMPDIR/go bin/go"
  HOOK_PATH="$BATS_TEST_TMPDIR/go bin:$HOOK_PATH"
  export REMOTE_BUILDKIT_CACHE="$BATS_TEST_TMPDIR/cache"
  local bin="$REMOTE_BUILDKIT_CACHE/bin/$PLUGIN_COMMIT/remote-buildkit"

  env PATH="$HOOK_PATH" "$PLUGIN/hooks/command" >"$BATS_TEST_TMPDIR/out1" 2>"$BATS_TEST_TMPDIR/err1" &
  local pid1=$!
  sleep 0.2 # the first build is under way
  env PATH="$HOOK_PATH" "$PLUGIN/hooks/command" >"$BATS_TEST_TMPDIR/out2" 2>"$BATS_TEST_TMPDIR/err2" &
  local pid2=$!
  wait "$pid1"
  wait "$pid2"

  assert_equal "$(cat "$BATS_TEST_TMPDIR/out1")" 'built-by-slow-go build'
  assert_equal "$(cat "$BATS_TEST_TMPDIR/out2")" 'built-by-slow-go build'
  # The second hook did not run the first one's half-written binary: it built its own.
  assert_regex "$(cat "$BATS_TEST_TMPDIR/err1")" "^remote-buildkit: building the helper binary from .* with go…\$"
  assert_regex "$(cat "$BATS_TEST_TMPDIR/err2")" "^remote-buildkit: building the helper binary from .* with go…\$"
  assert_equal "$(ls -A "$(dirname "$bin")")" $'remote-buildkit\nremote-buildkit.sha256\nremote-buildkit.stat'
}

@test "no binary and no go: one-line 'helper binary not found' error, exit 1" {
  run_hook "$PLUGIN/hooks"

  assert_failure 1
  assert_output ''
  assert_equal "$stderr" "$NOT_FOUND"
  assert_file_not_exists "$HOME/.cache/remote-buildkit"
}

@test "the hooks are shellcheck-clean" {
  type -P shellcheck >/dev/null || skip "shellcheck is not installed (make deps installs it)"
  cd "$REPO_ROOT"
  run shellcheck -x hooks/*
  assert_success
  assert_output ''
}
