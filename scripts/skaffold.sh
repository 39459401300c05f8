#!/usr/bin/env bash
# Builds skaffold from its Go module once (about 6 min) and links it into ~/.local/bin: the binary is
# cached in $ALICE_CACHE_DIR/bin. skaffold drives `skaffold build|run|dev` for the images and the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib/go-module-build.sh
source versions.env   # SKAFFOLD_VERSION

bin="$ALICE_CACHE_DIR/bin/skaffold-$SKAFFOLD_VERSION"
mkdir -p "$ALICE_CACHE_DIR/bin" "$HOME/.local/bin"
if [[ ! -x "$bin" ]]; then
  command -v go >/dev/null || { echo "Go 1.24+ is needed to build skaffold" >&2; exit 1; }
  echo "==> building skaffold $SKAFFOLD_VERSION from its Go module (first run only, ~6 min)"
  build_from_module github.com/GoogleContainerTools/skaffold/v2 "$SKAFFOLD_VERSION" ./cmd/skaffold "$bin" \
    "-X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SKAFFOLD_VERSION"
fi
ln -sf "$bin" "$HOME/.local/bin/skaffold"
# No usage reports or update checks: they would send traffic off this machine.
"$bin" config set --global collect-metrics false >/dev/null
"$bin" config set --global update-check false >/dev/null
