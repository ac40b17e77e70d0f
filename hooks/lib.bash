# shellcheck shell=bash
# Shared by the plugin's hooks: finds the remote-buildkit helper binary.
# Hooks stay thin: everything else happens in the binary.

# remote_buildkit_bin prints the path of the helper binary to run, trying in order:
#   1. $REMOTE_BUILDKIT_BIN (must be an executable file);
#   2. remote-buildkit on PATH (e.g. baked into the agent AMI);
#   3. a build from this plugin checkout with go, cached per plugin commit under
#      ${REMOTE_BUILDKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/remote-buildkit}/bin/<commit>/.
# Messages go to stderr; returns 1 (after a one-line error) when there is no binary.
# Callers run it in $(...), where errexit is off: every step checks its own status.
remote_buildkit_bin() {
  local bin
  if [[ -n "${REMOTE_BUILDKIT_BIN:-}" ]]; then
    bin="$REMOTE_BUILDKIT_BIN"
    if [[ ! -f "$bin" || ! -x "$bin" ]]; then
      echo "remote-buildkit: REMOTE_BUILDKIT_BIN=${bin} is not an executable file: point REMOTE_BUILDKIT_BIN at the remote-buildkit binary (and chmod +x it), or unset it" >&2
      return 1
    fi
    # A bare name would make exec search PATH instead of running the checked file.
    [[ "$bin" == */* ]] || bin="./$bin"
    printf '%s\n' "$bin"
    return 0
  fi

  if bin="$(type -P remote-buildkit)"; then
    printf '%s\n' "$bin"
    return 0
  fi

  if ! type -P go >/dev/null; then
    echo "remote-buildkit: helper binary not found: set REMOTE_BUILDKIT_BIN, put remote-buildkit on PATH (e.g. bake it into the agent AMI), or install Go so the plugin can build it from its checkout" >&2
    return 1
  fi

  local plugin_dir key cache_dir tmp_dir
  plugin_dir="$(CDPATH='' cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  if ! key="$(git -C "$plugin_dir" rev-parse HEAD 2>/dev/null)" || [[ -z "$key" ]]; then
    # Not a git checkout: key on the content of the Go sources instead.
    if ! key="nogit-$(cd "$plugin_dir" &&
      find . -path ./.git -prune -o -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"; then
      echo "remote-buildkit: cannot hash the Go sources of ${plugin_dir} to key the build cache: set REMOTE_BUILDKIT_BIN or put remote-buildkit on PATH" >&2
      return 1
    fi
  fi
  cache_dir="${REMOTE_BUILDKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/remote-buildkit}/bin/${key}"
  bin="${cache_dir}/remote-buildkit"
  if [[ -f "$bin" && -x "$bin" ]]; then
    printf '%s\n' "$bin"
    return 0
  fi

  echo "remote-buildkit: building the helper binary from ${plugin_dir} (commit ${key}) with go…" >&2
  # Build next to the final path, then rename: concurrent agents never see a partial binary.
  if ! mkdir -p -- "$cache_dir" || ! tmp_dir="$(mktemp -d "${cache_dir}/.build.XXXXXX")"; then
    echo "remote-buildkit: cannot create the build cache directory ${cache_dir}: set REMOTE_BUILDKIT_CACHE to a writable directory" >&2
    return 1
  fi
  if ! (cd "$plugin_dir" && go build -o "${tmp_dir}/remote-buildkit" -ldflags "-X main.version=${key}" ./cmd/remote-buildkit) >&2 ||
    ! mv -f -- "${tmp_dir}/remote-buildkit" "$bin"; then
    rm -rf -- "$tmp_dir"
    echo "remote-buildkit: failed to build the helper binary from ${plugin_dir} with go (see above): fix the build, or set REMOTE_BUILDKIT_BIN / put remote-buildkit on PATH" >&2
    return 1
  fi
  rm -rf -- "$tmp_dir"
  printf '%s\n' "$bin"
}
