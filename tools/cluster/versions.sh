# Sourced: the pinned versions of everything tools/cluster provisions, and where the binaries go.
KUBERNETES_VERSION=v1.34.4   # the newest whose kubelet still runs on cgroup v1 (failCgroupV1: false)
ETCD_VERSION=v3.6.5
COREDNS_VERSION=v1.12.1
LOCAL_PATH_VERSION=v0.0.30
METRICS_SERVER_VERSION=v0.8.0
KEDA_VERSION=v2.21.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0   # the operator, its config reloader and its CRDs
PROMETHEUS_VERSION=v3.16.0   # module github.com/prometheus/prometheus v0.316.0 (3.x is tagged v0.3MM.P)
ALERTMANAGER_VERSION=v0.35.0
KUBE_STATE_METRICS_VERSION=v2.20.0   # kube_pod_* and kube_deployment_* series the alerts and dashboard use
CERT_MANAGER_VERSION=v1.21.2
VPA_VERSION=v1.8.1   # k8s.io/autoscaler/vertical-pod-autoscaler: the recommender and its CRDs
CLUSTER_CACHE="$ALICE_CACHE_DIR/cluster"
CLUSTER_BIN="$CLUSTER_CACHE/bin"
NODE_IMAGE="alice-cluster/node:$KUBERNETES_VERSION"
PAUSE_IMAGE="alice-cluster/pause:$KUBERNETES_VERSION"
