#!/usr/bin/env bash
# A local single-node Kubernetes cluster for Alice (tools/cluster/README.md).
#   tools/cluster/cluster.sh up [RECORD]   provision once (cached), start the node, install the add-ons;
#                                          ends with kube-context kind-alice. When it started the node
#                                          and RECORD is given, writes "cluster" there.
#   tools/cluster/cluster.sh down [--purge]  stop and remove the node (--purge: its volume too)
#   tools/cluster/cluster.sh status        is the node up and Ready
#   tools/cluster/cluster.sh load IMAGE... copy images from the local Docker daemon into the node
#   tools/cluster/cluster.sh tag SOURCE TARGET  a second name, in the node, for an image the node has
#   tools/cluster/cluster.sh load-offline  (re)build the offline third-party images and load them
#                                          (no registry: see docs/operations.md)
#   tools/cluster/cluster.sh addons [NAME...]  (re)apply add-ons (coredns local-path metrics-server keda
#                                          monitoring vpa rollouts)
#   tools/cluster/cluster.sh kubeconfig    print the path of the cluster's kubeconfig
# Settings: ALICE_CLUSTER_CPUS (default 1.5), ALICE_CLUSTER_MEMORY (default 8g), ALICE_CLUSTER_API_PORT
# (default 16443, on 127.0.0.1), ALICE_CLUSTER_ENGINE=auto|built|kind (auto: kind where it works).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
source tools/cluster/versions.sh

NAME=alice
NODE=alice-control-plane
VOLUME=alice-control-plane-var
CONTEXT=kind-$NAME
CPUS="${ALICE_CLUSTER_CPUS:-1.5}"
MEMORY="${ALICE_CLUSTER_MEMORY:-8g}"
API_PORT="${ALICE_CLUSTER_API_PORT:-16443}"
KUBECONFIG_FILE="$CLUSTER_CACHE/kubeconfig"
say() { echo "==> $*"; }
# This run's temporary files, removed however it ends (a failed step included).
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# The kubectl built with the cluster (the machine's may be more than one minor version older).
KUBECTL="$CLUSTER_BIN/kubernetes-$KUBERNETES_VERSION/kubectl"
[[ -x "$KUBECTL" ]] || KUBECTL=kubectl
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --context "$CONTEXT" "$@"; }
node_exec() { docker exec "$NODE" "$@"; }
running() { [[ "$(docker inspect -f '{{.State.Running}}' "$NODE" 2>/dev/null)" == true ]]; }

# Stock kind needs `docker run --privileged`, which fails where a capability is missing from the
# bounding set (as on the machines this project is developed on): use it only where it works.
use_kind() {
  case "${ALICE_CLUSTER_ENGINE:-auto}" in
    kind) return 0 ;;
    built) return 1 ;;
  esac
  local kind_bin
  kind_bin="$(command -v kind || true)"
  [[ -n "$kind_bin" && "$(readlink -f "$kind_bin")" != "$(readlink -f tools/cluster/kind)" ]] || return 1
  scripts/docker-daemon.sh check >/dev/null 2>&1 || return 1
  timeout 60 docker run --rm --privileged --network none alice-probe:true /usr/bin/true >/dev/null 2>&1
}

full_ref() {  # docker's short names as containerd stores them
  local ref=$1 first=${1%%/*}
  [[ "$ref" == */* ]] || ref="library/$ref"
  [[ "$1" == */* && ( "$first" == *.* || "$first" == *:* || "$first" == localhost ) ]] || ref="docker.io/$ref"
  echo "$ref"
}
docker_id() { docker image inspect -f '{{.Id}}' "$1" | cut -d: -f2; }
# Each loaded image is labelled with its Docker image id, so a retagged or rebuilt image is reloaded.
loaded() { node_exec ctr -n k8s.io images ls "name==$(full_ref "$1")" 2>/dev/null | grep -q "alice.docker-id=$(docker_id "$1")"; }
load() {  # <image>...: docker save | ctr import, as `kind load docker-image` does
  local img
  for img in "$@"; do
    echo "    loading $img into $NODE"
    docker save "$img" | docker exec -i "$NODE" ctr -n k8s.io images import - >/dev/null
    node_exec ctr -n k8s.io images label "$(full_ref "$img")" "alice.docker-id=$(docker_id "$img")" >/dev/null
  done
}
tag_in_node() {  # <source> <target>: no Docker involved, so it works once Docker has dropped the source
  node_exec ctr -n k8s.io images tag --force "$(full_ref "$1")" "$(full_ref "$2")" >/dev/null
}
# Each run loads its newly built images; the node's containerd keeps every earlier one, and over a
# few runs they fill the disk. Before the node stops: drop each alice/* reference whose image Docker
# no longer has under that name (superseded by a rebuild), then the bare digest references nothing
# named points to any more. Third-party images stay; containerd collects the unreferenced content.
prune_superseded() {
  local ref digest
  node_exec ctr -n k8s.io images ls 2>/dev/null | awk 'NR > 1 && $1 ~ /^docker\.io\/alice\// {print $1}' |
    while read -r ref; do
      local short=${ref#docker.io/}
      loaded "$short" 2>/dev/null || node_exec ctr -n k8s.io images rm "$ref" >/dev/null || true
    done
  local named
  named="$(node_exec ctr -n k8s.io images ls 2>/dev/null | awk 'NR > 1 && $1 !~ /^sha256:/ && $1 !~ /@sha256:/ {print $3}' | sort -u)"
  node_exec ctr -n k8s.io images ls 2>/dev/null | awk 'NR > 1 && ($1 ~ /^sha256:/ || $1 ~ /@sha256:/) {print $1, $3}' |
    while read -r ref digest; do
      grep -qxF "$digest" <<<"$named" || node_exec ctr -n k8s.io images rm "$ref" >/dev/null || true
    done
}
load_missing() {
  local img
  for img in "$@"; do loaded "$img" || load "$img"; done
}

# The local equivalents of the third-party images (scripts/offline-images.sh), under their own
# names: a manifest runs them only where it names them (tests/cluster/overlay does).
OFFLINE_IMAGES=(alice-offline/redis:bookworm "alice-offline/kafka:$KAFKA_VERSION" "alice-offline/weaviate:$WEAVIATE_VERSION"
  "alice-offline/mongo:ferretdb-$FERRETDB_VERSION" alice-offline/curl:bookworm)

write_kubeconfig() {
  mkdir -p "$CLUSTER_CACHE"
  local tmp="$WORK/kubeconfig"
  # Cluster, user and context all named kind-alice, as kind names them (skaffold derives the
  # cluster name it passes to `kind load` from the context's cluster).
  node_exec cat /var/lib/alice-node/admin.conf | sed -E \
    -e "s/^([ -]*)name: (alice|admin|default)$/\1name: $CONTEXT/" -e "s/^( *)(cluster|user): (alice|admin)$/\1\2: $CONTEXT/" \
    -e "s/^current-context: default$/current-context: $CONTEXT/" >"$tmp"
  KUBECONFIG="$tmp" "$KUBECTL" config set-cluster "$CONTEXT" --server="https://127.0.0.1:$API_PORT" >/dev/null
  mv "$tmp" "$KUBECONFIG_FILE"
  chmod 600 "$KUBECONFIG_FILE"
  # Merged into ~/.kube/config as kind does, so skaffold and kubectl find the context by name.
  mkdir -p "$HOME/.kube"
  local merged="$WORK/kube-config"
  KUBECONFIG="$KUBECONFIG_FILE:$HOME/.kube/config" "$KUBECTL" config view --flatten >"$merged"
  mv "$merged" "$HOME/.kube/config" && chmod 600 "$HOME/.kube/config"
}

wait_until() {  # <seconds> <what> <command...>
  local limit=$1 deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "$what: not within ${limit}s" >&2
      running && node_exec sh -c 'tail -n 15 /var/log/alice-node/*.log' >&2 || docker logs --tail 40 "$NODE" >&2 || true
      exit 1
    fi
    sleep 1
  done
}

ADDON_IMAGES=(
  "alice-cluster/coredns:$COREDNS_VERSION" "alice-cluster/local-path-provisioner:$LOCAL_PATH_VERSION"
  "alice-cluster/metrics-server:$METRICS_SERVER_VERSION" "alice-cluster/keda:$KEDA_VERSION"
  "alice-cluster/keda-adapter:$KEDA_VERSION" "alice-cluster/keda-admission-webhooks:$KEDA_VERSION"
  "alice-cluster/prometheus-operator:$PROMETHEUS_OPERATOR_VERSION"
  "alice-cluster/prometheus-config-reloader:$PROMETHEUS_OPERATOR_VERSION"
  "alice-cluster/prometheus:$PROMETHEUS_VERSION" "alice-cluster/alertmanager:$ALERTMANAGER_VERSION"
  "alice-cluster/kube-state-metrics:$KUBE_STATE_METRICS_VERSION"
  alice-offline/debian:bookworm "alice-cluster/vpa-recommender:$VPA_VERSION"
  "alice-cluster/argo-rollouts:$ARGO_ROLLOUTS_VERSION"
)
addons() {  # <add-on>...: render tools/cluster/addons/<name> with the cached upstream files, apply, wait
  local build="$WORK/addons" d
  rm -rf "$build" && mkdir "$build"
  cp -r tools/cluster/addons/. "$build/"
  cp "$CLUSTER_CACHE/manifests/local-path-$LOCAL_PATH_VERSION/local-path-storage.yaml" "$build/local-path/upstream.yaml"
  cp -r "$CLUSTER_CACHE/manifests/metrics-server-$METRICS_SERVER_VERSION/base" "$build/metrics-server/upstream"
  cp -r "$CLUSTER_CACHE/manifests/keda-$KEDA_VERSION/config" "$build/keda/upstream"
  mkdir "$build/monitoring/upstream"
  cp -r "$CLUSTER_CACHE/manifests/prometheus-operator-rbac-$PROMETHEUS_OPERATOR_VERSION"/. "$build/monitoring/upstream/"
  cp -r "$CLUSTER_CACHE/manifests/kube-state-metrics-$KUBE_STATE_METRICS_VERSION/standard" \
    "$build/monitoring/upstream/kube-state-metrics"
  cp -r "$CLUSTER_CACHE/manifests/vpa-$VPA_VERSION" "$build/vpa/upstream"
  cp -r "$CLUSTER_CACHE/manifests/argo-rollouts-$ARGO_ROLLOUTS_VERSION" "$build/rollouts/upstream"
  # The images the provisioning built, named here only (versions.env has the versions).
  printf 'images:\n  - {name: alice-cluster/coredns, newTag: %s}\n' "$COREDNS_VERSION" >>"$build/coredns/kustomization.yaml"
  printf 'images:\n  - {name: rancher/local-path-provisioner, newName: alice-cluster/local-path-provisioner, newTag: %s}\n' \
    "$LOCAL_PATH_VERSION" >>"$build/local-path/kustomization.yaml"
  printf 'images:\n  - {name: gcr.io/k8s-staging-metrics-server/metrics-server, newName: alice-cluster/metrics-server, newTag: %s}\n' \
    "$METRICS_SERVER_VERSION" >>"$build/metrics-server/kustomization.yaml"
  {
    echo "images:"
    echo "  - {name: ghcr.io/kedacore/keda, newName: alice-cluster/keda, newTag: $KEDA_VERSION}"
    echo "  - {name: ghcr.io/kedacore/keda-metrics-apiserver, newName: alice-cluster/keda-adapter, newTag: $KEDA_VERSION}"
    echo "  - {name: ghcr.io/kedacore/keda-admission-webhooks, newName: alice-cluster/keda-admission-webhooks, newTag: $KEDA_VERSION}"
  } >>"$build/keda/kustomization.yaml"
  {  # the kustomization ends with its patches: list, which these extend
    echo "  - target: {kind: Deployment, name: prometheus-operator}"
    echo "    patch: |"
    echo "      - {op: replace, path: /spec/template/spec/containers/0/args/1, value: \"--prometheus-config-reloader=alice-cluster/prometheus-config-reloader:$PROMETHEUS_OPERATOR_VERSION\"}"
    local kind image version
    for kind in Prometheus:prometheus:$PROMETHEUS_VERSION Alertmanager:alertmanager:$ALERTMANAGER_VERSION; do
      IFS=: read -r kind image version <<<"$kind"
      echo "  - target: {kind: $kind}"
      echo "    patch: |"
      echo "      - {op: add, path: /spec/image, value: \"alice-cluster/$image:$version\"}"
      echo "      - {op: add, path: /spec/version, value: \"$version\"}"
    done
    echo "images:"
    echo "  - {name: quay.io/prometheus-operator/prometheus-operator, newName: alice-cluster/prometheus-operator, newTag: $PROMETHEUS_OPERATOR_VERSION}"
    echo "  - {name: registry.k8s.io/kube-state-metrics/kube-state-metrics, newName: alice-cluster/kube-state-metrics, newTag: $KUBE_STATE_METRICS_VERSION}"
  } >>"$build/monitoring/kustomization.yaml"
  printf 'images:\n  - {name: registry.k8s.io/autoscaling/vpa-recommender, newName: alice-cluster/vpa-recommender, newTag: %s}\n' \
    "$VPA_VERSION" >>"$build/vpa/kustomization.yaml"
  printf 'images:\n  - {name: quay.io/argoproj/argo-rollouts, newName: alice-cluster/argo-rollouts, newTag: %s}\n' \
    "$ARGO_ROLLOUTS_VERSION" >>"$build/rollouts/kustomization.yaml"
  say "CRDs the prod overlay uses: prometheus-operator $PROMETHEUS_OPERATOR_VERSION, cert-manager $CERT_MANAGER_VERSION"
  kc apply --server-side --force-conflicts \
    -f "$CLUSTER_CACHE/manifests/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/prometheus-operator-crd" \
    -f "$CLUSTER_CACHE/manifests/cert-manager-$CERT_MANAGER_VERSION/crds" >/dev/null
  for d in "$@"; do
    say "add-on $d"
    kc kustomize "$build/$d" >"$build/$d.yaml"
    kc apply --server-side --force-conflicts -f "$build/$d.yaml" >/dev/null
  done
  rm -rf "$build"
  kc wait --for=condition=Established crd --all --timeout=120s >/dev/null
  for d in "$@"; do
    case "$d" in
      coredns) kc -n kube-system rollout status deploy/coredns --timeout=300s ;;
      local-path) kc -n local-path-storage rollout status deploy/local-path-provisioner --timeout=300s ;;
      metrics-server) kc -n kube-system rollout status deploy/metrics-server --timeout=300s ;;
      keda) kc -n keda rollout status deploy/keda-operator deploy/keda-metrics-apiserver \
              deploy/keda-admission --timeout=300s ;;
      monitoring)
        kc -n monitoring rollout status deploy/prometheus-operator deploy/kube-state-metrics --timeout=300s
        # The operator creates the StatefulSets from the Prometheus and Alertmanager resources.
        wait_until 120 "the operator's StatefulSets" kc -n monitoring get statefulset prometheus-prometheus alertmanager-alertmanager
        kc -n monitoring rollout status statefulset/prometheus-prometheus statefulset/alertmanager-alertmanager --timeout=300s ;;
      vpa) kc -n kube-system rollout status deploy/vpa-recommender --timeout=300s ;;
      rollouts) kc -n argo-rollouts rollout status deploy/argo-rollouts --timeout=300s ;;
    esac >/dev/null
  done
}

# A packet to a Service's address that kube-proxy did not translate (a Service with no ready pod,
# between two of its syncs) leaves the node by its default route. On a real network it is dropped
# there and the caller's connect fails; on this machine the host's network answers every address,
# with an HTTP 404 on a connection that stays open, so a client's pooled connection kept reaching
# it long after the Service had pods again (decision 0054). Rejected on the node instead, as
# kube-proxy itself rejects a Service without endpoints. Translated packets carry a pod's address
# by the time the filter table sees them, so Services that work are not touched.
SERVICE_CIDR=10.96.0.0/16
reject_untranslated_service_traffic() {
  local chain proto
  for chain in FORWARD OUTPUT; do
    for proto in tcp udp; do
      local rule=(-d "$SERVICE_CIDR" -p "$proto" -j REJECT)
      [[ $proto == tcp ]] && rule+=(--reject-with tcp-reset)
      node_exec iptables -C "$chain" "${rule[@]}" 2>/dev/null || node_exec iptables -I "$chain" 1 "${rule[@]}"
    done
  done
}

up_built() {
  tools/cluster/provision.sh
  KUBECTL="$CLUSTER_BIN/kubernetes-$KUBERNETES_VERSION/kubectl"
  if ! running; then
    if docker inspect "$NODE" >/dev/null 2>&1; then
      say "starting the node $NODE"
      docker start "$NODE" >/dev/null
    else
      say "creating the node $NODE (--cpus $CPUS --memory $MEMORY, API on 127.0.0.1:$API_PORT)"
      local mib
      mib="$(numfmt --from=iec "${MEMORY^^}" | awk '{print int($1 / 1048576)}')"
      docker run -d --name "$NODE" --hostname "$NODE" --label alice.cluster=$NAME \
        --cpus "$CPUS" --memory "$MEMORY" --memory-swap "$MEMORY" \
        -e ALICE_NODE_CPUS="$CPUS" -e ALICE_NODE_MEMORY_MIB="$mib" \
        --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
        --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
        --device /dev/kmsg --cgroupns=private --tmpfs /run --tmpfs /tmp \
        -v "$VOLUME:/var/lib" -p "127.0.0.1:$API_PORT:6443" "$NODE_IMAGE" >/dev/null
    fi
    [[ -n "${1:-}" ]] && echo cluster >>"$1"
  fi
  wait_until 180 "the API server" node_exec test -f /var/lib/alice-node/admin.conf
  write_kubeconfig
  wait_until 180 "the API server" kc get --raw /readyz
  wait_until 180 "the node Ready" kc wait --for=condition=Ready "node/$NODE" --timeout=5s
  reject_untranslated_service_traffic
  load_missing "$PAUSE_IMAGE" "${ADDON_IMAGES[@]}"
  addons coredns local-path metrics-server keda monitoring vpa rollouts
  # skaffold loads images into a kind-* context with `kind load docker-image`: our stand-in.
  if ! command -v kind >/dev/null; then ln -sf "$PWD/tools/cluster/kind" "$HOME/.local/bin/kind"; fi
}

up_kind() {
  say "stock kind works here: kind create cluster --name $NAME"
  if ! kind get clusters 2>/dev/null | grep -qx "$NAME"; then
    kind create cluster --name "$NAME"
    [[ -n "${1:-}" ]] && echo cluster >>"$1"
  fi
  kind get kubeconfig --name "$NAME" >"$KUBECONFIG_FILE"
  reject_untranslated_service_traffic
  # kind brings CoreDNS and local-path; the other add-ons run the images provisioned here.
  tools/cluster/provision.sh --addons-only
  kind load docker-image --name "$NAME" "${ADDON_IMAGES[@]}"
  addons metrics-server keda monitoring vpa rollouts
}

case "${1:-}" in
  up)
    scripts/docker-daemon.sh start
    if use_kind; then up_kind "${2:-}"; else up_built "${2:-}"; fi
    say "cluster up: kubectl --context $CONTEXT (kubeconfig: ~/.kube/config, or $KUBECONFIG_FILE)"
    ;;
  down)
    if use_kind; then kind delete cluster --name "$NAME"; exit 0; fi
    if running; then
      say "removing the node's superseded images"
      prune_superseded
    fi
    if docker inspect "$NODE" >/dev/null 2>&1; then
      say "stopping and removing the node $NODE"
      docker stop -t 60 "$NODE" >/dev/null || true
      docker rm -f "$NODE" >/dev/null
    fi
    if [[ "${2:-}" == --purge ]] && docker volume inspect "$VOLUME" >/dev/null 2>&1; then
      say "deleting its volume $VOLUME"
      docker volume rm "$VOLUME" >/dev/null
    fi
    ;;
  status)
    running || { echo "node $NODE is not running"; exit 1; }
    kc get nodes
    ;;
  load) shift; load "$@" ;;
  tag) shift; tag_in_node "$@" ;;
  addons)
    shift
    (($#)) || set -- coredns local-path metrics-server keda monitoring vpa
    addons "$@"
    ;;
  load-offline)
    scripts/offline-images.sh build
    load_missing "${OFFLINE_IMAGES[@]}"
    ;;
  kubeconfig) echo "$KUBECONFIG_FILE" ;;
  *) awk 'NR > 1 { if (!/^#/) exit; print }' "$0" >&2; exit 2 ;;  # the header above
esac
