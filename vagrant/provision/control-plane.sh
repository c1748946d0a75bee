#!/usr/bin/env bash
# The control plane: kubeadm init (stacked etcd) with a bootstrap token the workers know
# beforehand, then the flannel CNI. Runs once: a second `vagrant provision` leaves it be.
#   control-plane.sh NODE_IP TOKEN POD_CIDR FLANNEL_VERSION
set -euo pipefail

node_ip=$1
token=$2
pod_cidr=$3
flannel_version=$4

if [ ! -f /etc/kubernetes/admin.conf ]; then
  kubeadm init --apiserver-advertise-address="${node_ip}" --pod-network-cidr="${pod_cidr}" \
    --token="${token}" --token-ttl=24h --node-name="$(hostname)"
fi

install -d -o vagrant -g vagrant /home/vagrant/.kube
install -m 0600 -o vagrant -g vagrant /etc/kubernetes/admin.conf /home/vagrant/.kube/config
export KUBECONFIG=/etc/kubernetes/admin.conf

# flannel on the private network's interface (the one that reaches this node's address)
curl -fsSL "https://github.com/flannel-io/flannel/releases/download/${flannel_version}/kube-flannel.yml" \
  | sed "s|- --kube-subnet-mgr|- --kube-subnet-mgr\n        - --iface-can-reach=${node_ip}|" \
  | kubectl apply -f -
