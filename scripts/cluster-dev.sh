#!/usr/bin/env bash
# `make cluster-dev`: for the local cluster what `make compose-up` is for compose. Brings the cluster
# up (tools/cluster), creates the Secrets (random, git-ignored: k8s/secrets/generate-dev-secrets.sh),
# and where no image registry answers, builds and loads the local equivalents of the upstream images;
# then runs `skaffold dev` (Ctrl-C stops it) with the profiles that fit:
#   a registry answers   the dev overlay, forwards on 3000 (frontend) and 8000 (backend)
#   no registry          -p offline,cluster-test: Alice built on the local bases, the stores' local
#                        equivalents, forwards on 13000 and 18000 (the next free port when taken)
# ALICE_CLUSTER_PROFILES overrides the choice; extra skaffold flags: `make cluster-dev SKAFFOLD_FLAGS=...`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source tools/cluster/versions.sh

scripts/skaffold.sh
tools/cluster/cluster.sh up
k8s/secrets/generate-dev-secrets.sh
# The kubectl built with the cluster: skaffold runs `kubectl`, and the machine's may be too old.
kubectl_dir="$CLUSTER_BIN/kubernetes-$KUBERNETES_VERSION"
[[ -x "$kubectl_dir/kubectl" ]] && export PATH="$kubectl_dir:$PATH"
# As scripts/compose.sh does: the machine's CA bundle is the build secret `ca` (skaffold.yaml).
if [[ -z "${ALICE_BUILD_CA_FILE:-}" && -f "${SSL_CERT_FILE:-}" ]]; then
  export ALICE_BUILD_CA_FILE="$SSL_CERT_FILE"
fi

profiles="${ALICE_CLUSTER_PROFILES-auto}"
if [[ "$profiles" == auto ]]; then
  if scripts/offline-images.sh needed; then profiles=offline,cluster-test; else profiles=""; fi
fi
if [[ "$profiles" == *cluster-test* ]]; then
  echo "==> the stores' local equivalents, loaded into the node (tools/cluster/cluster.sh load-offline)"
  tools/cluster/cluster.sh load-offline
elif [[ "$profiles" == *offline* ]]; then
  scripts/offline-images.sh build
fi

echo "==> skaffold dev${profiles:+ -p $profiles} (Ctrl-C stops it and deletes what it deployed)"
# No --tolerate-failures-until-deadline: the services wait for the stores without exiting
# (docs/operations.md, "Start-up"), so a restart is a real failure.
# shellcheck disable=SC2086  # SKAFFOLD_FLAGS is a list of flags
exec skaffold dev ${profiles:+-p "$profiles"} --kube-context kind-alice --port-forward=user \
  --status-check=true ${SKAFFOLD_FLAGS:-}
