# Sourced: the pinned versions of everything tools/cluster provisions, and where the binaries go.
KUBERNETES_VERSION=v1.34.4   # the newest whose kubelet still runs on cgroup v1 (failCgroupV1: false)
ETCD_VERSION=v3.6.5
COREDNS_VERSION=v1.12.1
LOCAL_PATH_VERSION=v0.0.30
METRICS_SERVER_VERSION=v0.8.0
KEDA_VERSION=v2.21.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0
CERT_MANAGER_VERSION=v1.21.2
CLUSTER_CACHE="$ALICE_CACHE_DIR/cluster"
CLUSTER_BIN="$CLUSTER_CACHE/bin"
NODE_IMAGE="alice-cluster/node:$KUBERNETES_VERSION"
PAUSE_IMAGE="alice-cluster/pause:$KUBERNETES_VERSION"
