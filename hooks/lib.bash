# shellcheck shell=bash
# Shared by the plugin's hooks: finds the remote-buildkit helper binary.
# Hooks stay thin: everything else happens in the binary.

# remote_buildkit_bin prints the path of the helper binary to run, trying in order:
#   1. $REMOTE_BUILDKIT_BIN (must be an executable file);
#   2. remote-buildkit on PATH (e.g. baked into the agent AMI);
#   3. the release binary for this OS/arch, cached by version, downloaded and
#      verified against hooks/checksums.sha256 (see remote_buildkit_release);
#   4. a build from this plugin checkout with go, cached per plugin commit under
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

  local plugin_dir release rc download_note=""
  plugin_dir="$(CDPATH='' cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  release="$(remote_buildkit_release "$plugin_dir")"
  rc=$?
  case "$rc" in
    0) printf '%s\n' "$release" && return 0 ;;
    2) return 1 ;; # a checksum mismatch: fail closed, no fallback
  esac
  [[ "$release" != tried:* ]] || download_note=" (tried ${release#tried:})"

  if ! type -P go >/dev/null; then
    echo "remote-buildkit: helper binary not found${download_note}: set REMOTE_BUILDKIT_BIN, put remote-buildkit on PATH (e.g. bake it into the agent AMI), or install Go so the plugin can build it from its checkout" >&2
    return 1
  fi

  local key cache_dir tmp_dir
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
    # Anything that could write the cache (a build's output, another user)
    # could replace it: run it only as this user built and recorded it.
    local why
    if why="$(remote_buildkit_cached_check "$cache_dir" "$bin")"; then
      printf '%s\n' "$bin"
      return 0
    fi
    if [[ "$why" == refuse:* ]]; then
      echo "remote-buildkit: refusing the cached binary ${bin}: ${why#refuse:}" >&2
      return 1
    fi
    echo "remote-buildkit: the cached binary ${bin} is not the one this plugin built (${why}): building it again" >&2
    rm -f -- "$bin" "${bin}.sha256" "${bin}.stat"
  fi

  echo "remote-buildkit: building the helper binary from ${plugin_dir} (commit ${key}) with go…" >&2
  # Build next to the final path, then rename: concurrent agents never see a partial binary.
  if ! (umask 077 && mkdir -p -- "$cache_dir") || ! tmp_dir="$(mktemp -d "${cache_dir}/.build.XXXXXX")"; then
    echo "remote-buildkit: cannot create the build cache directory ${cache_dir}: set REMOTE_BUILDKIT_CACHE to a writable directory" >&2
    return 1
  fi
  if ! (cd "$plugin_dir" && go build -o "${tmp_dir}/remote-buildkit" -tags urfave_cli_no_docs -ldflags "-X main.version=${key}" ./cmd/remote-buildkit) >&2 ||
    ! chmod go-w -- "${tmp_dir}/remote-buildkit" ||
    ! remote_buildkit_sha256 "${tmp_dir}/remote-buildkit" >"${tmp_dir}/remote-buildkit.sha256" ||
    ! mv -f -- "${tmp_dir}/remote-buildkit.sha256" "${bin}.sha256" ||
    ! mv -f -- "${tmp_dir}/remote-buildkit" "$bin" ||
    ! remote_buildkit_record_stat "$bin"; then
    rm -rf -- "$tmp_dir"
    echo "remote-buildkit: failed to build the helper binary from ${plugin_dir} with go (see above): fix the build, or set REMOTE_BUILDKIT_BIN / put remote-buildkit on PATH" >&2
    return 1
  fi
  rm -rf -- "$tmp_dir"
  printf '%s\n' "$bin"
}

# remote_buildkit_cached_check DIR BIN: succeeds when BIN (in DIR) is the
# binary this user built: DIR and BIN owned by this user and not writable by
# group or others, and BIN's SHA-256 the one recorded in BIN.sha256 at build
# time. Otherwise prints why; "refuse:..." when rebuilding in DIR is unsafe.
remote_buildkit_cached_check() {
  local dir="$1" bin="$2" mode want got
  if [[ ! -O "$dir" ]]; then
    echo "refuse:${dir} is not owned by this user: remove it, or set REMOTE_BUILDKIT_CACHE to a directory of this user"
    return 1
  fi
  mode="$(stat -c %a -- "$dir" 2>/dev/null || stat -f %Lp -- "$dir")" || mode=777
  if ((8#$mode & 8#022)); then
    echo "refuse:${dir} is writable by other users (mode ${mode}): run chmod go-w ${dir}"
    return 1
  fi
  [[ -O "$bin" ]] || { echo "not owned by this user"; return 1; }
  mode="$(stat -c %a -- "$bin" 2>/dev/null || stat -f %Lp -- "$bin")" || mode=777
  ((8#$mode & 8#022)) && { echo "writable by other users (mode ${mode})"; return 1; }
  [[ -f "${bin}.sha256" ]] || { echo "no SHA-256 recorded when it was built"; return 1; }
  # Fast path: the file is the very one recorded after its SHA-256 was
  # checked (same device, inode, size, mtime and ctime to the nanosecond; no
  # write or rename leaves ctime as it was), so it need not be hashed again.
  local stat_now
  if stat_now="$(remote_buildkit_stat "$bin")" && [[ -f "${bin}.stat" && "$(<"${bin}.stat")" == "$stat_now" ]]; then
    return 0
  fi
  want="$(<"${bin}.sha256")"
  got="$(remote_buildkit_sha256 "$bin")" || { echo "cannot compute its SHA-256"; return 1; }
  [[ "$got" == "$want" ]] || { echo "SHA-256 ${got}, recorded ${want}"; return 1; }
  remote_buildkit_record_stat "$bin" || true
}

# remote_buildkit_stat FILE prints FILE's identity and change times
# (device:inode:size:mtime:ctime, nanoseconds; GNU stat only: elsewhere it
# fails and the binary is hashed every time).
remote_buildkit_stat() {
  stat -c '%d:%i:%s:%.9Y:%.9Z' -- "$1" 2>/dev/null
}

# remote_buildkit_record_stat BIN records BIN's stat beside it (BIN.stat),
# written to a temporary file and renamed: a hook reading it never sees half.
# Best effort: without GNU stat nothing is recorded.
remote_buildkit_record_stat() {
  local sig
  sig="$(remote_buildkit_stat "$1")" || return 0
  printf '%s\n' "$sig" >"${1}.stat.$$" && mv -f -- "${1}.stat.$$" "${1}.stat"
}

# remote_buildkit_release PLUGIN_DIR prints a verified release binary for this
# OS/arch: from the cache keyed by version, else downloaded from
# ${REMOTE_BUILDKIT_DOWNLOAD_URL} and checked against the SHA-256 sums committed
# in hooks/checksums.sha256. Returns 1 to fall through to the next source (no
# sums, unsupported platform, no curl or SHA-256 tool, download failed: then it
# prints "tried:<url>") and 2 on a checksum mismatch.
remote_buildkit_release() {
  local sums="$1/hooks/checksums.sha256" os arch line asset="" want="" version dir bin tmp got url err
  [[ -f "$sums" ]] || return 1
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) return 1 ;;
  esac
  # sha256sum lines: "<hex>  <asset>" (or "<hex> *<asset>"); the version is in the asset's name.
  while IFS= read -r line || [[ -n "$line" ]]; do
    asset="${line#* }"
    asset="${asset# }"
    asset="${asset#\*}"
    if [[ "$asset" == remote-buildkit-*-"$os-$arch" ]]; then
      want="${line%% *}"
      break
    fi
  done <"$sums"
  [[ "$want" =~ ^[0-9a-f]{64}$ ]] || return 1
  version="${asset#remote-buildkit-}"
  version="${version%-"$os-$arch"}"
  if ! type -P sha256sum >/dev/null && ! type -P shasum >/dev/null; then
    echo "remote-buildkit: neither sha256sum nor shasum is installed, so the release binary cannot be verified; trying the next source" >&2
    return 1
  fi
  dir="${BUILDKITE_PLUGINS_PATH:-${XDG_CACHE_HOME:-$HOME/.cache}}/remote-buildkit-bin/${version}/${os}-${arch}"
  bin="$dir/remote-buildkit"
  if [[ -f "$bin" && -x "$bin" ]] && got="$(remote_buildkit_sha256 "$bin")" && [[ "$got" == "$want" ]]; then
    printf '%s\n' "$bin"
    return 0
  fi
  url="${REMOTE_BUILDKIT_DOWNLOAD_URL:-https://github.com/remote-buildkit/remote-buildkit/releases/download}/${version}/${asset}"
  if ! type -P curl >/dev/null; then
    echo "remote-buildkit: curl is not installed, so ${url} cannot be downloaded; trying the next source" >&2
    return 1
  fi
  if ! mkdir -p -- "$dir" 2>/dev/null || ! tmp="$(mktemp "$dir/.download.XXXXXX" 2>/dev/null)"; then
    echo "remote-buildkit: cannot write to the binary cache ${dir}, so the release binary is not downloaded (set BUILDKITE_PLUGINS_PATH or XDG_CACHE_HOME to a writable directory); trying the next source" >&2
    return 1
  fi
  echo "remote-buildkit: downloading ${asset}…" >&2
  # Transient errors (timeouts, refused connections, HTTP 408/429/5xx) are retried
  # with curl's exponential backoff (1 s, 2 s, 4 s); a 404 is not.
  if ! err="$(curl -fsS --retry 3 --retry-connrefused --retry-max-time 180 --connect-timeout 10 --max-time 120 -o "$tmp" -- "$url" 2>&1)"; then
    rm -f -- "$tmp"
    err="${err%$'\n'}"
    echo "remote-buildkit: could not download ${url} (${err##*$'\n'}); trying the next source" >&2
    printf 'tried:%s\n' "$url"
    return 1
  fi
  if ! got="$(remote_buildkit_sha256 "$tmp")"; then
    rm -f -- "$tmp"
    echo "remote-buildkit: cannot compute the SHA-256 of the download of ${url}; trying the next source" >&2
    printf 'tried:%s\n' "$url"
    return 1
  fi
  if [[ "$got" != "$want" ]]; then
    rm -f -- "$tmp"
    echo "remote-buildkit: checksum mismatch for ${url}: got sha256 ${got}, hooks/checksums.sha256 says ${want}; refusing to run it (check the download URL or a proxy rewriting it)" >&2
    return 2
  fi
  # Rename into place: concurrent agents never run a partial or unverified file.
  if ! chmod +x -- "$tmp" || ! mv -f -- "$tmp" "$bin"; then
    rm -f -- "$tmp"
    echo "remote-buildkit: cannot install the verified download as ${bin}; trying the next source" >&2
    return 1
  fi
  printf '%s\n' "$bin"
}

# remote_buildkit_sha256 FILE prints FILE's SHA-256 in hex (sha256sum, or shasum
# on macOS, which may lack sha256sum).
remote_buildkit_sha256() {
  local out
  if type -P sha256sum >/dev/null; then
    out="$(sha256sum -- "$1")" || return 1
  else
    out="$(shasum -a 256 -- "$1")" || return 1
  fi
  out="${out%% *}"
  [[ "$out" =~ ^[0-9a-f]{64}$ ]] || return 1
  printf '%s\n' "$out"
}
