#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2154 # bats: @test subshells, run sets $stderr, bash -c scripts
# hooks/environment (evals '<bin> environment') and hooks/pre-exit ('<bin> cleanup').
# Discovery itself is covered by command.bats: here, one check per hook that it
# goes through the same hooks/lib.bash.

load helper

setup_file() {
  common_setup_file
  export HOOKS="$REPO_ROOT/hooks"
}

setup() {
  common_setup
  export FAKE="$BATS_TEST_TMPDIR/fake bin/remote-buildkit"
}

NOT_FOUND='remote-buildkit: helper binary not found: set REMOTE_BUILDKIT_BIN, put remote-buildkit on PATH (e.g. bake it into the agent AMI), or install Go so the plugin can build it from its checkout'

# make_fake_env_bin EXIT: writes $FAKE, which records its argv in $FAKE.argv,
# prints $FAKE.stdout (written by the test, verbatim) on stdout and
# "fake stderr" on stderr, then exits EXIT.
make_fake_env_bin() {
  local code="$1"
  mkdir -p "$(dirname "$FAKE")"
  cat >"$FAKE" <<EOF
#!/usr/bin/env bash
printf '%s\n' "\$@" > "\$0.argv"
cat "\$0.stdout"
echo 'fake stderr' >&2
exit ${code}
EOF
  chmod +x "$FAKE"
  : >"$FAKE.stdout"
}

# run_named_hook NAME: runs hooks/NAME as a program with PATH=$HOOK_PATH, from $BATS_TEST_TMPDIR.
run_named_hook() {
  cd "$BATS_TEST_TMPDIR" || return 1
  run --separate-stderr env PATH="$HOOK_PATH" "$HOOKS/$1"
}

# SOURCE_AND_DUMP: what the Buildkite agent does with an environment hook:
# source it in a shell from the job's directory, then read the environment.
# Here a child process prints the variables named in $3..., so only exported
# ones show; an EXIT trap shows what the shell held if the hook exited it.
SOURCE_AND_DUMP='
cd "$2" || exit 99
shift 2 && names=("$@")
trap '\''for n in "${names[@]}"; do printf "trap %s=[%s]\n" "$n" "${!n-<unset>}"; done'\'' EXIT
. "$HOOK"
bash -c '\''for n; do printf "%s=[%s]\n" "$n" "${!n-<unset>}"; done'\'' _ "${names[@]}"
trap - EXIT
echo "hook returned"
'

# source_environment_hook NAMES...: runs SOURCE_AND_DUMP on hooks/environment
# from $BATS_TEST_TMPDIR/job.
source_environment_hook() {
  mkdir -p "$BATS_TEST_TMPDIR/job"
  run --separate-stderr env PATH="$HOOK_PATH" HOOK="$HOOKS/environment" \
    bash -c "$SOURCE_AND_DUMP" _ "$HOOKS/environment" "$BATS_TEST_TMPDIR/job" "$@"
}

# The kind of output the binary prints: export lines, each value one
# single-quoted word (internal/shellquote), holding what must never run.
write_tricky_exports() {
  cat >"$FAKE.stdout" <<'EOF'
export V_QUOTE='it'\''s $(echo pwned > marker-dollar)'
export V_TICK='a `echo pwned > marker-tick` b'
export V_SPACE='  two  spaces  '
export V_NL='line 1
line 2
'
export V_MISC='$HOME ${PATH} \ "double" ; echo pwned > marker-semi'
export V_EMPTY=''
export BUILDKIT_HOST='tcp://buildkitd.internal:1234'
EOF
}

TRICKY_NAMES=(V_QUOTE V_TICK V_SPACE V_NL V_MISC V_EMPTY BUILDKIT_HOST)
TRICKY_DUMP='V_QUOTE=[it'\''s $(echo pwned > marker-dollar)]
V_TICK=[a `echo pwned > marker-tick` b]
V_SPACE=[  two  spaces  ]
V_NL=[line 1
line 2
]
V_MISC=[$HOME ${PATH} \ "double" ; echo pwned > marker-semi]
V_EMPTY=[]
BUILDKIT_HOST=[tcp://buildkitd.internal:1234]'

assert_no_markers() {
  local dir="$1" m
  for m in marker-dollar marker-tick marker-semi marker-partial; do
    assert_file_not_exists "$dir/$m"
  done
}

@test "environment: the exports of '<bin> environment' are visible, verbatim, to the shell that sources the hook" {
  make_fake_env_bin 0
  write_tricky_exports
  export REMOTE_BUILDKIT_BIN="$FAKE"

  source_environment_hook "${TRICKY_NAMES[@]}"

  assert_success
  assert_output "$TRICKY_DUMP
hook returned"
  assert_equal "$stderr" 'fake stderr'
  assert_equal "$(cat "$FAKE.argv")" environment
  # Nothing in the values ran: not in the job's directory, nor where the binary ran.
  assert_no_markers "$BATS_TEST_TMPDIR/job"
  assert_no_markers "$BATS_TEST_TMPDIR"
}

@test "environment: the injection probes are live (control for the test above)" {
  # The same values, evaluated unquoted, do create the markers: the check
  # above would catch a hook that re-expanded them.
  mkdir -p "$BATS_TEST_TMPDIR/probe"
  cd "$BATS_TEST_TMPDIR/probe"
  env PATH="$HOOK_PATH" bash -c 'eval "x=\"$1\""; eval "$2"' _ '$(echo pwned > marker-dollar) `echo pwned > marker-tick`' 'echo ; echo pwned > marker-semi'
  assert_file_exists "$BATS_TEST_TMPDIR/probe/marker-dollar"
  assert_file_exists "$BATS_TEST_TMPDIR/probe/marker-tick"
  assert_file_exists "$BATS_TEST_TMPDIR/probe/marker-semi"
}

@test "environment: run as a program, the hook succeeds and prints nothing of the exports on stdout" {
  make_fake_env_bin 0
  write_tricky_exports
  export REMOTE_BUILDKIT_BIN="$FAKE"

  run_named_hook environment

  assert_success
  assert_output ''
  assert_equal "$stderr" 'fake stderr'
  assert_no_markers "$BATS_TEST_TMPDIR"
}

@test "environment: empty output from the binary is fine and sets nothing" {
  make_fake_env_bin 0
  export REMOTE_BUILDKIT_BIN="$FAKE"

  source_environment_hook BUILDKIT_HOST

  assert_success
  assert_output 'BUILDKIT_HOST=[<unset>]
hook returned'
}

@test "environment: a failing binary fails the hook with its exit code, and its partial output is not evaluated" {
  make_fake_env_bin 6
  cat >"$FAKE.stdout" <<'EOF'
export PARTIAL='yes'
echo pwned > marker-partial
EOF
  export REMOTE_BUILDKIT_BIN="$FAKE"

  # Sourced, as the agent does: the hook exits the shell with the code, and
  # the shell never held PARTIAL.
  source_environment_hook PARTIAL

  assert_failure 6
  assert_output 'trap PARTIAL=[<unset>]'
  assert_equal "$stderr" 'fake stderr'
  assert_no_markers "$BATS_TEST_TMPDIR/job"

  # Run as a program: same code, nothing printed, nothing run.
  run_named_hook environment
  assert_failure 6
  assert_output ''
  assert_equal "$stderr" 'fake stderr'
  assert_no_markers "$BATS_TEST_TMPDIR"
}

@test "environment: finds the binary the same way as the command hook (remote-buildkit on PATH)" {
  make_fake_env_bin 0
  printf "export FROM_PATH='yes'\n" >"$FAKE.stdout"
  HOOK_PATH="$(dirname "$FAKE"):$HOOK_PATH"

  source_environment_hook FROM_PATH

  assert_success
  assert_output 'FROM_PATH=[yes]
hook returned'
  assert_equal "$(cat "$FAKE.argv")" environment
}

@test "pre-exit: runs '<bin> cleanup' (REMOTE_BUILDKIT_BIN wins over PATH) and passes its output and exit code through" {
  make_fake_bin "$BATS_TEST_TMPDIR/on path/remote-buildkit" from-path 0
  make_fake_bin "$FAKE" from-env 0
  export REMOTE_BUILDKIT_BIN="$FAKE"
  HOOK_PATH="$BATS_TEST_TMPDIR/on path:$HOOK_PATH"

  run_named_hook pre-exit
  assert_success
  assert_output 'from-env stdout'
  assert_equal "$stderr" 'from-env stderr'
  assert_equal "$(cat "$FAKE.argv")" cleanup
  assert_file_not_exists "$BATS_TEST_TMPDIR/on path/remote-buildkit.argv"

  make_fake_bin "$FAKE" failing 4
  run_named_hook pre-exit
  assert_failure 4
  assert_output 'failing stdout'
  assert_equal "$stderr" 'failing stderr'
  assert_equal "$(cat "$FAKE.argv")" cleanup

  # Sourced from another directory, as the agent's hook wrapper does.
  mkdir -p "$BATS_TEST_TMPDIR/elsewhere"
  cd "$BATS_TEST_TMPDIR/elsewhere"
  run --separate-stderr env PATH="$HOOK_PATH" bash -c '. "$1"; echo "not reached"' _ "$HOOKS/pre-exit"
  assert_failure 4
  assert_output 'failing stdout'
}

@test "environment and pre-exit: no binary and no go is the one-line 'helper binary not found' error, exit 1" {
  local hook
  for hook in environment pre-exit; do
    run_named_hook "$hook"
    assert_failure 1
    assert_output ''
    assert_equal "$stderr" "$NOT_FOUND"
  done

  source_environment_hook BUILDKIT_HOST
  assert_failure 1
  assert_output 'trap BUILDKIT_HOST=[<unset>]'
  assert_equal "$stderr" "$NOT_FOUND"
}

@test "environment and pre-exit: a non-executable REMOTE_BUILDKIT_BIN is an error naming it" {
  mkdir -p "$(dirname "$FAKE")"
  printf "export X='1'\n" >"$FAKE"
  export REMOTE_BUILDKIT_BIN="$FAKE"
  local hook
  for hook in environment pre-exit; do
    run_named_hook "$hook"
    assert_failure 1
    assert_output ''
    assert_regex "$stderr" "^remote-buildkit: REMOTE_BUILDKIT_BIN=$FAKE is not an executable file: [^"$'\n'"]+\$"
  done
}
