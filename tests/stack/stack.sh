#!/usr/bin/env bash
# Local stack for tests and the demo, as plain processes on 127.0.0.1 (no Docker engine needed):
# buildkitd (mTLS), docker-registry (htpasswd), moto_server (S3/ECR), versitygw (S3 that checks SigV4
# signatures) and a busybox base image.
# Extra daemons for version-skew and TLS-mismatch tests: buildkitd-plain ($BK_VERSION, no TLS) and
# buildkitd-mid ($BK_MID_VERSION) and buildkitd-old ($BK_OLD_VERSION), both with the same mTLS certificates.
# For docker-container:// endpoints and `load: true`: a Docker engine of its own (dockerd on $STATE/docker/docker.sock,
# never the system's) with a buildkitd image; for ssh:// endpoints: an sshd on 127.0.0.1:2220 in front of buildkitd.
# For git contexts: bare repositories in $STATE/git-repos served by git daemon (git://), over the sshd (ssh://, a
# git-only key) and by git http-backend behind busybox httpd (http://, basic auth with a token).
# `make demo` needs only buildkitd and the registry (and the base image): install-demo and `up --demo` do that part.
# Usage: stack.sh install|install-demo|up [--demo]|down [name...]|status|env-file
set -euo pipefail

BK_VERSION=v0.34.2
CACHE=${REMOTE_BUILDKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/remote-buildkit}
STATE=${REMOTE_BUILDKIT_STACK_DIR:-$CACHE/stack}
BK_PORT=${STACK_BUILDKIT_PORT:-1234}
REG_PORT=${STACK_REGISTRY_PORT:-5000}
MOTO_PORT=${STACK_MOTO_PORT:-5002}
VGW_VERSION=v1.8.0
VGW_PORT=${STACK_VERSITY_PORT:-5006}
VGW_DIR=$CACHE/tools/versitygw-$VGW_VERSION
VERSITYGW=$VGW_DIR/versitygw
TOXI_VERSION=v2.5.0 # toxiproxy (TCP faults) for the fault-injection tests; they start their own instances
TOXI_DIR=$CACHE/tools/toxiproxy-$TOXI_VERSION
BUILDX_VERSION=v0.38.2 # the real buildx: reads back the .dockerbuild build records (insights tests)
BUILDX=$CACHE/tools/buildx-$BUILDX_VERSION/buildx
TOXIPROXY=$TOXI_DIR/toxiproxy
# The docker CLI and compose, for the buildx-mode tests (docker buildx build, docker build, docker compose build):
# built from their modules' source; docker finds buildx and compose in $CLI_PLUGINS (links).
DOCKER_CLI_VERSION=v29.10.0
DOCKER_CLI=$CACHE/tools/docker-cli-$DOCKER_CLI_VERSION/docker
COMPOSE_VERSION=v5.6.0
COMPOSE=$CACHE/tools/compose-$COMPOSE_VERSION/docker-compose
CLI_PLUGINS=$CACHE/tools/docker-cli-plugins
AGENT_VERSION=v3.138.3
AGENT_GOTOOLCHAIN=go1.27.3 # v3.138 needs Go 1.27: the go command fetches that toolchain through the module proxy
AGENT_DIR=$CACHE/tools/buildkite-agent-$AGENT_VERSION
AGENT=$AGENT_DIR/buildkite-agent
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AGENT_STUB=$CACHE/tools/agentstub # tests/agentstub (the agent API stub), rebuilt when its source changes
VGW_ENDPOINT=http://127.0.0.1:$VGW_PORT
VGW_ACCESS_KEY=stackadmin
VGW_SECRET_FILE=$STATE/versitygw-secret-key
BK_DIR=$CACHE/tools/buildkit-$BK_VERSION
BK_MID_VERSION=v0.33.1 # the previous minor: daemon + client for version-skew tests (warn)
BK_MID_DIR=$CACHE/tools/buildkit-$BK_MID_VERSION
MID_BUILDCTL=$BK_MID_DIR/buildctl
MID_BUILDKITD=$BK_MID_DIR/buildkitd
BK_OLD_VERSION=v0.32.2 # an older daemon + client for version-skew tests (strict fails)
BK_OLD_DIR=$CACHE/tools/buildkit-$BK_OLD_VERSION
OLD_BUILDCTL=$BK_OLD_DIR/buildctl
OLD_BUILDKITD=$BK_OLD_DIR/buildkitd
BUILDCTL=$BK_DIR/buildctl
BUILDKITD=$BK_DIR/buildkitd
BATS_MOCK_STUB=$CACHE/npm/node_modules/bats-mock/stub.bash
BK_ADDR=tcp://127.0.0.1:$BK_PORT
BK_SOCK=$STATE/buildkitd.sock # the same daemon on a unix socket (no TLS there)
PLAIN_PORT=${STACK_PLAIN_PORT:-1235} # buildkitd-plain: $BK_VERSION without TLS
PLAIN_ADDR=tcp://127.0.0.1:$PLAIN_PORT
OLD_PORT=${STACK_OLD_PORT:-1236} # buildkitd-old: $BK_OLD_VERSION with the same mTLS certificates
OLD_ADDR=tcp://127.0.0.1:$OLD_PORT
MID_PORT=${STACK_MID_PORT:-1237} # buildkitd-mid: $BK_MID_VERSION with the same mTLS certificates
MID_ADDR=tcp://127.0.0.1:$MID_PORT
REGISTRY=127.0.0.1:$REG_PORT
BASE_IMAGE=$REGISTRY/busybox:latest
CERTS=$STATE/certs
TLS=$CERTS/client
REG_USER=ci
# The stack's own Docker engine (never /var/run/docker.sock): its API socket stands in for a port. Its exec-root
# holds unix sockets (containerd's, libnetwork's): kept short, below /run, named after $STATE.
DOCKER_SOCK=$STATE/docker/docker.sock
DOCKER_EXEC=/run/rbk-docker-$(printf '%s' "$STATE" | sha256sum | cut -c1-8)
DOCKER_BK_IMAGE=remote-buildkit/buildkitd:$BK_VERSION # buildkitd + buildctl + runc + busybox, for docker-container://
# How that image runs a working buildkitd here: --privileged fails ("unable to apply caps": this machine's capability
# bounding set lacks CAP_SYS_RESOURCE), so every other capability, no seccomp/apparmor, the host's cgroup tree
# writable (runc inside creates cgroups: RUN fails on a read-only one) and a volume for its state (on the container's
# overlay root buildkitd falls back to the slow native snapshotter). --network host reaches the stack's registry.
DOCKER_BK_FLAGS=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --security-opt systempaths=unconfined -v /sys/fs/cgroup:/sys/fs/cgroup -v /var/lib/buildkit --pull never)
SSH_PORT=${STACK_SSH_PORT:-2220} # sshd: ssh://root@127.0.0.1:$SSH_PORT reaches the stack's buildkitd (its unix socket)
SSH_DIR=$STATE/sshd
GIT_REPOS=$STATE/git-repos # bare repositories, served by all three git servers
GIT_PORT=${STACK_GIT_PORT:-9418} # git daemon: git://127.0.0.1:$GIT_PORT/<name>.git
GIT_HTTP_PORT=${STACK_GIT_HTTP_PORT:-5008} # git http-backend: http://127.0.0.1:$GIT_HTTP_PORT/cgi-bin/git/<name>.git
GIT_HTTP_USER=x-access-token # the user BuildKit's git source sends with a GIT_AUTH_TOKEN secret
declare -A BIN=([buildkitd]=buildkitd [buildkitd-plain]=buildkitd [buildkitd-old]=buildkitd [buildkitd-mid]=buildkitd
  [registry]=docker-registry [moto]=moto_server [versitygw]=versitygw [docker]=dockerd [sshd]=sshd
  [git-daemon]=git-daemon [git-http]=httpd)
declare -A PORT=([buildkitd]=$BK_PORT [buildkitd-plain]=$PLAIN_PORT [buildkitd-old]=$OLD_PORT [buildkitd-mid]=$MID_PORT [registry]=$REG_PORT
  [moto]=$MOTO_PORT [versitygw]=$VGW_PORT [docker]=$DOCKER_SOCK [sshd]=$SSH_PORT [git-daemon]=$GIT_PORT [git-http]=$GIT_HTTP_PORT)
DAEMONS=(buildkitd buildkitd-plain buildkitd-old buildkitd-mid registry moto versitygw docker sshd git-daemon git-http)
DEMO_DAEMONS=(buildkitd registry) # what `up --demo` starts
ECR_USER=AWS ECR_PASSWORD=123456789012-auth-token
DEMO_APT_PACKAGES=(runc docker-registry apache2-utils busybox-static jq openssl curl) # buildkitd, registry, base image
APT_PACKAGES=("${DEMO_APT_PACKAGES[@]}" bats bats-assert bats-support bats-file shellcheck
  dnsmasq # the fleet tests start their own on 127.0.0.1:535x
  docker.io openssh-server # the stack's own Docker engine (docker-container://, load) and sshd (ssh://)
  git # git daemon, git-shell and git http-backend for git contexts
  chromium) # headless, for the insights timeline's browser check
APPLETS=(sh echo cat ls mkdir cp mv rm test '[' sleep true false env grep sed wc tar find touch chmod id
  uname head tail printf sha256sum date)

log() { printf 'stack: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- install
install_apt() { # packages...
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

install_bats_mock() {
  if [[ ! -f $BATS_MOCK_STUB ]] ||
    [[ $(jq -r .version "$CACHE/npm/node_modules/bats-mock/package.json" 2>/dev/null) != 1.2.5 ]]; then
    log "npm: installing bats-mock@1.2.5 into $CACHE/npm"
    mkdir -p "$CACHE/npm"
    npm install --silent --no-audit --no-fund --prefix "$CACHE/npm" bats-mock@1.2.5 >&2
  fi
  [[ -f $BATS_MOCK_STUB ]] || die "bats-mock installed but $BATS_MOCK_STUB is missing"
  log "bats-mock: load $BATS_MOCK_STUB"
}

bk_dir() { echo "$CACHE/tools/buildkit-$1"; } # version: where its buildkitd + buildctl live

buildkit_ok() { # version
  local d
  d=$(bk_dir "$1")
  [[ -x $d/buildkitd && -x $d/buildctl ]] && "$d/buildctl" --version 2>/dev/null | grep -qw "$1"
}

# Enters (in a subshell) a module that builds buildkitd + buildctl of a version. `project`: this project's own module
# graph (a copy of go.mod and go.sum, for -modfile), usable for the version go.mod requires: every package they share
# with remote-buildkit is then the same version, compiled once for both (`make demo` builds both; measured ~50 s of
# CPU less). `tools`: a tools module of their own, with buildkit's own dependency versions.
bk_module() { # version project|tools
  local v=$1 mod
  if [[ $2 == project ]]; then
    mod=$CACHE/tools/buildkit-modfile-$v
    mkdir -p "$mod" && cp "$REPO_ROOT/go.mod" "$REPO_ROOT/go.sum" "$mod/" && cd "$REPO_ROOT" &&
      export GOFLAGS="-mod=mod -buildvcs=false -modfile=$mod/go.mod"
  else
    mod=$CACHE/tools/buildkit-mod-$v
    mkdir -p "$mod" && cd "$mod" && export GOFLAGS=-mod=mod && { [[ -f go.mod ]] || go mod init tools; } &&
      go get -tool "github.com/moby/buildkit/cmd/buildkitd@$v" "github.com/moby/buildkit/cmd/buildctl@$v"
  fi
}

build_buildkit() { # version project|tools log: buildkitd + buildctl into $(bk_dir version); one `go build` for both
  local v=$1 dir tmp t0=$SECONDS pkgs=(github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl)
  dir=$(bk_dir "$v")
  tmp=$(mktemp -d "$CACHE/tools/.build.XXXXXX")
  # (an && chain: set -e does not apply inside an `if` condition)
  if ! (export GOWORK=off && bk_module "$v" "$2" && go list -deps "${pkgs[@]}" >/dev/null &&
    echo "stack: modules fetched in $((SECONDS - t0)) s" &&
    go build -ldflags "-X github.com/moby/buildkit/version.Version=$v" -o "$tmp/" "${pkgs[@]}" &&
    mkdir -p "$dir" && mv "$tmp/buildkitd" "$tmp/buildctl" "$dir/") >"$3" 2>&1; then
    rm -rf "$tmp" && return 1
  fi
  rmdir "$tmp"
  log "buildkit: $v built in $((SECONDS - t0)) s ($(grep -o 'modules fetched in [0-9]* s' "$3"), $2 module graph)"
}

install_buildkit() { # version: build buildkitd + buildctl of that version into $(bk_dir version)
  local v=$1 blog=$CACHE/tools/buildkit-build-$1.log
  if buildkit_ok "$v"; then log "buildkit: $v present in $(bk_dir "$v")" && return 0; fi
  mkdir -p "$CACHE/tools"
  # One build at a time (of any version): a second caller waits here and then finds the binaries.
  exec 9>"$CACHE/tools/.buildkit.lock"
  flock -n 9 || { log "buildkit: another build is running, waiting for it" && flock 9; }
  if ! buildkit_ok "$v"; then
    log "buildkit: building buildkitd+buildctl $v from the Go module proxy (~4 min cold on 2 idle cores, log $blog)"
    : >"$blog"
    # The project's graph when go.mod requires this version; buildkit's own when it does not or that fails to build.
    if ! grep -qE "^[[:space:]]*(require[[:space:]]+)?github\.com/moby/buildkit $v([[:space:]]|\$)" "$REPO_ROOT/go.mod" ||
      ! build_buildkit "$v" project "$blog"; then
      [[ -s $blog ]] && tail -n 5 "$blog" >&2 && log "buildkit: with the project's module graph that failed: buildkit's own"
      build_buildkit "$v" tools "$blog" || { tail -n 30 "$blog" >&2 && die "buildkit: $v build failed (log $blog)"; }
    fi
  fi
  exec 9>&-
  buildkit_ok "$v" || die "buildkit: $(bk_dir "$v")/buildctl does not report $v"
  log "buildkit: $("$(bk_dir "$v")/buildctl" --version)"
}

versitygw_ok() {
  # (no grep -q: versitygw prints several lines and would die of SIGPIPE, failing the pipeline)
  [[ -x $VERSITYGW ]] && "$VERSITYGW" --version 2>/dev/null | grep -w "$VGW_VERSION" >/dev/null
}

# tool_build NAME OK-FN DEST WHAT BUILDER [ARGS...]: build a tool into DEST once, under a lock (a second
# caller waits and then finds it), checked by OK-FN: BUILDER TMP ARGS... leaves the binary at TMP/out.
tool_build() {
  local name=$1 ok=$2 dest=$3 what=$4 builder=$5 tmp log=$CACHE/tools/$1-build.log
  shift 5
  if "$ok"; then log "$name: present in ${dest%/*}" && return 0; fi
  mkdir -p "$CACHE/tools"
  exec 8>"$CACHE/tools/.$name.lock"
  flock -n 8 || { log "$name: another build is running, waiting for it" && flock 8; }
  if ! "$ok"; then
    log "$name: building $what from the Go module proxy (log $log)"
    tmp=$(mktemp -d "$CACHE/tools/.build.XXXXXX")
    if ! ("$builder" "$tmp" "$@" && mkdir -p "${dest%/*}" && mv "$tmp/out" "$dest") >"$log" 2>&1; then
      tail -n 30 "$log" >&2 && rm -rf "$tmp"
      die "$name: build failed (log $log)"
    fi
    rm -rf "$tmp"
  fi
  exec 8>&-
  "$ok" || die "$name: $dest does not report $what"
}

# build_installed TMP LDFLAGS PACKAGE@VERSION: `go install` (the version is set at link time, as the
# tools' own Makefiles do, or they report "git").
build_installed() {
  cd "$1" && GOWORK=off GOBIN=$1 go install -ldflags "$2" "$3" && mv "$1/$(basename "${3%@*}")" "$1/out"
}

# build_from_source TMP MODULE@VERSION PACKAGE LDFLAGS [PREP]: build PACKAGE of a module from its source (the
# module as main module, its own go.mod and replace directives; PREP runs in the copy first).
build_from_source() {
  module_copy "$2" "$1/src" && cd "$1/src" && ${5:-true} &&
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -ldflags "$4" -o "$1/out" "$3"
}

# module_copy MODULE@VERSION DIR: a writable copy of the module's source (from the module cache) at DIR.
module_copy() {
  local src
  src=$(go mod download -json "$1" | jq -r .Dir) && cp -r "$src" "$2" && chmod -R u+w "$2"
}

# go_install NAME OK-FN DEST LDFLAGS PACKAGE@VERSION
go_install() { tool_build "$1" "$2" "$3" "${5#*@}" build_installed "$4" "$5"; }

# go_build_source NAME OK-FN DEST MODULE@VERSION PACKAGE LDFLAGS [PREP]
go_build_source() { tool_build "$1" "$2" "$3" "${4#*@}" build_from_source "$4" "$5" "$6" "${7:-true}"; }

install_versitygw() {
  go_install versitygw versitygw_ok "$VERSITYGW" "-X=main.Version=$VGW_VERSION" \
    "github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION"
}

toxiproxy_ok() { [[ -x $TOXIPROXY ]] && "$TOXIPROXY" --version 2>/dev/null | grep -w "${TOXI_VERSION#v}" >/dev/null; }

install_toxiproxy() {
  go_install toxiproxy toxiproxy_ok "$TOXIPROXY" "-X github.com/Shopify/toxiproxy/v2.Version=${TOXI_VERSION#v}" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXI_VERSION"
}

buildx_ok() { [[ -x $BUILDX ]] && "$BUILDX" version 2>/dev/null | grep -qw "$BUILDX_VERSION"; }

# buildx from its module's source (go install refuses it: replace directives), version set at link time.
install_buildx() {
  go_build_source buildx buildx_ok "$BUILDX" "github.com/docker/buildx@$BUILDX_VERSION" ./cmd/buildx \
    "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION"
}

docker_cli_ok() { [[ -x $DOCKER_CLI ]] && DOCKER_CONFIG=$CACHE/tools/.docker-cli-check "$DOCKER_CLI" --version 2>/dev/null | grep -qw "${DOCKER_CLI_VERSION#v}"; }
compose_ok() { [[ -x $COMPOSE ]] && "$COMPOSE" version 2>/dev/null | grep -qw "$COMPOSE_VERSION"; }
# The CLI has no go.mod, only vendor.mod; the proxy refuses swarmkit v2.1.3, whose v2.1.2 builds the same CLI.
docker_cli_vendor_mod() {
  mv vendor.mod go.mod && mv vendor.sum go.sum && rm -rf vendor &&
    go mod edit -replace github.com/moby/swarmkit/v2=github.com/moby/swarmkit/v2@v2.1.2
}

# The docker CLI (cmd/docker; its module has only vendor.mod) and compose, and the cli-plugins directory with
# docker-buildx and docker-compose: `docker buildx`, `docker build` (BuildKit through buildx) and `docker compose build`.
install_docker_cli() {
  go_build_source docker-cli docker_cli_ok "$DOCKER_CLI" "github.com/docker/cli@$DOCKER_CLI_VERSION+incompatible" ./cmd/docker \
    "-X github.com/docker/cli/cli/version.Version=${DOCKER_CLI_VERSION#v}" docker_cli_vendor_mod
  go_build_source compose compose_ok "$COMPOSE" "github.com/docker/compose/v5@$COMPOSE_VERSION" ./cmd \
    "-X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION"
  mkdir -p "$CLI_PLUGINS"
  ln -sfn "$BUILDX" "$CLI_PLUGINS/docker-buildx"
  ln -sfn "$COMPOSE" "$CLI_PLUGINS/docker-compose"
  log "docker CLI: $("$DOCKER_CLI" --version); $("$COMPOSE" version); plugins in $CLI_PLUGINS"
}

# The proxy refuses drjosh.dev/zzglob, which the agent requires: the same code from its GitHub path.
agent_replace() { go mod edit -replace drjosh.dev/zzglob=github.com/DrJosh9000/zzglob@v0.4.3; }

agent_ok() { [[ -x $AGENT ]] && "$AGENT" --version 2>/dev/null | grep -q "${AGENT_VERSION#v}"; }

# The real buildkite-agent, for end-to-end jobs (`buildkite-agent bootstrap`). go install refuses
# it (a replace directive is needed: the proxy refuses drjosh.dev/zzglob), so it is built from the
# module's source, with the Go toolchain its go.mod asks for.
install_agent() {
  if agent_ok; then log "buildkite-agent: $AGENT_VERSION present in $AGENT_DIR" && return 0; fi
  mkdir -p "$CACHE/tools"
  exec 8>"$CACHE/tools/.agent.lock"
  flock -n 8 || { log "buildkite-agent: another build is running, waiting for it" && flock 8; }
  if ! agent_ok; then
    local tmp alog=$CACHE/tools/buildkite-agent-build.log
    log "buildkite-agent: building $AGENT_VERSION from the Go module proxy (~4 min cold, log $alog)"
    tmp=$(mktemp -d "$CACHE/tools/.build.XXXXXX")
    if ! (export GOTOOLCHAIN=$AGENT_GOTOOLCHAIN && module_copy "github.com/buildkite/agent/v3@$AGENT_VERSION" "$tmp/src" &&
      cd "$tmp/src" && agent_replace &&
      GOFLAGS=-mod=mod go build -o "$tmp/buildkite-agent" . &&
      mkdir -p "$AGENT_DIR" && mv "$tmp/buildkite-agent" "$AGENT") >"$alog" 2>&1; then
      tail -n 30 "$alog" >&2 && rm -rf "$tmp"
      die "buildkite-agent: build failed (log $alog)"
    fi
    rm -rf "$tmp"
  fi
  exec 8>&-
  agent_ok || die "buildkite-agent: $AGENT does not report $AGENT_VERSION"
  log "buildkite-agent: $("$AGENT" --version)"
}

agent_stub_sum() { # what the stub binary is built from: its sources, go.mod and the Go version
  { go version && cat "$REPO_ROOT/go.mod" && find "$REPO_ROOT/tests/agentstub" -name '*.go' -type f -print0 |
    LC_ALL=C sort -z | xargs -0 cat; } | sha256sum | cut -d' ' -f1
}
agent_stub_ok() { [[ -x $AGENT_STUB && -f $AGENT_STUB.sum && $(cat "$AGENT_STUB.sum") == "$1" ]]; }

# tests/agentstub, a stand-in for the agent API (a few seconds to build; tests may also `go run` it).
install_agent_stub() {
  local sum tmp
  sum=$(agent_stub_sum)
  agent_stub_ok "$sum" && return 0
  mkdir -p "$CACHE/tools"
  exec 7>"$CACHE/tools/.agentstub.lock"
  flock 7
  if ! agent_stub_ok "$sum"; then
    log "agentstub: building $AGENT_STUB from tests/agentstub"
    tmp=$(mktemp "$CACHE/tools/.agentstub.XXXXXX")
    # Built to a temporary name and renamed: a stub that a test is running keeps its old file.
    if ! (cd "$REPO_ROOT" && GOWORK=off go build -buildvcs=false -o "$tmp" ./tests/agentstub) >&2; then
      rm -f "$tmp"
      die "agentstub: build failed"
    fi
    chmod 0755 "$tmp" && mv -f "$tmp" "$AGENT_STUB" && printf '%s\n' "$sum" >"$AGENT_STUB.sum"
  fi
  exec 7>&-
}

# ---------------------------------------------------------------- processes
# Each daemon runs with its working directory $STATE/<name> (or below it: versitygw changes into its
# data directory): that (plus its binary name) identifies our own process, so a stale pid file or a
# reused PID is never mistaken for it.
is_ours() { # name pid
  local cwd
  [[ -n ${2:-} && -d /proc/$2 ]] && cwd=$(readlink "/proc/$2/cwd" 2>/dev/null) &&
    { [[ $cwd == "$STATE/$1" || $cwd == "$STATE/$1/"* ]] || own_config "$1" "$2"; } &&
    tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null | grep -q "${BIN[$1]}"
}
# sshd changes into / whatever it is started in: it is known by its config file, -f $STATE/sshd/sshd_config.
own_config() { [[ $1 == sshd && $(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null) == *" -f $STATE/$1/"* ]]; }
port_open() { # a TCP port on 127.0.0.1, or (a path) the unix socket of an HTTP API (the Docker engine's)
  if [[ $1 == /* ]]; then curl -s -o /dev/null --max-time 5 --unix-socket "$1" http://localhost/_ping; else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; fi
}
recorded_pid() { cat "$STATE/pids/$1.pid" 2>/dev/null || true; }

running() { # name: true when the recorded (or an adoptable) process is ours, alive, and its port answers
  local name=$1 pid p
  pid=$(recorded_pid "$name")
  if ! is_ours "$name" "$pid"; then
    pid=
    for p in /proc/[0-9]*; do
      if is_ours "$name" "${p#/proc/}"; then pid=${p#/proc/} && break; fi
    done
    [[ -n $pid ]] || return 1
    log "$name: adopting our running process $pid"
    echo "$pid" >"$STATE/pids/$name.pid"
  fi
  port_open "${PORT[$name]}"
}

stop() { # name: TERM, up to 10 s, then KILL; only a recorded PID that is ours
  local name=$1 pid i
  pid=$(recorded_pid "$name")
  if is_ours "$name" "$pid"; then
    log "$name: stopping $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do is_ours "$name" "$pid" || break; sleep 0.2; done
    if is_ours "$name" "$pid"; then
      log "$name: KILL $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/pids/$name.pid"
}

start() { # name cmd...: start detached in $STATE/<name>, record the PID
  local name=$1 pid
  shift
  port_open "${PORT[$name]}" && die "$name: port ${PORT[$name]} is used by a process that is not ours"
  mkdir -p "$STATE/$name" "$STATE/logs" "$STATE/pids"
  (cd "$STATE/$name" && exec setsid "$@" 6>&- >>"$STATE/logs/$name.log" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$STATE/pids/$name.pid"
  log "$name: started pid $pid (log $STATE/logs/$name.log)"
}

wait_for() { # name check-cmd...: up to 30 s, fail fast if the process died
  local name=$1 i
  shift
  for ((i = 0; i < 150; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$(recorded_pid "$name")" 2>/dev/null || break
    sleep 0.2
  done
  log "$name: did not come up; last lines of $STATE/logs/$name.log:"
  tail -n 30 "$STATE/logs/$name.log" >&2 || true
  exit 1
}

write_if_changed() { # path content: returns 0 when the file changed
  [[ -f $1 && $(cat "$1") == "$2" ]] && return 1
  printf '%s\n' "$2" >"$1"
}

bctl() { "$BUILDCTL" --addr "$BK_ADDR" --tlscacert "$TLS/ca.pem" --tlscert "$TLS/cert.pem" --tlskey "$TLS/key.pem" "$@"; }
bctl_plain() { "$BUILDCTL" --addr "$PLAIN_ADDR" "$@"; }
bctl_mid() { "$MID_BUILDCTL" --addr "$MID_ADDR" --tlscacert "$TLS/ca.pem" --tlscert "$TLS/cert.pem" --tlskey "$TLS/key.pem" "$@"; }
bctl_old() { "$OLD_BUILDCTL" --addr "$OLD_ADDR" --tlscacert "$TLS/ca.pem" --tlscert "$TLS/cert.pem" --tlskey "$TLS/key.pem" "$@"; }

# ---------------------------------------------------------------- components
# All files there and valid long enough that diagnose's expiry checks pass (CA: 90 days, server
# certificate: 30 days): a set older than that is made anew.
certs_valid() {
  [[ -f $TLS/key.pem && -f $TLS/ca.pem && -f $CERTS/server/key.pem && -f $CERTS/ca.key ]] &&
    openssl x509 -checkend $((100 * 86400)) -noout -in "$CERTS/ca.pem" >/dev/null 2>&1 &&
    openssl x509 -checkend $((40 * 86400)) -noout -in "$CERTS/server/cert.pem" >/dev/null 2>&1 &&
    openssl x509 -checkend $((40 * 86400)) -noout -in "$TLS/cert.pem" >/dev/null 2>&1
}

make_certs() {
  local d=$CERTS
  log "certs: generating CA, server and client certificates in $d"
  mkdir -p "$d/server" "$TLS" && chmod 0700 "$d" "$d/server" "$TLS"
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  (
    umask 077 && cd "$d"
    openssl req -x509 "${key[@]}" -keyout ca.key -out ca.pem -days 365 -subj "/CN=remote-buildkit test CA" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    for n in server:localhost client:remote-buildkit-client; do # <dir>:<CN>
      openssl req -new "${key[@]}" -keyout "${n%%:*}/key.pem" -out csr -subj "/CN=${n#*:}" 2>/dev/null
      openssl x509 -req -in csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
        -extfile "${n%%:*}.ext" -out "${n%%:*}/cert.pem" 2>/dev/null
      cp ca.pem "${n%%:*}/ca.pem" && rm csr
    done
    chmod 0600 client/* server/* ca.key
  )
}

up_buildkitd() {
  running buildkitd && [[ -S $BK_SOCK ]] && return 0
  stop buildkitd
  start buildkitd "$BUILDKITD" --addr "$BK_ADDR" --addr "unix://$BK_SOCK" --root "$STATE/buildkitd" \
    --tlscacert "$CERTS/server/ca.pem" --tlscert "$CERTS/server/cert.pem" --tlskey "$CERTS/server/key.pem"
  wait_for buildkitd bctl debug workers
}

# The extra daemons (version-skew and TLS-mismatch tests) each get their own --root (state, snapshots,
# executor and network-namespace dirs, the lock) and their own config: only the OTEL trace socket has a
# fixed default (/run/buildkit/otel-grpc.sock, bind-mounted into build containers), which the next daemon
# to start would unlink and take over. runc state (/run/runc) is shared, keyed by random container IDs.
up_extra_buildkitd() { # name ready-cmd -- buildkitd-binary [args...]
  local name=$1 ready=$2 conf=$STATE/$1/buildkitd.toml changed=false
  shift 3
  mkdir -p "$STATE/$name" && chmod 0711 "$STATE/$name"
  write_if_changed "$conf" "[otel]
  socketPath = \"$STATE/$name/otel-grpc.sock\"" && changed=true
  if ! $changed && running "$name"; then return 0; fi
  stop "$name"
  start "$name" "$@" --config "$conf" --root "$STATE/$name"
  wait_for "$name" "$ready" debug workers
}
up_buildkitd_plain() { up_extra_buildkitd buildkitd-plain bctl_plain -- "$BUILDKITD" --addr "$PLAIN_ADDR"; }
up_buildkitd_old() {
  up_extra_buildkitd buildkitd-old bctl_old -- "$OLD_BUILDKITD" --addr "$OLD_ADDR" \
    --tlscacert "$CERTS/server/ca.pem" --tlscert "$CERTS/server/cert.pem" --tlskey "$CERTS/server/key.pem"
}
up_buildkitd_mid() {
  up_extra_buildkitd buildkitd-mid bctl_mid -- "$MID_BUILDKITD" --addr "$MID_ADDR" \
    --tlscacert "$CERTS/server/ca.pem" --tlscert "$CERTS/server/cert.pem" --tlskey "$CERTS/server/key.pem"
}

up_registry() {
  local dir=$STATE/registry changed=false pw
  mkdir -p "$dir/data"
  [[ -s $STATE/registry-password ]] || (umask 077 && openssl rand -hex 16 >"$STATE/registry-password")
  pw=$(cat "$STATE/registry-password")
  if ! htpasswd -vb "$dir/htpasswd" "$REG_USER" "$pw" >/dev/null 2>&1 ||
    ! htpasswd -vb "$dir/htpasswd" "$ECR_USER" "$ECR_PASSWORD" >/dev/null 2>&1; then
    { htpasswd -Bbn "$REG_USER" "$pw" && htpasswd -Bbn "$ECR_USER" "$ECR_PASSWORD"; } | grep . >"$dir/htpasswd"
    changed=true
  fi
  write_if_changed "$dir/config.yml" "version: 0.1
log: {level: info}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
http:
  addr: $REGISTRY
  secret: remote-buildkit-local-stack
auth:
  htpasswd: {realm: remote-buildkit, path: $dir/htpasswd}" && changed=true
  if $changed; then stop registry; elif running registry; then return 0; fi
  stop registry
  start registry docker-registry serve "$dir/config.yml"
  wait_for registry registry_401
}
registry_401() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/") == 401 ]]; }

up_moto() {
  running moto && return 0
  stop moto
  local bin
  if command -v pyenv >/dev/null; then bin=$(pyenv which moto_server); else bin=$(command -v moto_server); fi
  start moto "$bin" -H 127.0.0.1 -p "$MOTO_PORT"
  wait_for moto curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/"
}

up_versitygw() {
  [[ -s $VGW_SECRET_FILE ]] || (umask 077 && openssl rand -hex 20 >"$VGW_SECRET_FILE")
  chmod 0600 "$VGW_SECRET_FILE"
  # A running gateway that does not accept the current secret (file regenerated) is restarted.
  running versitygw && versitygw_signed_ok && return 0
  stop versitygw
  mkdir -p "$STATE/versitygw/data"
  # The keys go through the environment, not the command line (visible in ps).
  ROOT_ACCESS_KEY=$VGW_ACCESS_KEY ROOT_SECRET_KEY=$(cat "$VGW_SECRET_FILE") \
    start versitygw "$VERSITYGW" --port "127.0.0.1:$VGW_PORT" posix "$STATE/versitygw/data"
  wait_for versitygw versitygw_signed_ok
}
versitygw_signed_ok() { # a SigV4-signed ListBuckets with the stack's keys answers 200 (keys via stdin)
  printf 'user = "%s:%s"\n' "$VGW_ACCESS_KEY" "$(cat "$VGW_SECRET_FILE")" |
    curl -fsS -o /dev/null -K - --aws-sigv4 aws:amz:us-east-1:s3 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
      "$VGW_ENDPOINT/" 2>/dev/null
}

# ---- the Docker engine (docker-container:// endpoints, load: true) and sshd (ssh:// endpoints)
dock() { DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$STATE/docker/cli docker "$@"; }

up_docker() {
  running docker && return 0
  stop docker
  mkdir -p "$STATE/docker/root" "$STATE/docker/cli" "$DOCKER_EXEC" && chmod 0700 "$DOCKER_EXEC"
  start docker dockerd --iptables=false --bridge=none --data-root "$STATE/docker/root" --exec-root "$DOCKER_EXEC" \
    --ip-forward=false -H "unix://$DOCKER_SOCK" --pidfile "$STATE/docker/pid" --shutdown-timeout 5
  wait_for docker dock version
}

# $DOCKER_BK_IMAGE, imported from a rootfs (no pulls): the stack's buildkitd + buildctl, Debian runc and busybox,
# their shared libraries. Made again when one of those files changes (their sizes and times label the image).
up_docker_image() {
  local dir=$STATE/docker/image runc sum f lib
  runc=$(PATH=$PATH:/usr/sbin command -v runc)
  sum=$(stat -L -c '%n %s %Y' "$BUILDKITD" "$BUILDCTL" "$runc" /bin/busybox | sha256sum | cut -c1-16)
  [[ $(dock image inspect -f '{{index .Config.Labels "remote-buildkit.sum"}}' "$DOCKER_BK_IMAGE" 2>/dev/null) == "$sum" ]] &&
    return 0
  log "docker: importing $DOCKER_BK_IMAGE (buildkitd $BK_VERSION, runc, busybox)"
  rm -rf "$dir" && mkdir -p "$dir"/rootfs/{bin,usr/bin,etc,tmp,root,var/lib/buildkit,run/buildkit} "$dir/ctx"
  cp "$BUILDKITD" "$BUILDCTL" "$runc" "$dir/rootfs/usr/bin/"
  cp -L /bin/busybox "$dir/rootfs/bin/busybox"
  for f in sh ls cat mkdir mount ps; do ln -s busybox "$dir/rootfs/bin/$f"; done
  for f in "$BUILDKITD" "$BUILDCTL" "$runc"; do
    for lib in $(ldd "$f" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
      mkdir -p "$dir/rootfs${lib%/*}" && cp -L "$lib" "$dir/rootfs$lib"
    done
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/rootfs/etc/passwd"
  printf 'root:x:0:\n' >"$dir/rootfs/etc/group"
  chmod 1777 "$dir/rootfs/tmp"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir/rootfs" -c . |
    dock import -c 'ENV PATH=/usr/bin:/bin' -c 'ENTRYPOINT ["buildkitd"]' -c "LABEL remote-buildkit.sum=$sum" - \
      "$DOCKER_BK_IMAGE" >/dev/null || die "docker: import of $DOCKER_BK_IMAGE failed"
  docker_image_check "$dir/ctx" || die "docker: buildkitd in a $DOCKER_BK_IMAGE container does not build (log $STATE/logs/docker-image.log)"
  log "docker: $DOCKER_BK_IMAGE imported; a RUN step built in a container of it through docker-container://"
}

docker_image_check() { # ctx-dir: buildkitd in a container of the image runs a RUN step, reached through the connhelper
  local name=rbk-stack-check-$$ ok=0
  cp -L /bin/busybox "$1/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "true"]\n' >"$1/Dockerfile"
  dock run -d --name "$name" --network none "${DOCKER_BK_FLAGS[@]}" "$DOCKER_BK_IMAGE" >"$STATE/logs/docker-image.log" 2>&1 ||
    return 1
  # (buildctl calls `docker exec -i NAME buildctl dial-stdio`; the daemon takes a moment to listen)
  DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$STATE/docker/cli \
    wait_for docker "$BUILDCTL" --addr "docker-container://$name" debug workers
  DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$STATE/docker/cli "$BUILDCTL" --addr "docker-container://$name" build \
    --progress=plain --frontend dockerfile.v0 --local context="$1" --local dockerfile="$1" >>"$STATE/logs/docker-image.log" 2>&1 || ok=1
  dock rm -f -v "$name" >/dev/null 2>&1 || true
  return $ok
}

up_sshd() {
  local d=$SSH_DIR changed=false
  mkdir -p "$d" && chmod 0700 "$d"
  [[ -s $d/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C remote-buildkit-stack-client -f "$d/id_ed25519"
  [[ -s $d/git_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C remote-buildkit-stack-git -f "$d/git_ed25519"
  if [[ ! -s $d/host_ed25519 ]]; then
    ssh-keygen -q -t ed25519 -N '' -C remote-buildkit-stack-host -f "$d/host_ed25519" && changed=true
  fi
  # The git key (for ssh-agent tests of git contexts) runs git-shell only: fetch/push of the repositories, by path.
  write_if_changed "$d/authorized_keys" "$(cat "$d/id_ed25519.pub")
restrict,command=\"git-shell -c \\\"\$SSH_ORIGINAL_COMMAND\\\"\" $(cat "$d/git_ed25519.pub")" || true
  write_if_changed "$d/known_hosts" "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$d/host_ed25519.pub")" || true
  # The client side, for `ssh -F` (ssh reads ~/.ssh of the passwd entry, not $HOME).
  write_if_changed "$d/ssh_config" "Host 127.0.0.1
  User root
  Port $SSH_PORT
  IdentityFile $d/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes" || true
  # The remote side of ssh://root@127.0.0.1:$SSH_PORT: `buildctl dial-stdio` finds buildctl on PATH and the daemon in
  # BUILDKIT_HOST. (StrictModes no: the files are ours, in a 0700 directory that may lie below a world-writable one.)
  write_if_changed "$d/sshd_config" "Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $d/host_ed25519
AuthorizedKeysFile $d/authorized_keys
AuthenticationMethods publickey
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
PrintMotd no
X11Forwarding no
SetEnv BUILDKIT_HOST=unix://$BK_SOCK PATH=$BK_DIR:/usr/local/bin:/usr/bin:/bin" && changed=true
  if ! $changed && running sshd; then return 0; fi
  stop sshd
  mkdir -p /run/sshd && chmod 0755 /run/sshd # its privilege-separation directory
  start sshd "$(PATH=$PATH:/usr/sbin command -v sshd)" -D -e -f "$d/sshd_config"
  wait_for sshd ssh -F "$d/ssh_config" 127.0.0.1 buildctl debug workers
}

# ---- git servers for git contexts: the bare repositories in $GIT_REPOS (tests create theirs there)
up_git_daemon() {
  # git-daemon itself (`git daemon` would run it as a child, and the PID recorded would be git's). Errors as a
  # public server gives them ("access denied or repository not exported"), not --informative-errors.
  local cmd=("$(git --exec-path)/git-daemon" --reuseaddr --export-all --base-path="$GIT_REPOS" --listen=127.0.0.1
    --port="$GIT_PORT" "$GIT_REPOS") changed=false
  mkdir -p "$GIT_REPOS" "$STATE/git-daemon"
  write_if_changed "$STATE/git-daemon/command" "${cmd[*]}" && changed=true # a new command line restarts it
  if ! $changed && running git-daemon; then return 0; fi
  stop git-daemon
  start git-daemon "${cmd[@]}"
  wait_for git-daemon git ls-remote "git://127.0.0.1:$GIT_PORT/stack-check.git"
}

# A bare repository with one commit, to check the servers with (and for tests that only need some repository).
git_check_repo() {
  local r=$GIT_REPOS/stack-check.git tmp
  git --git-dir="$r" rev-parse -q --verify HEAD >/dev/null 2>&1 && return 0
  log "git: creating $r"
  rm -rf "$r" && git init -q --bare "$r"
  tmp=$(mktemp -d)
  printf 'FROM scratch\nCOPY Dockerfile /\n' >"$tmp/Dockerfile"
  git -C "$tmp" init -q && git -C "$tmp" add Dockerfile &&
    git -C "$tmp" -c user.name=stack -c user.email=stack@localhost commit -q -m check &&
    git -C "$tmp" push -q "$r" HEAD:refs/heads/main && git --git-dir="$r" symbolic-ref HEAD refs/heads/main
  rm -rf "$tmp"
}

# git http-backend as a CGI of busybox httpd: http://127.0.0.1:$GIT_HTTP_PORT/cgi-bin/git/<name>.git, read-only, basic auth
# $GIT_HTTP_USER:<token> (BuildKit sends a GIT_AUTH_TOKEN secret so). Plain http: the daemon trusts only the system's CAs.
up_git_http() {
  local d=$STATE/git-http changed=false token
  mkdir -p "$d/www/cgi-bin" && chmod 0700 "$d"
  [[ -s $STATE/git-http-token ]] || (umask 077 && openssl rand -hex 16 >"$STATE/git-http-token")
  token=$(cat "$STATE/git-http-token")
  write_if_changed "$d/www/cgi-bin/git" "#!/bin/sh
export GIT_PROJECT_ROOT='$GIT_REPOS' GIT_HTTP_EXPORT_ALL=1
exec '$(git --exec-path)/git-http-backend'" && changed=true
  chmod 0700 "$d/www/cgi-bin/git"
  (umask 077 && write_if_changed "$d/httpd.conf" "A:127.0.0.1
D:*
/cgi-bin:$GIT_HTTP_USER:$token") && changed=true
  if ! $changed && running git-http; then return 0; fi
  stop git-http
  start git-http busybox httpd -f -vv -p "127.0.0.1:$GIT_HTTP_PORT" -h "$d/www" -c "$d/httpd.conf" -r remote-buildkit-git
  wait_for git-http git -c "http.extraHeader=Authorization: basic $(printf '%s:%s' "$GIT_HTTP_USER" "$token" | base64 -w0)" \
    ls-remote "http://127.0.0.1:$GIT_HTTP_PORT/cgi-bin/git/stack-check.git"
}

docker_config() {
  mkdir -p "$STATE/docker-config" && chmod 0700 "$STATE/docker-config"
  write_if_changed "$STATE/docker-config/config.json" \
    "$(jq -n --arg r "$REGISTRY" --arg a "$(printf '%s:%s' "$REG_USER" "$1" | base64 -w0)" \
      '{auths: {($r): {auth: $a}}}')" || true
}

up_base_image() {
  local pw=$1 dir=$STATE/base-image a
  curl -fsS -I -o /dev/null -u "$REG_USER:$pw" \
    -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/busybox/manifests/latest" 2>/dev/null && return 0
  log "base image: building $BASE_IMAGE from Debian busybox-static"
  rm -rf "$dir" && mkdir -p "$dir"/rootfs/{bin,etc,tmp,root} "$dir/ctx" "$dir/check"
  cp -L /bin/busybox "$dir/rootfs/bin/busybox"
  for a in "${APPLETS[@]}"; do ln -s busybox "$dir/rootfs/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/rootfs/etc/group"
  chmod 1777 "$dir/rootfs/tmp"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir/rootfs" -czf "$dir/ctx/rootfs.tar.gz" .
  printf 'FROM scratch\nADD rootfs.tar.gz /\nCMD ["sh"]\n' >"$dir/ctx/Dockerfile"
  printf 'FROM %s\nRUN echo ok && ls /bin | wc -l\n' "$BASE_IMAGE" >"$dir/check/Dockerfile"
  : >"$STATE/logs/base-image.log"
  dbuild "$dir/ctx" --output "type=image,name=$BASE_IMAGE,push=true" || die "base image: build/push failed"
  dbuild "$dir/check" || die "base image: FROM $BASE_IMAGE + RUN failed"
  log "base image: pushed $BASE_IMAGE and checked FROM + RUN"
}

dbuild() { # dir [buildctl args]: Dockerfile build with the stack's registry auth
  local dir=$1 log=$STATE/logs/base-image.log
  shift
  DOCKER_CONFIG=$STATE/docker-config bctl build --progress=plain --frontend dockerfile.v0 \
    --local context="$dir" --local dockerfile="$dir" "$@" >>"$log" 2>&1 || { tail -n 30 "$log" >&2 && return 1; }
}

# The env file lists what the profile started: `up --demo` buildkitd, the registry and the base image, `up` everything
# (STACK_PROFILE says which). A full stack's file is never narrowed by a later `up --demo`.
write_env() { # profile registry-password; values are paths, hosts and hex: none holds a single quote
  local vars=(REMOTE_BUILDKIT_STACK_DIR "$STATE" STACK_PROFILE "$1"
    STACK_BUILDKIT_HOST "$BK_ADDR" STACK_BUILDKIT_UNIX_HOST "unix://$BK_SOCK" STACK_BUILDKIT_VERSION "$BK_VERSION"
    STACK_TLS_DIR "$TLS" STACK_CA_DIR "$CERTS" STACK_BUILDCTL "$BUILDCTL" STACK_BUILDKITD "$BUILDKITD"
    STACK_REGISTRY "$REGISTRY" STACK_REGISTRY_USER "$REG_USER" STACK_REGISTRY_PASSWORD "$2"
    STACK_DOCKER_CONFIG "$STATE/docker-config" STACK_BASE_IMAGE "$BASE_IMAGE")
  if [[ $1 == demo ]] && grep -qx "STACK_PROFILE='full'" "$STATE/env" 2>/dev/null; then
    log "env: $STATE/env describes the full stack: left as it is" && return 0
  fi
  [[ $1 == full ]] && vars+=(STACK_PLAIN_BUILDKIT_HOST "$PLAIN_ADDR" STACK_OLD_BUILDKIT_HOST "$OLD_ADDR"
    STACK_MID_BUILDKIT_HOST "$MID_ADDR" STACK_MID_BUILDKIT_VERSION "$BK_MID_VERSION" STACK_MID_BUILDCTL "$MID_BUILDCTL"
    STACK_OLD_BUILDKIT_VERSION "$BK_OLD_VERSION" STACK_OLD_BUILDCTL "$OLD_BUILDCTL" STACK_OLD_BUILDKITD "$OLD_BUILDKITD"
    STACK_ECR_USER "$ECR_USER" STACK_ECR_PASSWORD "$ECR_PASSWORD"
    STACK_S3_ENDPOINT "http://127.0.0.1:$MOTO_PORT" STACK_AWS_ENDPOINT "http://127.0.0.1:$MOTO_PORT"
    STACK_VERSITY_ENDPOINT "$VGW_ENDPOINT" STACK_VERSITY_ACCESS_KEY "$VGW_ACCESS_KEY"
    STACK_VERSITY_SECRET_KEY "$(cat "$VGW_SECRET_FILE")"
    STACK_BUILDKITE_AGENT "$AGENT" STACK_AGENT_STUB "$AGENT_STUB" STACK_TOXIPROXY "$TOXIPROXY" STACK_BUILDX "$BUILDX"
    STACK_DOCKER_HOST "unix://$DOCKER_SOCK" STACK_DOCKER_BUILDKITD_IMAGE "$DOCKER_BK_IMAGE"
    STACK_DOCKER_BUILDKITD_FLAGS "${DOCKER_BK_FLAGS[*]}" STACK_SSH_HOST "ssh://root@127.0.0.1:$SSH_PORT"
    STACK_SSH_CONFIG "$SSH_DIR/ssh_config" STACK_SSHD "$(PATH=$PATH:/usr/sbin command -v sshd || echo /usr/sbin/sshd)"
    STACK_DOCKER_CLI "$DOCKER_CLI" STACK_DOCKER_CLI_PLUGINS "$CLI_PLUGINS" STACK_COMPOSE "$COMPOSE"
    STACK_GIT_DIR "$GIT_REPOS" STACK_GIT_URL "git://127.0.0.1:$GIT_PORT"
    STACK_GIT_SSH_URL "ssh://root@127.0.0.1:$SSH_PORT$GIT_REPOS" STACK_GIT_SSH_KEY "$SSH_DIR/git_ed25519"
    STACK_GIT_SSH_KNOWN_HOSTS "$SSH_DIR/known_hosts"
    STACK_GIT_HTTP_URL "http://127.0.0.1:$GIT_HTTP_PORT/cgi-bin/git" STACK_GIT_HTTP_USER "$GIT_HTTP_USER"
    STACK_GIT_HTTP_TOKEN "$(cat "$STATE/git-http-token")"
    BATS_MOCK_STUB "$BATS_MOCK_STUB" STACK_DNSMASQ "$(PATH=$PATH:/usr/sbin command -v dnsmasq || echo /usr/sbin/dnsmasq)")
  if write_if_changed "$STATE/env" "$(printf "%s='%s'\n" "${vars[@]}")"; then log "env: wrote $STATE/env ($1)"; fi
}

installed() { # profile: every tool the profile's daemons and tests use is built
  local how=install
  [[ $1 == demo ]] && how=install-demo
  buildkit_ok "$BK_VERSION" || die "buildkit $BK_VERSION missing: run '$0 $how' first"
  [[ $1 == demo ]] && return 0
  buildkit_ok "$BK_MID_VERSION" || die "buildkit $BK_MID_VERSION missing: run '$0 install' first"
  buildkit_ok "$BK_OLD_VERSION" || die "buildkit $BK_OLD_VERSION missing: run '$0 install' first"
  [[ -f $BATS_MOCK_STUB ]] || die "bats-mock missing: run '$0 install' first"
  versitygw_ok || die "versitygw $VGW_VERSION missing: run '$0 install' first"
  buildx_ok || die "buildx $BUILDX_VERSION missing: run '$0 install' first"
  agent_ok || die "buildkite-agent $AGENT_VERSION missing: run '$0 install' first"
  { docker_cli_ok && compose_ok; } || die "docker CLI $DOCKER_CLI_VERSION / compose $COMPOSE_VERSION missing: run '$0 install' first"
  install_agent_stub # cheap, and its source may have changed since install
}

cmd_up() { # [--demo]
  local profile=full pw
  case ${1:-} in --demo) profile=demo ;; '') ;; *) die "usage: $0 up [--demo]" ;; esac
  installed "$profile"
  mkdir -p "$STATE/pids" "$STATE/logs" && chmod 0700 "$STATE"
  if ! certs_valid; then
    stop buildkitd # they must pick up the new server certificate
    stop buildkitd-old
    stop buildkitd-mid
    make_certs
  fi
  up_buildkitd
  up_registry
  if [[ $profile == full ]]; then
    up_buildkitd_plain
    up_buildkitd_old
    up_buildkitd_mid
    up_moto
    up_versitygw
    up_docker
    up_docker_image
    up_sshd
    git_check_repo
    up_git_daemon
    up_git_http
  fi
  pw=$(cat "$STATE/registry-password")
  docker_config "$pw"
  up_base_image "$pw"
  write_env "$profile" "$pw"
  cmd_status "$profile"
  log "up ($profile): source $STATE/env (buildkit $BK_ADDR, registry $REGISTRY user $REG_USER$([[ $profile == demo ]] ||
    echo ", plain $PLAIN_ADDR, $BK_MID_VERSION $MID_ADDR, $BK_OLD_VERSION $OLD_ADDR, S3 http://127.0.0.1:$MOTO_PORT, signed S3 $VGW_ENDPOINT, git git://127.0.0.1:$GIT_PORT"))"
}

cmd_status() { # [profile]: the daemons of the demo profile, or all
  local n names=("${DAEMONS[@]}")
  [[ ${1:-} == demo ]] && names=("${DEMO_DAEMONS[@]}")
  for n in "${names[@]}"; do
    if [[ -d $STATE/pids ]] && running "$n"; then
      printf '%-15s running (pid %s, port %s)\n' "$n" "$(recorded_pid "$n")" "${PORT[$n]}"
    else
      printf '%-15s stopped\n' "$n"
    fi
  done
}

# The Debian packages (mostly download and unpack) go on beside the buildkit build (mostly CPU).
install_demo() {
  local apt_pid
  install_apt "${DEMO_APT_PACKAGES[@]}" &
  apt_pid=$!
  install_buildkit "$BK_VERSION"
  wait "$apt_pid" || die "apt: installing ${DEMO_APT_PACKAGES[*]} failed"
}

# prefetch_source MODULE@VERSION PACKAGE [PREP]: download the modules that building PACKAGE from the module's
# source needs (`go list -deps` compiles nothing), in a throw-away copy; the build later finds them in GOMODCACHE.
prefetch_source() {
  local tmp
  tmp=$(mktemp -d "$CACHE/tools/.prefetch.XXXXXX") && module_copy "$1" "$tmp/src" &&
    (cd "$tmp/src" && ${3:-true} && GOFLAGS=-mod=mod go list -deps "$2" >/dev/null)
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

# prefetch_buildkit VERSION: the modules of install_buildkit's own module graph for that version.
prefetch_buildkit() {
  local tmp
  tmp=$(mktemp -d "$CACHE/tools/.prefetch.XXXXXX") &&
    (cd "$tmp" && go mod init prefetch && GOFLAGS=-mod=mod go get -tool "github.com/moby/buildkit/cmd/buildkitd@$1" \
      "github.com/moby/buildkit/cmd/buildctl@$1" && GOFLAGS=-mod=mod go list -deps tool >/dev/null)
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

# Downloading modules waits on the network and building them on the CPUs: while one tool builds, the modules
# of the tools after it download (best effort, at low priority; each build still fetches what is missing).
prefetch_tools() {
  buildkit_ok "$BK_OLD_VERSION" || prefetch_buildkit "$BK_OLD_VERSION"
  versitygw_ok || prefetch_source "github.com/versity/versitygw@$VGW_VERSION" ./cmd/versitygw
  toxiproxy_ok || prefetch_source "github.com/Shopify/toxiproxy/v2@$TOXI_VERSION" ./cmd/server
  buildx_ok || prefetch_source "github.com/docker/buildx@$BUILDX_VERSION" ./cmd/buildx
  docker_cli_ok || prefetch_source "github.com/docker/cli@$DOCKER_CLI_VERSION+incompatible" ./cmd/docker docker_cli_vendor_mod
  compose_ok || prefetch_source "github.com/docker/compose/v5@$COMPOSE_VERSION" ./cmd
  agent_ok || GOTOOLCHAIN=$AGENT_GOTOOLCHAIN prefetch_source "github.com/buildkite/agent/v3@$AGENT_VERSION" . agent_replace
  return 0
}

install_all() {
  mkdir -p "$CACHE/tools"
  GOWORK=off prefetch_tools >"$CACHE/tools/prefetch.log" 2>&1 &
  local prefetch=$! rc=0
  renice -n 10 -p "$prefetch" >/dev/null 2>&1 || true # its go commands start later and inherit it
  install_apt "${APT_PACKAGES[@]}" && install_bats_mock && install_buildkit "$BK_VERSION" &&
    install_buildkit "$BK_MID_VERSION" && install_buildkit "$BK_OLD_VERSION" &&
    install_versitygw && install_toxiproxy && install_buildx && install_docker_cli && install_agent && install_agent_stub || rc=$?
  wait "$prefetch" || true
  return $rc
}

case ${1:-} in
install) install_all ;;
install-demo) install_demo ;;
up) # one at a time: concurrent ups would race on the same ports and PID files
  mkdir -p "$STATE"
  exec 6>"$STATE/.up.lock"
  flock -n 6 || { log "up: another stack.sh up is running, waiting for it" && flock 6; }
  cmd_up "${@:2}"
  ;;
down) # all, or only the daemons named: down buildkitd-plain buildkitd-old
  shift
  [[ $# -gt 0 ]] || set -- git-http git-daemon sshd docker versitygw moto registry buildkitd-mid buildkitd-old buildkitd-plain buildkitd
  for n in "$@"; do [[ -v "PORT[$n]" ]] || die "down: unknown daemon $n (${DAEMONS[*]})"; done
  for n in "$@"; do stop "$n"; done
  ;;
status) cmd_status ;;
env-file) echo "$STATE/env" ;;
*) die "usage: $0 install|install-demo|up [--demo]|down [name...]|status|env-file" ;;
esac
