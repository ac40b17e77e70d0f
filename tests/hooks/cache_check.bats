#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2154 # bats: @test subshells, run sets $stderr, bash -c scripts
# The binary cached under bin/<commit>/ is run only as this user built and
# recorded it: owner, mode, and the SHA-256 recorded at build time.

load helper

setup_file() {
  common_setup_file
  export PLUGIN="$BATS_FILE_TMPDIR/plugin"
  make_plugin_checkout "$PLUGIN" git
  PLUGIN_COMMIT="$(git -C "$PLUGIN" rev-parse HEAD)"
  export PLUGIN_COMMIT
}

# A fake go that "builds" a binary printing "built <args>", counting builds.
setup() {
  common_setup
  mkdir -p "$BATS_TEST_TMPDIR/go bin"
  cat >"$BATS_TEST_TMPDIR/go bin/go" <<'EOF2'
#!/usr/bin/env bash
echo x >>"$BATS_TEST_TMPDIR/builds"
printf '#!/usr/bin/env bash\necho "built $*"\n' >"$3"
chmod 755 "$3"
EOF2
  chmod +x "$BATS_TEST_TMPDIR/go bin/go"
  export BATS_TEST_TMPDIR
  HOOK_PATH="$BATS_TEST_TMPDIR/go bin:$HOOK_PATH"
  export REMOTE_BUILDKIT_CACHE="$BATS_TEST_TMPDIR/cache"
  BIN="$REMOTE_BUILDKIT_CACHE/bin/$PLUGIN_COMMIT/remote-buildkit"
  run_hook "$PLUGIN/hooks" # the first build, recorded
  assert_success
  assert_output 'built build'
  assert_file_exists "$BIN.sha256"
}

# tamper: the cached binary now leaves a mark when it runs.
tamper() {
  printf '#!/usr/bin/env bash\ntouch "%s/TAMPERED-RAN"\necho tampered\n' "$BATS_TEST_TMPDIR" >"$BIN"
}

builds() { wc -l <"$BATS_TEST_TMPDIR/builds" | tr -d ' '; }

@test "the recorded binary runs again without a build" {
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built build'
  assert_equal "$stderr" ''
  assert_equal "$(builds)" 1
}

@test "a tampered cached binary is not run: it is built again" {
  tamper
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built build'
  assert_file_not_exists "$BATS_TEST_TMPDIR/TAMPERED-RAN"
  assert_regex "$stderr" "is not the one this plugin built \(SHA-256 [0-9a-f]{64}, recorded [0-9a-f]{64}\): building it again"
  assert_equal "$(builds)" 2
}

@test "a tampered binary with its recorded sum replaced too is caught by the mode check when group-writable" {
  tamper
  sha256sum "$BIN" | cut -d' ' -f1 >"$BIN.sha256"
  chmod 775 "$BIN"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built build'
  assert_file_not_exists "$BATS_TEST_TMPDIR/TAMPERED-RAN"
  assert_regex "$stderr" "writable by other users \(mode 775\)"
}

@test "the recorded stat lets a warm hook skip hashing; one that no longer matches is hashed" {
  assert_file_exists "$BIN.stat"
  # A sum that no longer matches the file would fail a hashing check: the
  # unchanged binary runs without one (the stat still matches).
  echo 0000 >"$BIN.sha256"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built build'
  assert_equal "$(builds)" 1
  # Tampered with its mtime put back: ctime still moved, so it is hashed and refused.
  cp -p "$BIN" "$BATS_TEST_TMPDIR/orig"
  sha256sum "$BIN" | cut -d' ' -f1 >"$BIN.sha256"
  tamper
  touch -r "$BATS_TEST_TMPDIR/orig" "$BIN"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built build'
  assert_file_not_exists "$BATS_TEST_TMPDIR/TAMPERED-RAN"
  assert_regex "$stderr" "SHA-256 [0-9a-f]{64}, recorded [0-9a-f]{64}"
  assert_equal "$(builds)" 2
}

@test "a missing recorded sum: built again" {
  tamper
  rm "$BIN.sha256"
  run_hook "$PLUGIN/hooks"
  assert_success
  assert_output 'built build'
  assert_file_not_exists "$BATS_TEST_TMPDIR/TAMPERED-RAN"
  assert_regex "$stderr" "no SHA-256 recorded when it was built"
}

@test "a cache directory other users can write is refused, nothing runs" {
  chmod 777 "$(dirname "$BIN")"
  run_hook "$PLUGIN/hooks"
  assert_failure 1
  assert_output ''
  assert_regex "$stderr" "refusing the cached binary .*: .* is writable by other users \(mode 777\): run chmod go-w "
  assert_equal "$(builds)" 1
}
