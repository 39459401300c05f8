#!/usr/bin/env bash
# Decide whether builds can use the pinned upstream images, and when they cannot (no registry
# reachable), build local equivalents from Debian packages and the project's cached artifacts.
#   scripts/offline-images.sh needed   exit 0 when the offline images are needed, 1 when not
#   scripts/offline-images.sh build    build them (bases with mmdebstrap once, the rest with docker build)
# ALICE_OFFLINE_IMAGES=auto (default: a pull probe decides) | 1 (always offline) | 0 (never).
set -euo pipefail
cd "$(dirname "$0")/.."
caller_uv="${UV:-}"   # `uv run` exports the path of its own binary as UV
source scripts/env.sh
source versions.env

PROBE_IMAGE="${ALICE_PULL_PROBE_IMAGE:-$REDIS_IMAGE}"   # small, and one the compose file uses
ctx=containers/offline
# This run's temporary files (root filesystem tarballs, staged build contexts), removed however it ends.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

needed() {
  case "${ALICE_OFFLINE_IMAGES:-auto}" in
    1 | yes | true) return 0 ;;
    0 | no | false) return 1 ;;
  esac
  ! timeout 60 docker pull -q "$PROBE_IMAGE" >/dev/null 2>&1
}

have() { docker image inspect "$1" >/dev/null 2>&1; }

# The uv executable itself, for the uv image. Candidates: the uv that runs us (`uv run` exports its
# path as UV), the one the machine's Python ships, the one on PATH. A version manager's shell shim
# (pyenv) works on this machine but not in an image, and inside `uv run` python3.11 is the project's
# venv, which has no uv module: only a real executable counts.
uv_binary() {
  local candidate
  for candidate in "$caller_uv" \
    "$(python3.11 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)" \
    "$(/usr/bin/python3.11 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)" \
    "$(command -v uv)"; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    candidate="$(readlink -f "$candidate")"
    [[ "$(head -c 4 "$candidate" | od -An -c | tr -d ' ')" == '177ELF' ]] && { echo "$candidate"; return 0; }
  done
  return 1
}

debian_base() {  # <suite>
  local tag="alice-offline/debian:$1"
  have "$tag" && return 0
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap missing: run scripts/bootstrap.sh --containers" >&2; exit 1; }
  echo "==> $tag: Debian $1 minbase root filesystem (mmdebstrap, about 30 s)"
  local tar="$WORK/debian-$1.tar"
  # shellcheck disable=SC2016  # "$1" is the hook's argument (the root), expanded by mmdebstrap
  mmdebstrap --quiet --variant=minbase --aptopt='Acquire::Retries "3"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$1" "$tar" "http://deb.debian.org/debian"
  docker import --change 'CMD ["bash"]' "$tar" "$tag" >/dev/null
  rm -f "$tar"
}

image() {  # <tag> <dockerfile> <context> [docker build args...]
  local tag=$1 file=$2 context=$3
  shift 3
  echo "==> $tag"
  # Host network: Debian's mirrors are reached the same way apt reaches them on the host.
  docker buildx build --load --network host --progress "${BUILDKIT_PROGRESS:-quiet}" \
    -t "$tag" -f "$ctx/$file" "$@" "$context" >/dev/null
}

build() {
  local cache="$ALICE_CACHE_DIR"
  local missing=()
  [[ -d "$cache/kafka-$KAFKA_VERSION/libs" ]] || missing+=("Kafka jars")
  [[ -x "$cache/weaviate-$WEAVIATE_VERSION-listenhost/weaviate-server" ]] || missing+=("Weaviate")
  [[ -x "$cache/bin/ferretdb-$FERRETDB_VERSION-unix" ]] || missing+=("FerretDB")
  if ((${#missing[@]})); then
    echo "==> building what the offline images reuse (${missing[*]}): devstack provision"
    $UV run --frozen python -m devstack provision
  fi
  debian_base bookworm
  debian_base trixie

  local staging="$WORK/staging"
  mkdir "$staging" "$staging/uv" "$staging/weaviate" "$staging/ferretdb" "$staging/kafka"
  local uv_bin
  uv_bin="$(uv_binary)" || { echo "no uv binary found (the uv that runs this project)" >&2; exit 1; }
  cp "$uv_bin" "$staging/uv/uv"
  [[ "$("$staging/uv/uv" --version)" == "uv $UV_VERSION"* ]] || { echo "uv $UV_VERSION expected on this machine" >&2; exit 1; }
  cp "$cache/weaviate-$WEAVIATE_VERSION-listenhost/weaviate-server" "$staging/weaviate/"
  cp "$cache/bin/ferretdb-$FERRETDB_VERSION-unix" "$staging/ferretdb/ferretdb"
  # dockerd 20.10's BuildKit has no named build contexts: each image gets one staged context.
  cp -r "$cache/kafka-$KAFKA_VERSION/libs" "$staging/kafka/libs"
  cp tools/devstack/kafka/log4j2.xml "$ctx/kafka-run.sh" "$ctx/kafka-broker-api-versions.sh" "$staging/kafka/"

  image "alice-offline/python:3.11-bookworm" python.Dockerfile "$ctx"
  image "alice-offline/uv:$UV_VERSION" uv.Dockerfile "$staging/uv"
  image "alice-offline/node:20-trixie" node.Dockerfile "$ctx"
  image "alice-offline/nginx:bookworm" nginx.Dockerfile "$ctx"
  image "alice-offline/redis:bookworm" redis.Dockerfile "$ctx"
  image "alice-offline/kafka:$KAFKA_VERSION" kafka.Dockerfile "$staging/kafka"
  image "alice-offline/weaviate:$WEAVIATE_VERSION" weaviate.Dockerfile "$staging/weaviate"
  image "alice-offline/mongo:ferretdb-$FERRETDB_VERSION" mongo.Dockerfile "$staging/ferretdb"
  image "alice-offline/curl:bookworm" curl.Dockerfile "$ctx"
}

case "${1:-}" in
  needed) needed ;;
  build) build ;;
  *) echo "usage: $0 needed|build" >&2; exit 2 ;;
esac
