# shellcheck shell=bash
# Shared setup for the hook tests (bats). Every test runs the hooks with
# PATH=$HOOK_PATH, a sandbox of symlinks to the few system tools the hooks
# need, so a remote-buildkit or go installed on the host can't leak in.

bats_require_minimum_version 1.5.0

load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash
load /usr/lib/bats/bats-file/load.bash

REPO_ROOT="$(cd -P "$BATS_TEST_DIRNAME/../.." && pwd)"

# Tools hooks/lib.bash, bats-mock's binstub and the fake binaries call.
SANDBOX_TOOLS=(bash env sh dirname mkdir mktemp mv rm cat chmod find sort xargs sha256sum cut tr git sleep stat)

# common_setup_file builds the tool sandbox and resolves what depends on the
# real HOME (go caches, bats-mock) before tests point HOME at a temp dir.
common_setup_file() {
  export SANDBOX_BIN="$BATS_FILE_TMPDIR/sandbox-bin"
  mkdir -p "$SANDBOX_BIN"
  local tool path
  for tool in "${SANDBOX_TOOLS[@]}"; do
    path="$(type -P "$tool")" || {
      echo "tests/hooks: $tool is not installed" >&2
      return 1
    }
    ln -s "$path" "$SANDBOX_BIN/$tool"
  done

  # Keep the shared go caches and go's own settings file (GOFLAGS,
  # GOTOOLCHAIN, ...) even when a test changes HOME.
  if type -P go >/dev/null; then
    GOCACHE="${GOCACHE:-$(go env GOCACHE)}"
    GOMODCACHE="${GOMODCACHE:-$(go env GOMODCACHE)}"
    GOPATH="${GOPATH:-$(go env GOPATH)}"
    GOENV="${GOENV:-$(go env GOENV)}"
    export GOCACHE GOMODCACHE GOPATH GOENV
  fi

  if [[ -z "${BATS_MOCK_STUB:-}" ]]; then
    BATS_MOCK_STUB="${REMOTE_BUILDKIT_CACHE:-$HOME/.cache/remote-buildkit}/npm/node_modules/bats-mock/stub.bash"
  fi
  export BATS_MOCK_STUB
}

# common_setup gives each test a clean environment: temp HOME, no
# REMOTE_BUILDKIT_* / XDG_CACHE_HOME, and PATH for the hooks = the sandbox.
common_setup() {
  export HOME="$BATS_TEST_TMPDIR/home"
  mkdir -p "$HOME"
  unset REMOTE_BUILDKIT_BIN REMOTE_BUILDKIT_CACHE XDG_CACHE_HOME
  HOOK_PATH="$SANDBOX_BIN"
}

# run_hook HOOK_DIR [ARGS...]: runs HOOK_DIR/command with PATH=$HOOK_PATH, from $BATS_TEST_TMPDIR.
run_hook() {
  local hook="$1/command"
  shift
  cd "$BATS_TEST_TMPDIR" || return 1
  run --separate-stderr env PATH="$HOOK_PATH" "$hook" "$@"
}

# make_fake_bin PATH NAME EXIT: writes an executable that records its argv in
# PATH.argv, prints "NAME stdout" / "NAME stderr" and exits EXIT.
make_fake_bin() {
  local path="$1" name="$2" code="$3"
  mkdir -p "$(dirname "$path")"
  cat >"$path" <<EOF
#!/usr/bin/env bash
printf '%s\n' "\$@" > '${path}.argv'
echo '${name} stdout'
echo '${name} stderr' >&2
exit ${code}
EOF
  chmod +x "$path"
}

# make_plugin_checkout DIR [git|nogit]: a copy of the real hooks in DIR, made a
# git repo with one commit (fixed dates, so the commit is the same every run).
make_plugin_checkout() {
  local dir="$1" kind="${2:-git}"
  mkdir -p "$dir/hooks" "$dir/cmd/remote-buildkit"
  cp "$REPO_ROOT/hooks/command" "$REPO_ROOT/hooks/lib.bash" "$dir/hooks/"
  printf 'package main\n\nfunc main() {}\n' >"$dir/cmd/remote-buildkit/main.go"
  printf 'module example.com/fake\n' >"$dir/go.mod"
  [[ "$kind" == git ]] || return 0
  (
    cd "$dir" &&
      git init -q &&
      git add -A &&
      GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z' \
        git -c user.name=test -c user.email=test@example.com -c commit.gpgsign=false \
        commit -q -m 'plugin'
  )
}

# load_bats_mock: loads bats-mock with its state in this test's temp dir, and
# puts its stubs first on $HOOK_PATH.
load_bats_mock() {
  if [[ ! -f "$BATS_MOCK_STUB" ]]; then
    skip "bats-mock not found at $BATS_MOCK_STUB: run 'npm install --prefix ~/.cache/remote-buildkit/npm bats-mock@1.2.5' or set BATS_MOCK_STUB"
  fi
  # shellcheck source=/dev/null
  source "$BATS_MOCK_STUB"
  # stub.bash keeps its plans in the shared $BATS_TMPDIR: use this test's dir.
  BATS_MOCK_TMPDIR="$BATS_TEST_TMPDIR/mock"
  BATS_MOCK_BINDIR="$BATS_MOCK_TMPDIR/bin"
  mkdir -p "$BATS_MOCK_BINDIR"
  export BATS_MOCK_TMPDIR BATS_MOCK_BINDIR
  HOOK_PATH="$BATS_MOCK_BINDIR:$HOOK_PATH"
}
