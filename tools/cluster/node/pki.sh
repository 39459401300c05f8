#!/bin/bash
# Sourced by node.sh on the node's first start: a cluster CA, a front-proxy CA (the aggregation layer
# metrics-server and KEDA use), the service-account key pair, and one client certificate plus
# kubeconfig per component, all under $PKI. Later starts reuse them.
set -euo pipefail

ca() {  # <name> <CN>
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" 2>/dev/null
}
cert() {  # <name> <ca> <subject> [subjectAltName]
  local ext="$PKI/$1.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' \
    "$([[ -n ${4:-} ]] && echo serverAuth,clientAuth || echo clientAuth)" >"$ext"
  [[ -n ${4:-} ]] && echo "subjectAltName=$4" >>"$ext"
  openssl req -newkey rsa:2048 -nodes -subj "$3" -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$PKI/$1.crt" 2>/dev/null
  rm -f "$PKI/$1.csr" "$ext"
}
kubeconfig() {  # <name> (client certificate $PKI/<name>.crt)
  local conf="$PKI/$1.conf"
  kubectl config set-cluster alice --server=https://127.0.0.1:6443 --certificate-authority="$PKI/ca.crt" \
    --embed-certs --kubeconfig="$conf" >/dev/null
  kubectl config set-credentials "$1" --client-certificate="$PKI/$1.crt" --client-key="$PKI/$1.key" \
    --embed-certs --kubeconfig="$conf" >/dev/null
  kubectl config set-context default --cluster=alice --user="$1" --kubeconfig="$conf" >/dev/null
  kubectl config use-context default --kubeconfig="$conf" >/dev/null
}

mkdir -p "$PKI" && chmod 700 "$PKI"
ca ca kubernetes
ca front-proxy-ca front-proxy-ca
cert apiserver ca /CN=kube-apiserver \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$NODE_NAME,IP:10.96.0.1,IP:127.0.0.1"
cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert front-proxy-client front-proxy-ca /CN=front-proxy-client
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
cert admin ca "/O=system:masters/CN=kubernetes-admin"
cert controller-manager ca /CN=system:kube-controller-manager
cert scheduler ca /CN=system:kube-scheduler
cert kubelet ca "/O=system:nodes/CN=system:node:$NODE_NAME"
cert kube-proxy ca /CN=system:kube-proxy
for c in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig "$c"; done
