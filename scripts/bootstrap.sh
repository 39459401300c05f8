#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine; every step is skipped when already done.
#   scripts/bootstrap.sh          Python workspace, system packages, frontend dependencies
#   scripts/bootstrap.sh --containers   also what containers need: Debian's docker.io, the compose v2
#                                 and buildx CLI plugins and skaffold (built from their Go modules,
#                                 cached) and mmdebstrap; checks that Docker can run a container
#   scripts/bootstrap.sh --test   all of the above plus what the tests need (Chromium for the browser
#                                 tests, nginx for the frontend image's proxy config)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source versions.env

want_test=false
want_containers=false
for arg in "$@"; do
  case "$arg" in
    --test) want_test=true want_containers=true ;;
    --containers) want_containers=true ;;
    *) echo "usage: $0 [--containers] [--test]" >&2; exit 2 ;;
  esac
done

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

apt_packages=()
command -v redis-server >/dev/null || apt_packages+=(redis-server)
command -v java >/dev/null || apt_packages+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || apt_packages+=(maven)
command -v shellcheck >/dev/null || apt_packages+=(shellcheck)   # make lint
$want_test && ! command -v chromium >/dev/null && apt_packages+=(chromium)
$want_test && ! command -v nginx >/dev/null && apt_packages+=(nginx-light)
$want_containers && ! command -v dockerd >/dev/null && apt_packages+=(docker.io)
$want_containers && ! command -v mmdebstrap >/dev/null && apt_packages+=(mmdebstrap)
if ((${#apt_packages[@]})); then
  step "installing system packages: ${apt_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

if ! python3.11 -m uv --version >/dev/null 2>&1; then
  step "installing uv"
  python3.11 -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

step "syncing the Python workspace (first run builds llama-cpp-python: about 5 minutes)"
# Offline first: uv then takes its cached sdist as it is, with the llama-cpp-python wheel it built
# from it, instead of revalidating the download (which can yield a new revision and a 5-minute rebuild
# in every fresh clone). Online only when something is not cached yet.
if ! $UV sync --all-packages --frozen --offline 2>/dev/null; then
  $UV sync --all-packages --frozen
fi

if ! command -v go >/dev/null; then
  echo "Go 1.24+ is needed to build FerretDB and Weaviate once (https://go.dev/doc/install)" >&2
  exit 1
fi
step "native infrastructure binaries (Kafka jars, FerretDB, Weaviate, llama-server): cached in $ALICE_CACHE_DIR"
$UV run --frozen python -m devstack provision

if [[ -f frontend/package-lock.json ]]; then
  if [[ ! -d frontend/node_modules ]] || [[ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]]; then
    step "installing frontend dependencies"
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

if $want_containers; then
  step "Docker CLI plugins (compose v2, buildx) from their Go modules: cached in $ALICE_CACHE_DIR"
  scripts/docker-plugins.sh
  step "skaffold from its Go module (builds the images from skaffold.yaml): cached in $ALICE_CACHE_DIR"
  scripts/skaffold.sh
  step "checking that Docker runs containers here"
  started="$(mktemp)"
  scripts/docker-daemon.sh start "$started"
  checked=0
  scripts/docker-daemon.sh check || checked=$?
  # A daemon this step started is stopped again; one that was already running stays.
  [[ -s "$started" ]] && scripts/docker-daemon.sh stop
  rm -f "$started"
  if ((checked)); then
    echo "Docker cannot run containers on this machine; the container tests need it (docs/operations.md)" >&2
    exit 1
  fi
fi
