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
  REMOTE_BUILDKIT_DOWNLOAD_URL="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")"
  export REMOTE_BUILDKIT_DOWNLOAD_URL
  URL="$REMOTE_BUILDKIT_DOWNLOAD_URL/v9.9.9/$ASSET"
}

# sandbox_without TOOL... [+ EXTRA...]: HOOK_PATH becomes a copy of the tool
# sandbox without the TOOLs, plus the host's EXTRA tools (after "+").
sandbox_without() {
  local dir="$BATS_TEST_TMPDIR/sandbox" tool drop=() extra=()
  while (($#)) && [[ "$1" != + ]]; do drop+=("$1") && shift; done
  (($#)) && shift && extra=("$@")
  mkdir -p "$dir"
  cp -P "$SANDBOX_BIN"/* "$dir/"
  for tool in "${drop[@]}"; do rm -f "$dir/$tool"; done
  for tool in "${extra[@]}"; do ln -sf "$(type -P "$tool")" "$dir/$tool"; done
  HOOK_PATH="$dir"
}

requests() { [[ -f "$BATS_TEST_TMPDIR/requests" ]] && wc -l <"$BATS_TEST_TMPDIR/requests" || echo 0; }

@test "a good asset is downloaded, verified, cached and run; the next run uses the cache without a request" {
  serve
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  assert_equal "$stderr" "remote-buildkit: downloading $ASSET…"
  assert_file_executable "$CACHED"
  # Only the verified binary: no temp file left next to it.
  assert_equal "$(ls -A "$(dirname "$CACHED")")" remote-buildkit
  assert_equal "$(cat "$BATS_TEST_TMPDIR/requests")" "/v9.9.9/$ASSET"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  assert_equal "$stderr" ""
  [ "$(requests)" -eq 1 ]
}

@test "a corrupted asset is refused (fail closed): one-line error with both sums, nothing cached, go not tried" {
  echo 'tampered' >>"$SERVED/v9.9.9/$ASSET"
  serve
  HOOK_PATH="$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_failure
  assert_output ""
  local got want
  got="$(sha256sum "$SERVED/v9.9.9/$ASSET" | cut -d' ' -f1)"
  want="$(sha256sum "$BATS_TEST_TMPDIR/asset" | cut -d' ' -f1)"
  assert_equal "$stderr" "remote-buildkit: downloading $ASSET…
remote-buildkit: checksum mismatch for $URL: got sha256 $got, hooks/checksums.sha256 says $want; refusing to run it (check the download URL or a proxy rewriting it)"
  assert_file_not_exist "$CACHED"
  run find "$BUILDKITE_PLUGINS_PATH" -type f
  assert_output ""
  assert_file_not_exist "$BATS_TEST_TMPDIR/go.calls"
}

@test "a 404 falls through to the go build, with a one-line note" {
  rm "$SERVED/v9.9.9/$ASSET"
  serve
  HOOK_PATH="$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "built-by-go"
  assert_file_exist "$BATS_TEST_TMPDIR/go.calls"
  # Not retried: a 404 is not transient.
  [ "$(requests)" -eq 1 ]
  assert_equal "${stderr_lines[0]}" "remote-buildkit: downloading $ASSET…"
  assert_equal "${stderr_lines[1]}" "remote-buildkit: could not download $URL (curl: (22) The requested URL returned error: 404); trying the next source"
  assert_equal "${stderr_lines[2]}" "remote-buildkit: building the helper binary from $(cd -P "$PLUGIN" && pwd) (commit $(git -C "$PLUGIN" rev-parse HEAD)) with go…"
  assert_equal "${#stderr_lines[@]}" 3
  run find "$BUILDKITE_PLUGINS_PATH" -type f
  assert_output ""
}

@test "a 404 and no go: the not-found error names the URL tried" {
  rm "$SERVED/v9.9.9/$ASSET"
  serve
  run_hook "$PLUGIN/hooks"
  assert_failure
  assert_equal "${stderr_lines[-1]}" "remote-buildkit: helper binary not found (tried $URL): set REMOTE_BUILDKIT_BIN, put remote-buildkit on PATH (e.g. bake it into the agent AMI), or install Go so the plugin can build it from its checkout"
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
  assert_equal "$(cat "$CACHED")" "$(cat "$BATS_TEST_TMPDIR/asset")"
}

@test "a tampered cached binary and a corrupted asset: refused, the tampered file never runs" {
  serve
  run_hook "$PLUGIN/hooks"
  assert_success
  printf '#!/usr/bin/env bash\necho evil\n' >"$CACHED"
  echo 'tampered' >>"$SERVED/v9.9.9/$ASSET"
  HOOK_PATH="$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_failure
  assert_output ""
  assert_equal "${#stderr_lines[@]}" 2
  [[ "${stderr_lines[1]}" == "remote-buildkit: checksum mismatch for $URL: "* ]]
  assert_file_not_exist "$BATS_TEST_TMPDIR/go.calls"
}

@test "remote-buildkit on PATH wins over the cache and the download" {
  serve
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_file_executable "$CACHED"
  make_fake_bin "$BATS_TEST_TMPDIR/onpath/remote-buildkit" on-path 0
  HOOK_PATH="$BATS_TEST_TMPDIR/onpath:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "on-path stdout"
  assert_equal "$(cat "$BATS_TEST_TMPDIR/onpath/remote-buildkit.argv")" build
  # Only the first run's request.
  [ "$(requests)" -eq 1 ]
}

@test "an unsupported architecture skips the cache and the download" {
  serve
  mkdir -p "$BATS_TEST_TMPDIR/fakeuname"
  printf '#!/usr/bin/env bash\n[ "$1" = -m ] && echo sparc64 || echo Linux\n' >"$BATS_TEST_TMPDIR/fakeuname/uname"
  chmod +x "$BATS_TEST_TMPDIR/fakeuname/uname"
  HOOK_PATH="$BATS_TEST_TMPDIR/fakeuname:$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "built-by-go"
  [ "$(requests)" -eq 0 ]
  assert_file_not_exist "$BUILDKITE_PLUGINS_PATH"
}

@test "a flaky server is retried: 500 first, then the asset" {
  serve 1
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  [ "$(requests)" -eq 2 ]
  assert_equal "$(ls -A "$(dirname "$CACHED")")" remote-buildkit
}

@test "no sums file: no cache lookup, no download, straight to the go build" {
  serve
  rm "$PLUGIN/hooks/checksums.sha256"
  HOOK_PATH="$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "built-by-go"
  [ "$(requests)" -eq 0 ]
}

@test "the sums file may list other platforms, use binary-mode names and lack a final newline" {
  local want
  want="$(sha256sum "$BATS_TEST_TMPDIR/asset" | cut -d' ' -f1)"
  printf '%s  remote-buildkit-v9.9.9-plan9-amd64\n%s *%s' "$want" "$want" "$ASSET" >"$PLUGIN/hooks/checksums.sha256"
  serve
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  [ "$(requests)" -eq 1 ]
}

@test "without sha256sum, shasum verifies (macOS)" {
  type -P shasum >/dev/null || skip "shasum is not installed"
  sandbox_without sha256sum + shasum
  serve
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  # The cache check works with shasum too: no second request.
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "released remote-buildkit build"
  [ "$(requests)" -eq 1 ]
  echo 'tampered' >>"$SERVED/v9.9.9/$ASSET"
  rm "$CACHED"
  run_hook "$PLUGIN/hooks"
  assert_failure
  [[ "$stderr" == *"checksum mismatch for $URL"* ]]
}

@test "without curl: a one-line note, then the go build" {
  sandbox_without curl
  HOOK_PATH="$BATS_TEST_TMPDIR/gobin:$HOOK_PATH"
  serve
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output "built-by-go"
  assert_equal "${stderr_lines[0]}" "remote-buildkit: curl is not installed, so $URL cannot be downloaded; trying the next source"
  [ "$(requests)" -eq 0 ]
}

# bats test_tags=release
@test "a release made by make release is downloaded, verified and run as on a tag" {
  # The tagged commit's hooks/checksums.sha256 and the release assets, as
  # `make release` makes them (this platform only), served like GitHub releases.
  type -P go >/dev/null || skip "go is not installed: make release cannot build the binaries"
  type -P make >/dev/null || skip "make is not installed"
  local version=v9.9.8
  mkdir -p "$SERVED/$version"
  run make -s -C "$REPO_ROOT" release VERSION="$version" RELEASE_TARGETS="$OS/$ARCH" \
    DIST="$SERVED/$version" SUMS="$PLUGIN/hooks/checksums.sha256"
  assert_success
  assert_equal "$(wc -l <"$PLUGIN/hooks/checksums.sha256")" 1
  serve
  # The real binary runs: it rejects a configuration it does not know, as a build would.
  export BUILDKITE_PLUGIN_CONFIGURATION='{"no-such-option": true}'
  run_hook "$PLUGIN/hooks"
  assert_failure 2
  [[ "$stderr" == *"remote-buildkit: downloading remote-buildkit-$version-$OS-$ARCH…"* ]]
  [[ "$stderr" == *"no-such-option"* ]]
  assert_equal "$(cat "$BATS_TEST_TMPDIR/requests")" "/$version/remote-buildkit-$version-$OS-$ARCH"
  local cached="$BUILDKITE_PLUGINS_PATH/remote-buildkit-bin/$version/$OS-$ARCH/remote-buildkit"
  run "$cached" version
  assert_success
  [[ "$output" == *"$version"* ]]
  # The next job uses the verified cache: no second request.
  run_hook "$PLUGIN/hooks"
  assert_failure 2
  [ "$(requests)" -eq 1 ]
}
