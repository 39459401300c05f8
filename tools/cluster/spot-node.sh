#!/usr/bin/env bash
# shellcheck disable=SC2016  # START, STOP and the loaders are scripts run in the node: their $ expand there
# A second node, alice-spot, that stands for the plan's spot pool (docs/operations.md, "The spot pool"):
# its own kubelet and its own containerd, labelled and tainted as GKE labels and taints spot nodes
# (cloud.google.com/gke-spot=true, NoSchedule). They run as processes of the existing node container,
# so the spot node shares its network namespace: pod IPs come from the same bridge and IP allocator,
# and no route between two containers is needed (with a second container, pods of one node could not
# reach the other's). Everything else is a node of its own: registration, scheduling, taints, the pods'
# containers, cgroups (/alice-spot), images, volumes and logs.
#   tools/cluster/spot-node.sh up            start it (idempotent) and wait until it is Ready
#   tools/cluster/spot-node.sh load IMAGE... copy images from the control-plane node's runtime into it
#   tools/cluster/spot-node.sh down          drain it, stop it, delete the Node and its state
# A restart of the node container ends it (it is a test and demonstration aid; `up` starts it again).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
source tools/cluster/versions.sh

NODE=alice-control-plane
SPOT=alice-spot
CONTEXT=kind-alice
KUBECTL="$CLUSTER_BIN/kubernetes-$KUBERNETES_VERSION/kubectl"
kc() { "$KUBECTL" --kubeconfig "$CLUSTER_CACHE/kubeconfig" --context "$CONTEXT" "$@"; }
in_node() { docker exec -i "$NODE" bash -s -- "$@"; }
say() { echo "==> $*"; }

# Runs inside the node container. Paths of the spot node's own: /var/lib/{kubelet,containerd}-spot,
# /run/containerd-spot, /run/alice-spot (pid files), /var/log/alice-node/spot-*.log.
START='
set -euo pipefail
PKI=/var/lib/alice-node/pki LOGS=/var/log/alice-node RUN=/run/alice-spot SOCK=/run/containerd-spot/containerd.sock
alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
mkdir -p "$RUN" /var/lib/kubelet-spot /etc/containerd-spot
for d in /sys/fs/cgroup/*/; do mkdir -p "$d/alice-spot"; done
if ! alive containerd; then
  { echo "version = 2"; echo "root = \"/var/lib/containerd-spot\""; echo "state = \"/run/containerd-spot\""
    echo "[grpc]"; echo "  address = \"$SOCK\""; sed 1d /etc/containerd/config.toml; } >/etc/containerd-spot/config.toml
  setsid containerd --config /etc/containerd-spot/config.toml </dev/null >>"$LOGS/spot-containerd.log" 2>&1 &
  echo $! >"$RUN/containerd.pid"
  for _ in $(seq 60); do ctr --address "$SOCK" version >/dev/null 2>&1 && break; sleep 0.5; done
fi
# The sandbox (pause) image, from the control-plane runtime.
pause=$(sed -n "s/^ *sandbox_image = \"\(.*\)\"/\1/p" /etc/containerd/config.toml)
ctr --address "$SOCK" -n k8s.io images ls -q | grep -qx "$pause" \
  || ctr -n k8s.io images export - "$pause" | ctr --address "$SOCK" -n k8s.io images import - >/dev/null
if [[ ! -f "$PKI/kubelet-spot.conf" ]]; then
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:nodes/CN=system:node:'"$SPOT"'" \
    -keyout "$PKI/kubelet-spot.key" -out "$PKI/kubelet-spot.csr" 2>/dev/null
  printf "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n" >"$PKI/kubelet-spot.ext"
  openssl x509 -req -in "$PKI/kubelet-spot.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/kubelet-spot.ext" -out "$PKI/kubelet-spot.crt" 2>/dev/null
  rm -f "$PKI/kubelet-spot.csr" "$PKI/kubelet-spot.ext"
  conf="$PKI/kubelet-spot.conf.new"
  kubectl config set-cluster alice --server=https://127.0.0.1:6443 --certificate-authority="$PKI/ca.crt" --embed-certs --kubeconfig="$conf" >/dev/null
  kubectl config set-credentials kubelet-spot --client-certificate="$PKI/kubelet-spot.crt" --client-key="$PKI/kubelet-spot.key" --embed-certs --kubeconfig="$conf" >/dev/null
  kubectl config set-context default --cluster=alice --user=kubelet-spot --kubeconfig="$conf" >/dev/null
  kubectl config use-context default --kubeconfig="$conf" >/dev/null
  mv "$conf" "$PKI/kubelet-spot.conf"
fi
if ! alive kubelet; then
  # The control-plane kubelet'"'"'s configuration, on other ports and under its own cgroup root.
  { cat /var/lib/kubelet/config.yaml; echo "port: 10260"; echo "healthzPort: 10268"; echo "readOnlyPort: 0"
    echo "cgroupRoot: /alice-spot"; echo "podLogsDir: /var/log/pods-spot"; } >/var/lib/kubelet-spot/config.yaml
  node_ip=$(ip -4 -o addr show eth0 | awk "{print \$4}" | cut -d/ -f1)
  setsid kubelet --config=/var/lib/kubelet-spot/config.yaml --root-dir=/var/lib/kubelet-spot \
    --kubeconfig="$PKI/kubelet-spot.conf" --container-runtime-endpoint="unix://$SOCK" \
    --node-ip="$node_ip" --hostname-override='"$SPOT"' \
    --node-labels=cloud.google.com/gke-spot=true,alice.dev/pool=spot \
    --register-with-taints=cloud.google.com/gke-spot=true:NoSchedule </dev/null >>"$LOGS/spot-kubelet.log" 2>&1 &
  echo $! >"$RUN/kubelet.pid"
fi
'

# Inside the node container: stop the kubelet, then every container the spot runtime still runs
# (their shims), then the runtime; delete the spot node's state.
STOP='
set -uo pipefail
RUN=/run/alice-spot SOCK=/run/containerd-spot/containerd.sock
stop() {  # <pid>...: TERM, then KILL after 20 s
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 40); do
    local left=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && left=1; done
    ((left)) || return 0
    sleep 0.5
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null; done
}
[[ -f "$RUN/kubelet.pid" ]] && stop "$(cat "$RUN/kubelet.pid")"
if [[ -S "$SOCK" ]]; then
  for id in $(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
    ctr --address "$SOCK" -n k8s.io tasks kill -s KILL "$id" >/dev/null 2>&1
  done
  sleep 1
fi
shims=$(pgrep -f "containerd-shim.*-address $SOCK" || true)
[[ -n "$shims" ]] && stop $shims
[[ -f "$RUN/containerd.pid" ]] && stop "$(cat "$RUN/containerd.pid")"
for m in $(awk "{print \$2}" /proc/mounts | grep -E "^/(var/lib/kubelet-spot|run/containerd-spot|var/lib/containerd-spot)" | sort -r); do
  umount -l "$m" 2>/dev/null
done
rm -rf "$RUN" /run/containerd-spot /var/lib/kubelet-spot /var/lib/containerd-spot /var/log/pods-spot
for d in /sys/fs/cgroup/*/alice-spot; do
  [[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
done
true
'

full_ref() {  # as tools/cluster/cluster.sh names images in containerd
  local ref=$1 first=${1%%/*}
  [[ "$ref" == */* ]] || ref="library/$ref"
  [[ "$1" == */* && ( "$first" == *.* || "$first" == *:* || "$first" == localhost ) ]] || ref="docker.io/$ref"
  echo "$ref"
}

case "${1:-}" in
  up)
    say "starting the spot node $SPOT (kubelet and containerd of its own, in $NODE)"
    in_node <<<"$START"
    for _ in $(seq 90); do
      kc wait --for=condition=Ready "node/$SPOT" --timeout=2s >/dev/null 2>&1 && break
      sleep 1
    done
    kc wait --for=condition=Ready "node/$SPOT" --timeout=5s >/dev/null || {
      docker exec "$NODE" tail -n 20 /var/log/alice-node/spot-kubelet.log >&2
      exit 1
    }
    kc get node "$SPOT" -L cloud.google.com/gke-spot
    ;;
  load)
    shift
    for img in "$@"; do
      ref="$(full_ref "$img")"
      echo "    $img into $SPOT"
      in_node "$ref" <<<'
        set -euo pipefail
        SOCK=/run/containerd-spot/containerd.sock
        ctr --address "$SOCK" -n k8s.io images ls -q | grep -qx "$1" && exit 0
        ctr -n k8s.io images export - "$1" | ctr --address "$SOCK" -n k8s.io images import - >/dev/null'
    done
    ;;
  down)
    if kc get node "$SPOT" >/dev/null 2>&1; then
      say "draining $SPOT (deleting its pods: a single replica's PodDisruptionBudget would block evictions)"
      kc drain "$SPOT" --ignore-daemonsets --delete-emptydir-data --force --disable-eviction --timeout=120s >/dev/null || true
    fi
    say "stopping $SPOT's kubelet and containerd"
    in_node <<<"$STOP"
    kc delete node "$SPOT" --ignore-not-found >/dev/null
    ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
