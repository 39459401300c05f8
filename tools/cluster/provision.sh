#!/usr/bin/env bash
# Provisions everything `tools/cluster/cluster.sh up` needs, once, cached under $ALICE_CACHE_DIR/cluster:
# binaries built from their Go modules (Kubernetes, etcd, CoreDNS, local-path-provisioner,
# metrics-server, KEDA, the Prometheus Operator, Prometheus, Alertmanager, kube-state-metrics, the VPA
# recommender, Argo Rollouts), the pause binary, the add-ons' upstream manifests and CRDs copied out of the
# module zips; then the node image and the add-on images in the local Docker daemon.
# Idempotent: a second run checks and returns in seconds. Go build caches are private and deleted.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
source scripts/lib/go-module-build.sh
source tools/cluster/versions.sh

say() { echo "    $(date +%H:%M:%S) $*"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GO_BUILD_CACHE="$work/gocache"   # shared by this run's builds, deleted with $work
mkdir -p "$CLUSTER_BIN" "$CLUSTER_CACHE/manifests"
# One provisioning at a time (two `make cluster-up` would otherwise build everything twice).
exec 9>"$CLUSTER_CACHE/.provision.lock"
flock 9

# Manifests and CRDs, copied out of the module zips (the Go module cache keeps the zips).
manifests="$CLUSTER_CACHE/manifests"
copy_out() {  # <module> <version> <dest dir> <paths...>
  local module=$1 version=$2 dest="$manifests/$3" dir
  shift 3
  [[ -d "$dest" ]] && return 0
  dir="$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  mkdir -p "$dest.new"
  for p in "$@"; do cp -r "$dir/$p" "$dest.new/"; done
  chmod -R u+w "$dest.new" && mv "$dest.new" "$dest"
}
manifests() {
  copy_out github.com/rancher/local-path-provisioner "$LOCAL_PATH_VERSION" "local-path-$LOCAL_PATH_VERSION" deploy/local-path-storage.yaml
  copy_out sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION" "metrics-server-$METRICS_SERVER_VERSION" manifests/base
  copy_out github.com/kedacore/keda/v2 "$KEDA_VERSION" "keda-$KEDA_VERSION" config
  copy_out github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
    "prometheus-operator-$PROMETHEUS_OPERATOR_VERSION" example/prometheus-operator-crd
  copy_out github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
    "prometheus-operator-rbac-$PROMETHEUS_OPERATOR_VERSION" example/rbac/prometheus-operator example/rbac/prometheus
  copy_out k8s.io/kube-state-metrics/v2 "$KUBE_STATE_METRICS_VERSION" "kube-state-metrics-$KUBE_STATE_METRICS_VERSION" examples/standard
  copy_out github.com/cert-manager/cert-manager "$CERT_MANAGER_VERSION" "cert-manager-$CERT_MANAGER_VERSION" deploy/crds
  copy_out k8s.io/autoscaler/vertical-pod-autoscaler "$VPA_VERSION" "vpa-$VPA_VERSION" \
    deploy/vpa-v1-crd-gen.yaml deploy/vpa-rbac.yaml deploy/recommender-deployment.yaml
  GOTOOLCHAIN="$ARGO_ROLLOUTS_GO" copy_out github.com/argoproj/argo-rollouts "$ARGO_ROLLOUTS_VERSION" \
    "argo-rollouts-$ARGO_ROLLOUTS_VERSION" manifests/crds manifests/base manifests/role manifests/cluster-install
}
if [[ "${1:-}" == --manifests-only ]]; then manifests; exit 0; fi
manifests
# --addons-only (stock kind): no node of our own, so no Kubernetes, etcd, pause or node image.
node=yes
[[ "${1:-}" == --addons-only ]] && node=no

[[ $node == no ]] || tools/cluster/build-kubernetes.sh

etcd_bin="$CLUSTER_BIN/etcd-$ETCD_VERSION"
if [[ $node == yes && ! -x "$etcd_bin" ]]; then
  say "etcd $ETCD_VERSION (about 1-3 min)"
  # etcd's server module has no main package of its own: two lines call its entry point.
  mkdir "$work/etcd"
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >"$work/etcd/main.go"
  (cd "$work/etcd" && go mod init alice.local/etcd >/dev/null 2>&1 \
    && GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null \
    && GOFLAGS=-mod=mod GOCACHE="$GO_BUILD_CACHE" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$etcd_bin.new" .)
  mv "$etcd_bin.new" "$etcd_bin"
fi

pause_bin="$CLUSTER_BIN/pause-$KUBERNETES_VERSION"
if [[ $node == yes && ! -x "$pause_bin" ]]; then
  say "pause (C source from the kubernetes module, static)"
  command -v gcc >/dev/null || { echo "gcc is needed for the pause binary (apt-get install gcc libc6-dev)" >&2; exit 1; }
  module_source k8s.io/kubernetes "$KUBERNETES_VERSION" "$work/k8s"
  gcc -Os -static -DVERSION="$KUBERNETES_VERSION" -o "$pause_bin.new" "$work/k8s/build/pause/linux/pause.c"
  strip "$pause_bin.new" && mv "$pause_bin.new" "$pause_bin"
  rm -rf "$work/k8s"
fi

addon() {  # <name> <module> <version> <package> [ldflags]
  local out="$CLUSTER_BIN/$1-$3"
  [[ -x "$out" ]] && return 0
  say "$1 $3 from $2 (a few minutes)"
  # -mod=mod: local-path-provisioner's zip carries a partial vendor/ that would otherwise be used.
  GOFLAGS=-mod=mod build_from_module "$2" "$3" "$4" "$out" "${5:-}"
}
addon coredns github.com/coredns/coredns "$COREDNS_VERSION" .
addon local-path-provisioner github.com/rancher/local-path-provisioner "$LOCAL_PATH_VERSION" .
addon metrics-server sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION" ./cmd/metrics-server
addon vpa-recommender k8s.io/autoscaler/vertical-pod-autoscaler "$VPA_VERSION" ./pkg/recommender
GOTOOLCHAIN="$ARGO_ROLLOUTS_GO" addon argo-rollouts github.com/argoproj/argo-rollouts "$ARGO_ROLLOUTS_VERSION" \
  ./cmd/rollouts-controller "-X github.com/argoproj/argo-rollouts/utils/version.version=$ARGO_ROLLOUTS_VERSION"
keda="$CLUSTER_BIN/keda-$KEDA_VERSION"
if [[ ! -x "$keda/keda" ]]; then
  say "KEDA $KEDA_VERSION: operator, metrics API server, admission webhooks (the longest add-on, ~5-10 min)"
  module_source github.com/kedacore/keda/v2 "$KEDA_VERSION" "$work/keda"
  mkdir -p "$work/keda-bin"
  (cd "$work/keda" && for p in operator:keda adapter:keda-adapter webhooks:keda-admission-webhooks; do
    say "  keda ./cmd/${p%%:*}"
    GOCACHE="$GO_BUILD_CACHE" CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION" -o "$work/keda-bin/${p#*:}" "./cmd/${p%%:*}"
  done)
  rm -rf "$keda" && mv "$work/keda-bin" "$keda"
fi

# Monitoring: the Prometheus Operator with the config reloader it puts beside each Prometheus, Prometheus
# (3.x modules are tagged v0.3MM.P: v3.16.0 is v0.316.0; no web UI assets, the API is what is used),
# Alertmanager and kube-state-metrics. Prometheus has a go.work that names folders its zip leaves out.
version_ldflags() { echo "-X github.com/prometheus/common/version.Version=${1#v}"; }
operator="$CLUSTER_BIN/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
if [[ ! -x "$operator/prometheus-config-reloader" ]]; then
  say "Prometheus Operator $PROMETHEUS_OPERATOR_VERSION: operator, config reloader (~3-6 min)"
  module_source github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" "$work/prometheus-operator"
  mkdir -p "$work/prometheus-operator-bin"
  # Its API and client are nested modules, which the zip leaves out: the published ones of the same
  # version (go.mod requires exactly those) instead of the replace directives pointing into ./pkg.
  (cd "$work/prometheus-operator" \
    && go mod edit -dropreplace=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring \
      -dropreplace=github.com/prometheus-operator/prometheus-operator/pkg/client \
    && for p in operator prometheus-config-reloader; do
    GOFLAGS=-mod=mod GOCACHE="$GO_BUILD_CACHE" CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w $(version_ldflags "$PROMETHEUS_OPERATOR_VERSION")" -o "$work/prometheus-operator-bin/$p" "./cmd/$p"
  done)
  rm -rf "$operator" && mv "$work/prometheus-operator-bin" "$operator"
fi
prometheus_minor="${PROMETHEUS_VERSION#v3.}"
prometheus_module_version="v0.$((300 + ${prometheus_minor%%.*})).${prometheus_minor#*.}"
GOWORK=off addon prometheus github.com/prometheus/prometheus "$prometheus_module_version" ./cmd/prometheus \
  "$(version_ldflags "$PROMETHEUS_VERSION")"
# promtool: the rules' unit tests (tests/cluster/test_alert_rules.py).
GOWORK=off addon promtool github.com/prometheus/prometheus "$prometheus_module_version" ./cmd/promtool \
  "$(version_ldflags "$PROMETHEUS_VERSION")"
addon kube-state-metrics k8s.io/kube-state-metrics/v2 "$KUBE_STATE_METRICS_VERSION" . \
  "$(version_ldflags "$KUBE_STATE_METRICS_VERSION")"
alertmanager="$CLUSTER_BIN/alertmanager-$ALERTMANAGER_VERSION"
if [[ ! -x "$alertmanager" ]]; then
  say "Alertmanager $ALERTMANAGER_VERSION (a few minutes)"
  # Its web UI is built with npm into ui/app/dist, which the module zip leaves out but go:embed
  # requires: a one-line page stands in (the API, /api/v2, is what is used).
  module_source github.com/prometheus/alertmanager "$ALERTMANAGER_VERSION" "$work/alertmanager"
  for ui in elm mantine; do
    mkdir -p "$work/alertmanager/ui/app/dist/$ui"
    echo '<p>Web UI not built here: use the API, /api/v2/alerts</p>' >"$work/alertmanager/ui/app/dist/$ui/index.html"
  done
  (cd "$work/alertmanager" && GOCACHE="$GO_BUILD_CACHE" CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w $(version_ldflags "$ALERTMANAGER_VERSION")" -o "$alertmanager.new" ./cmd/alertmanager)
  mv "$alertmanager.new" "$alertmanager"
  rm -rf "$work/alertmanager"
fi

# Images in the local Docker daemon: the node (Debian with its containerd, runc and CNI plugins, plus
# the binaries above) and one FROM-scratch image per add-on binary.
have() { docker image inspect "$1" >/dev/null 2>&1; }
scripts/docker-daemon.sh start
if [[ $node == yes ]] && ! have "$NODE_IMAGE"; then
  have alice-offline/debian:bookworm || scripts/offline-images.sh build
  say "node image $NODE_IMAGE"
  ctx="$work/node"
  cp -r tools/cluster/node "$ctx"
  mkdir "$ctx/bin"
  cp "$CLUSTER_BIN/kubernetes-$KUBERNETES_VERSION"/* "$etcd_bin" "$ctx/bin/"
  mv "$ctx/bin/etcd-$ETCD_VERSION" "$ctx/bin/etcd"
  docker build -q --network host --build-arg DEBIAN_IMAGE=alice-offline/debian:bookworm -t "$NODE_IMAGE" "$ctx" >/dev/null
fi
scratch_image() {  # <tag> <binary>...
  have "$1" && return 0
  say "image $1"
  local ctx="$work/img-${1//[\/:]/_}"
  mkdir -p "$ctx"
  local b copies=""
  local dir="${SCRATCH_BIN_DIR:-}"  # /bin: where the Prometheus Operator runs its images' binaries from
  for b in "${@:2}"; do cp "$b" "$ctx/"; copies+="COPY $(basename "$b") $dir/$(basename "$b")"$'\n'; done
  printf 'FROM scratch\n%sUSER 65532:65532\nENTRYPOINT ["%s/%s"]\n' "$copies" "$dir" "$(basename "$2")" >"$ctx/Dockerfile"
  docker build -q -t "$1" "$ctx" >/dev/null
}
if [[ $node == yes ]]; then
  mkdir -p "$work/pause" && cp "$pause_bin" "$work/pause/pause"
  scratch_image "$PAUSE_IMAGE" "$work/pause/pause"
fi
mkdir -p "$work/renamed"
for pair in "coredns:$COREDNS_VERSION" "local-path-provisioner:$LOCAL_PATH_VERSION" "metrics-server:$METRICS_SERVER_VERSION" \
  "vpa-recommender:$VPA_VERSION" "argo-rollouts:$ARGO_ROLLOUTS_VERSION"; do
  cp "$CLUSTER_BIN/${pair%%:*}-${pair#*:}" "$work/renamed/${pair%%:*}"
  scratch_image "alice-cluster/$pair" "$work/renamed/${pair%%:*}"
done
for b in keda keda-adapter keda-admission-webhooks; do
  scratch_image "alice-cluster/$b:$KEDA_VERSION" "$keda/$b"
done
scratch_image "alice-cluster/prometheus-operator:$PROMETHEUS_OPERATOR_VERSION" "$operator/operator"
SCRATCH_BIN_DIR=/bin scratch_image "alice-cluster/prometheus-config-reloader:$PROMETHEUS_OPERATOR_VERSION" \
  "$operator/prometheus-config-reloader"
cp "$CLUSTER_BIN/prometheus-$prometheus_module_version" "$work/renamed/prometheus"
SCRATCH_BIN_DIR=/bin scratch_image "alice-cluster/prometheus:$PROMETHEUS_VERSION" "$work/renamed/prometheus"
cp "$CLUSTER_BIN/alertmanager-$ALERTMANAGER_VERSION" "$work/renamed/alertmanager"
SCRATCH_BIN_DIR=/bin scratch_image "alice-cluster/alertmanager:$ALERTMANAGER_VERSION" "$work/renamed/alertmanager"
cp "$CLUSTER_BIN/kube-state-metrics-$KUBE_STATE_METRICS_VERSION" "$work/renamed/kube-state-metrics"
scratch_image "alice-cluster/kube-state-metrics:$KUBE_STATE_METRICS_VERSION" "$work/renamed/kube-state-metrics"
say "cluster provisioned (binaries in $CLUSTER_BIN, images alice-cluster/*)"
