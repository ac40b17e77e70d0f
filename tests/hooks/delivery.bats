#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2154 # bats: @test subshells, run sets $stderr, literal $ in generated scripts
# Binary delivery in hooks/lib.bash: PATH → cache by version → verified
# download of the release asset → go build.

load helper

setup_file() {
  common_setup_file
  # Delivery needs a few more tools in the sandbox.
  local tool
  for tool in curl uname sleep; do
    [[ -e "$SANDBOX_BIN/$tool" ]] || ln -s "$(type -P "$tool")" "$SANDBOX_BIN/$tool"
  done
}

setup() {
  common_setup
  export PLUGIN="$BATS_TEST_TMPDIR/plugin"
  make_plugin_checkout "$PLUGIN" git
  OS="$(uname -s | tr '[:upper:]' '[:lower:]')"
  case "$(uname -m)" in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; *) ARCH="$(uname -m)" ;; esac
  ASSET="remote-buildkit-v9.9.9-$OS-$ARCH"
  # The release: a small script standing in for the binary.
  SERVED="$BATS_TEST_TMPDIR/served"
  mkdir -p "$SERVED/v9.9.9"
  printf '#!/usr/bin/env bash\necho "released remote-buildkit $*"\n' >"$BATS_TEST_TMPDIR/asset"
  cp "$BATS_TEST_TMPDIR/asset" "$SERVED/v9.9.9/$ASSET"
  (cd "$BATS_TEST_TMPDIR" && printf '%s  %s\n' "$(sha256sum asset | cut -d' ' -f1)" "$ASSET") >"$PLUGIN/hooks/checksums.sha256"
  export BUILDKITE_PLUGINS_PATH="$BATS_TEST_TMPDIR/plugins"
  CACHED="$BUILDKITE_PLUGINS_PATH/remote-buildkit-bin/v9.9.9/$OS-$ARCH/remote-buildkit"
  # A fake go that records that it was asked to build.
  mkdir -p "$BATS_TEST_TMPDIR/gobin"
  printf '#!/usr/bin/env bash\necho "$@" >> "%s/go.calls"\nprintf "#!/usr/bin/env bash\\necho built-by-go\\n" > "$3"\nchmod +x "$3"\n' "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/gobin/go"
  chmod +x "$BATS_TEST_TMPDIR/gobin/go"
}

teardown() {
  [[ -z "${SERVER_PID:-}" ]] || kill "$SERVER_PID" 2>/dev/null || true
}

# serve [FAIL]: serves $SERVED; FAIL = number of requests answered with 500 first.
serve() {
  FAIL="${1:-0}" python3 "$BATS_TEST_DIRNAME/serve.py" "$SERVED" "$BATS_TEST_TMPDIR/requests" "$BATS_TEST_TMPDIR/port" &
  SERVER_PID=$!
  for _ in $(seq 50); do [[ -f "$BATS_TEST_TMPDIR/port" ]] && break; sleep 0.1; done
  export REMOTE_BUILDKIT_DOWNLOAD_URL="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")"
}

requests() { [[ -f "$BATS_TEST_TMPDIR/requests" ]] && wc -l <"$BATS_TEST_TMPDIR/requests" || echo 0; }

@test "a good asset is downloaded, verified, cached and run; the next run uses the cache without a request" {
  serve
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  assert_file_executable "$CACHED"
  [ "$(requests)" -eq 1 ]
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  [ "$(requests)" -eq 1 ]
}

@test "a corrupted asset is refused (fail closed): one-line error with both sums, nothing cached, go not tried" {
  echo 'tampered' >>"$SERVED/v9.9.9/$ASSET"
  serve
  HOOK_PATH="$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_failure
  [[ "$stderr" == *"remote-buildkit: checksum mismatch for $REMOTE_BUILDKIT_DOWNLOAD_URL/v9.9.9/$ASSET: got sha256 $(sha256sum "$SERVED/v9.9.9/$ASSET" | cut -d' ' -f1), hooks/checksums.sha256 says $(cut -d' ' -f1 "$PLUGIN/hooks/checksums.sha256"); refusing to run it"* ]]
  assert_file_not_exist "$CACHED"
  run find "$BUILDKITE_PLUGINS_PATH" -type f
  assert_output ""
  assert_file_not_exist "$BATS_TEST_TMPDIR/go.calls"
}

@test "a 404 falls through to the go build" {
  rm "$SERVED/v9.9.9/$ASSET"
  serve
  HOOK_PATH="$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "built-by-go"
  assert_file_exist "$BATS_TEST_TMPDIR/go.calls"
  [[ "$stderr" == *"could not download $REMOTE_BUILDKIT_DOWNLOAD_URL/v9.9.9/$ASSET; trying the next source"* ]]
}

@test "a 404 and no go: the not-found error names the URL tried" {
  rm "$SERVED/v9.9.9/$ASSET"
  serve
  run_hook "$PLUGIN/hooks"
  assert_failure
  [[ "$stderr" == *"helper binary not found (tried $REMOTE_BUILDKIT_DOWNLOAD_URL/v9.9.9/$ASSET)"* ]]
}

@test "a tampered cached binary is not used: it is downloaded again" {
  serve
  run_hook "$PLUGIN/hooks"
  assert_success
  printf '#!/usr/bin/env bash\necho evil\n' >"$CACHED"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  [ "$(requests)" -eq 2 ]
}

@test "remote-buildkit on PATH wins over the cache and the download" {
  serve
  make_fake_bin "$BATS_TEST_TMPDIR/onpath/remote-buildkit" on-path 0
  HOOK_PATH="$BATS_TEST_TMPDIR/onpath:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "on-path stdout"
  [ "$(requests)" -eq 0 ]
}

@test "an unsupported architecture skips the download" {
  serve
  mkdir -p "$BATS_TEST_TMPDIR/fakeuname"
  printf '#!/usr/bin/env bash\n[ "$1" = -m ] && echo sparc64 || echo Linux\n' >"$BATS_TEST_TMPDIR/fakeuname/uname"
  chmod +x "$BATS_TEST_TMPDIR/fakeuname/uname"
  HOOK_PATH="$BATS_TEST_TMPDIR/fakeuname:$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "built-by-go"
  [ "$(requests)" -eq 0 ]
}

@test "a flaky server is retried: 500 first, then the asset" {
  serve 1
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  [ "$(requests)" -eq 2 ]
}
