#!/usr/bin/env bash
# Builds the Kubernetes binaries the node runs (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kubectl) from the k8s.io/kubernetes module, into
# $CLUSTER_BIN/kubernetes-$KUBERNETES_VERSION/. The Go build cache is private and deleted after.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
source tools/cluster/versions.sh

out="$CLUSTER_BIN/kubernetes-$KUBERNETES_VERSION"
[[ -x "$out/kubelet" ]] && exit 0
command -v go >/dev/null || { echo "Go 1.24+ is needed to build Kubernetes" >&2; exit 1; }
echo "==> Kubernetes $KUBERNETES_VERSION from the k8s.io/kubernetes module (first run only, 10-25 min)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
# k8s.io/kubernetes points its staging modules (k8s.io/api, client-go, ...) at ./staging with replace
# directives, which a dependent module ignores: a wrapper module pins each to its published v0.x tag.
gomod="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
staging_version="v0.${KUBERNETES_VERSION#v1.}"
{
  echo "module alice.local/kubernetes-build"
  echo
  echo "go $(awk '$1 == "go" {print $2; exit}' "$gomod")"
  echo
  echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
  echo
  awk -v v="$staging_version" '$2 == "=>" && $3 ~ /^\.\/staging\// {print "replace " $1 " => " $1 " " v}' "$gomod"
} >"$work/src/go.mod"
[[ $(grep -c '^replace' "$work/src/go.mod") -gt 20 ]] || { echo "no staging replaces found in $gomod" >&2; exit 1; }

pkgs=(cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy cmd/kubectl)
minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
cd "$work/src"
GOFLAGS=-mod=mod go mod download k8s.io/kubernetes
mkdir "$work/bin"
for p in "${pkgs[@]}"; do
  echo "    $(date +%H:%M:%S) building ${p#cmd/} ..."
  GOFLAGS=-mod=mod GOCACHE="$work/gocache" CGO_ENABLED=0 \
    go build -trimpath -ldflags "$ldflags" -o "$work/bin/" "k8s.io/kubernetes/$p"
done
"$work/bin/kubectl" version --client | grep -q "$KUBERNETES_VERSION" || { echo "version ldflags did not apply" >&2; exit 1; }
mkdir -p "$CLUSTER_BIN"
rm -rf "$out.new" && mv "$work/bin" "$out.new" && mv "$out.new" "$out"
echo "    $(date +%H:%M:%S) Kubernetes binaries in $out"
