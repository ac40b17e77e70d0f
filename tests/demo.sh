#!/usr/bin/env bash
# make demo: run hooks/command on examples/ the way a Buildkite job would,
# against the local stack (mTLS buildkitd, htpasswd registry), and show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
env_file=$(bash tests/stack/stack.sh env-file)
set -a
# shellcheck disable=SC1090
source "$env_file"
set +a

tag="${STACK_REGISTRY}/examples/hello"
meta="$(mktemp -d)/metadata.json"
config=$(jq -cn \
  --arg host "$STACK_BUILDKIT_HOST" --arg tls "$STACK_TLS_DIR" --arg base "$STACK_BASE_IMAGE" \
  --arg tag "$tag" --arg meta "$meta" --arg sha "$(git rev-parse --short HEAD 2>/dev/null || echo dev)" '{
    "buildkit-host": $host, "tls-dir": $tls, "context": "examples",
    "platforms": ["linux/amd64", "linux/arm64"],
    "build-args": {"BASE_IMAGE": $base, "GREETING": "hello from make demo"},
    "tags": [($tag + ":latest"), ($tag + ":" + $sha)], "push": true,
    "metadata-file": $meta }')

echo "--- demo: BUILDKITE_PLUGIN_CONFIGURATION=$config"
BUILDKITE=true BUILDKITE_PLUGIN_CONFIGURATION="$config" DOCKER_CONFIG="$STACK_DOCKER_CONFIG" \
  bash hooks/command

digest=$(jq -r '.["containerimage.digest"]' "$meta")
echo "--- demo: the registry's view of ${tag}:latest"
curl -fsS -u "${STACK_REGISTRY_USER}:${STACK_REGISTRY_PASSWORD}" \
  -H 'Accept: application/vnd.oci.image.index.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
  "http://${STACK_REGISTRY}/v2/examples/hello/manifests/latest" \
  | jq -r '.manifests[] | "  \(.platform.os)/\(.platform.architecture)  \(.digest)"'
registry_digest=$(curl -fsS -o /dev/null -w '%header{docker-content-digest}' -I \
  -u "${STACK_REGISTRY_USER}:${STACK_REGISTRY_PASSWORD}" \
  -H 'Accept: application/vnd.oci.image.index.v1+json' \
  "http://${STACK_REGISTRY}/v2/examples/hello/manifests/latest")
echo "digest (build):    $digest"
echo "digest (registry): $registry_digest"
[ "$digest" = "$registry_digest" ] || { echo "demo: digests differ" >&2; exit 1; }
echo "demo: OK"
