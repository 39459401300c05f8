#!/bin/bash
# The node's entry point: containerd, etcd, the control plane, kubelet and kube-proxy as processes of
# this one container. If any of them exits, the container exits (and `docker start` brings it back:
# state lives in the /var/lib volume). Logs: /var/log/alice-node/<name>.log in the container.
set -euo pipefail
NODE_NAME="$(hostname)"
NODE_IP="$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"
PKI=/var/lib/alice-node/pki
LOGS=/var/log/alice-node
export NODE_NAME PKI
mkdir -p "$LOGS" /var/lib/kubelet /var/lib/etcd

# Docker mounts the cgroup hierarchies read-only; kubelet and runc create cgroups in them.
for d in /sys/fs/cgroup/*/; do mount -o remount,rw,bind "$d" "$d" 2>/dev/null || true; done
mount --make-rshared / 2>/dev/null || true   # volume mount propagation, as kind's node does
[[ -s /etc/machine-id ]] || tr -d - </proc/sys/kernel/random/uuid >/etc/machine-id
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
# shellcheck source=tools/cluster/node/pki.sh  # installed there by tools/cluster/node/Dockerfile
[[ -f "$PKI/ca.crt" ]] || source /usr/local/lib/alice-node/pki.sh

# The node reports the host's CPUs and memory as capacity; reserve the difference to the container's
# limits (docker run --cpus/--memory, passed as ALICE_NODE_CPUS/ALICE_NODE_MEMORY_MIB) for the system.
host_mcpu=$(($(nproc --all) * 1000))
host_mib=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024))
node_mcpu=$(awk -v c="${ALICE_NODE_CPUS:-0}" 'BEGIN {print int(c * 1000)}')
node_mib=${ALICE_NODE_MEMORY_MIB:-0}
reserved_mcpu=$((node_mcpu > 0 && node_mcpu < host_mcpu ? host_mcpu - node_mcpu : 100))
reserved_mib=$((node_mib > 0 && node_mib < host_mib ? host_mib - node_mib : 256))

cat >/var/lib/kubelet/config.yaml <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
# The disk is shared with everything else on the machine: never evict for it, never collect images
# (nothing could pull them back without a registry).
evictionHard: {memory.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
oomScoreAdj: 0
systemReserved: {cpu: ${reserved_mcpu}m, memory: ${reserved_mib}Mi}
serializeImagePulls: false
protectKernelDefaults: false
YAML
cat >/var/lib/alice-node/kube-proxy.yaml <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.conf}
mode: iptables
clusterCIDR: 10.244.0.0/16
hostnameOverride: $NODE_NAME
conntrack: {maxPerCore: 0}
oomScoreAdj: 0
YAML

pids=()
run() {  # <name> <command...>: in the background, logged
  local name=$1
  shift
  echo "$(date -u +%FT%TZ) starting $name" >>"$LOGS/$name.log"
  "$@" >>"$LOGS/$name.log" 2>&1 &
  pids+=($!)
}
wait_for() {  # <what> <command...>
  local what=$1
  shift
  for _ in $(seq 240); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "$what did not come up" >&2
  exit 1
}
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait || true; exit "${1:-0}"; }
trap stop TERM INT

run containerd containerd
# A throwaway development cluster on a shared, busy disk: etcd without fsync keeps the API server
# responsive under load (a crash of the host can lose the last writes; `make cluster-down PURGE=1`).
run etcd etcd --name alice --data-dir /var/lib/etcd --unsafe-no-fsync \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster alice=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
wait_for etcd bash -c '</dev/tcp/127.0.0.1/2379'
run kube-apiserver kube-apiserver --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 \
  --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=10.96.0.0/16 \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --enable-aggregator-routing=true
wait_for kube-apiserver kubectl --kubeconfig "$PKI/admin.conf" get --raw /readyz
cp "$PKI/admin.conf" /var/lib/alice-node/admin.conf
run kube-controller-manager kube-controller-manager --kubeconfig="$PKI/controller-manager.conf" \
  --authentication-kubeconfig="$PKI/controller-manager.conf" --authorization-kubeconfig="$PKI/controller-manager.conf" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --root-ca-file="$PKI/ca.crt" \
  --service-account-private-key-file="$PKI/sa.key" --use-service-account-credentials=true \
  --service-cluster-ip-range=10.96.0.0/16 --leader-elect=false
run kube-scheduler kube-scheduler --kubeconfig="$PKI/scheduler.conf" \
  --authentication-kubeconfig="$PKI/scheduler.conf" --authorization-kubeconfig="$PKI/scheduler.conf" --leader-elect=false
wait_for containerd ctr version
run kubelet kubelet --config=/var/lib/kubelet/config.yaml --kubeconfig="$PKI/kubelet.conf" \
  --container-runtime-endpoint=unix:///run/containerd/containerd.sock --node-ip="$NODE_IP" \
  --hostname-override="$NODE_NAME"
run kube-proxy kube-proxy --config=/var/lib/alice-node/kube-proxy.yaml
echo "node $NODE_NAME up ($NODE_IP); logs in $LOGS"
wait -n "${pids[@]}" || true
echo "a node process exited; stopping the node" >&2
for f in "$LOGS"/*.log; do echo "== $f"; tail -5 "$f"; done >&2
stop 1
