#!/usr/bin/env bash
# A worker joins with the bootstrap token the Vagrantfile gave the control plane. The CA is
# taken from the cluster-info the token signs (kubeadm's token-based discovery without a CA
# pin): acceptable on the host-only network of a throw-away lab, never in production.
#   worker.sh CONTROL_PLANE_IP TOKEN
set -euo pipefail

control_plane=$1
token=$2

if [ ! -f /etc/kubernetes/kubelet.conf ]; then
  for _ in $(seq 1 60); do          # the control plane may still be starting
    if kubeadm join "${control_plane}:6443" --token="${token}" \
         --discovery-token-unsafe-skip-ca-verification --node-name="$(hostname)"; then
      exit 0
    fi
    kubeadm reset -f >/dev/null 2>&1 || true
    sleep 10
  done
  echo "worker $(hostname): could not join ${control_plane}:6443" >&2
  exit 1
fi
