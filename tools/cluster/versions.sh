# shellcheck shell=bash disable=SC2034  # sourced: the scripts that source it use these
# Sourced: the pinned versions (the repository's versions.env: Kubernetes, etcd and the add-ons
# tools/cluster provisions, and the stores' versions the offline images carry) and where the
# binaries go.
# shellcheck source=versions.env
source "$(dirname "${BASH_SOURCE[0]}")/../../versions.env"
CLUSTER_CACHE="$ALICE_CACHE_DIR/cluster"
CLUSTER_BIN="$CLUSTER_CACHE/bin"
NODE_IMAGE="alice-cluster/node:$KUBERNETES_VERSION"
PAUSE_IMAGE="alice-cluster/pause:$KUBERNETES_VERSION"
