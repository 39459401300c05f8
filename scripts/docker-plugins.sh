#!/usr/bin/env bash
# Builds the Docker CLI plugins the project needs (compose v2, buildx) from their Go modules, once:
# the binaries are cached in $ALICE_CACHE_DIR/docker-plugins and linked into ~/.docker/cli-plugins.
# Debian ships neither at a usable version (docker-compose 1.29 rejects `name:`, no buildx at all).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source versions.env   # COMPOSE_VERSION, BUILDX_VERSION

bin_dir="$ALICE_CACHE_DIR/docker-plugins"
plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
mkdir -p "$bin_dir" "$plugin_dir"
command -v go >/dev/null || { echo "Go 1.24+ is needed to build the Docker compose and buildx plugins" >&2; exit 1; }

source scripts/lib/go-module-build.sh

if [[ ! -x "$bin_dir/docker-compose-$COMPOSE_VERSION" ]]; then
  echo "==> building docker compose $COMPOSE_VERSION from its Go module (first run only, ~4 min)"
  build_from_module github.com/docker/compose/v2 "$COMPOSE_VERSION" ./cmd "$bin_dir/docker-compose-$COMPOSE_VERSION" \
    "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
fi
if [[ ! -x "$bin_dir/docker-buildx-$BUILDX_VERSION" ]]; then
  echo "==> building docker buildx $BUILDX_VERSION from its Go module (first run only, ~4 min)"
  # compose refuses a buildx that reports no version.
  build_from_module github.com/docker/buildx "$BUILDX_VERSION" ./cmd/buildx "$bin_dir/docker-buildx-$BUILDX_VERSION" \
    "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION"
fi
ln -sf "$bin_dir/docker-compose-$COMPOSE_VERSION" "$plugin_dir/docker-compose"
ln -sf "$bin_dir/docker-buildx-$BUILDX_VERSION" "$plugin_dir/docker-buildx"
