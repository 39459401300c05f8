#!/usr/bin/env bash
# The whole system under Docker Compose on this machine (`make compose-up`, `make compose-down`):
#   scripts/compose.sh up          .env on first use, a Docker daemon, the offline images when no
#                                  registry answers, then `docker compose up --build --wait`
#   scripts/compose.sh build       the same preparation, then `docker compose build`
#   scripts/compose.sh down [-v]   stop it (-v also deletes the named volumes: all data)
#   scripts/compose.sh ARGS...     any other `docker compose` command, with the same compose files
# With registry access, the plain `docker compose up --build` does the same (after scripts/compose-env.sh).
# Ports are published on 127.0.0.1 only; ALICE_<NAME>_PORT moves one (docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

files=(-f docker-compose.yml)
# Build through the daemon's own BuildKit, not `buildx bake`: bake asks for entitlements
# (network.host, reading the CA file) interactively, which a script cannot grant.
export COMPOSE_BAKE="${COMPOSE_BAKE:-false}"
# Builds trust what this machine trusts: a CA bundle it names in SSL_CERT_FILE (e.g. a TLS-inspecting
# proxy's) becomes the build secret `ca`, unless ALICE_BUILD_CA_FILE says otherwise.
if [[ -z "${ALICE_BUILD_CA_FILE:-}" && -f "${SSL_CERT_FILE:-}" ]]; then
  export ALICE_BUILD_CA_FILE="$SSL_CERT_FILE"
fi
decide_offline() {
  if [[ -z "${ALICE_OFFLINE_IMAGES:-}" || "${ALICE_OFFLINE_IMAGES}" == auto ]]; then
    if scripts/offline-images.sh needed; then ALICE_OFFLINE_IMAGES=1; else ALICE_OFFLINE_IMAGES=0; fi
    export ALICE_OFFLINE_IMAGES
  fi
  if [[ "$ALICE_OFFLINE_IMAGES" =~ ^(1|yes|true)$ ]]; then
    files+=(-f docker-compose.offline.yml)
  fi
}

case "${1:-}" in
  up | build)
    command="$1"
    shift
    [[ -n "${JWT_SECRET:-}" ]] || scripts/compose-env.sh  # adds what an older .env lacks
    scripts/docker-daemon.sh start
    decide_offline
    if [[ "$ALICE_OFFLINE_IMAGES" =~ ^(1|yes|true)$ ]]; then
      echo "==> no image registry: building the offline equivalents (docker-compose.offline.yml)"
      scripts/offline-images.sh build
    fi
    if [[ $command == up ]]; then
      exec docker compose "${files[@]}" up --build --wait "$@"
    fi
    exec docker compose "${files[@]}" build "$@"
    ;;
  *)
    # The image substitution matters only for builds: no probe here unless asked for.
    [[ "${ALICE_OFFLINE_IMAGES:-}" =~ ^(1|yes|true)$ ]] && decide_offline
    exec docker compose "${files[@]}" "$@"
    ;;
esac
