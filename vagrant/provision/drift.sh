#!/usr/bin/env bash
# DRIFT=1: make this worker the outlier a first scan should find. Its kubelet kubeconfig
# becomes world-writable and its kubelet accepts anonymous requests (a command-line flag
# that overrides the kubeadm config file's authentication.anonymous.enabled: false).
set -euo pipefail

chmod 0666 /etc/kubernetes/kubelet.conf
if ! grep -q -- '--anonymous-auth=true' /etc/default/kubelet; then
  sed -i 's/^KUBELET_EXTRA_ARGS=\(.*\)$/KUBELET_EXTRA_ARGS=\1 --anonymous-auth=true/' /etc/default/kubelet
fi
systemctl restart kubelet
