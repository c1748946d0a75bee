"""Per-node benchmark choice: version sources, kube-bench's table, and saying why."""

from __future__ import annotations

import dataclasses

import pytest

from fleetbench.detect import choose

from .factsbuilder import host_facts


def facts(catalog, versions=None, **case):
    return dataclasses.replace(host_facts(catalog, case), versions=versions or {})


@pytest.mark.parametrize("text,bench", [
    ("Kubernetes v1.27.4", "cis-1.9"), ("Kubernetes v1.28.0", "cis-1.10"), ("Kubernetes v1.29.1", "cis-1.11"),
    ("Kubernetes v1.31.9", "cis-1.11"), ("Kubernetes v1.32.0", "cis-1.12"), ("Kubernetes v1.34.2", "cis-1.12"),
])
def test_kube_benchs_version_table(catalog, text, bench):
    d = choose(catalog, facts(catalog, {"kubelet": text}))
    assert d.benchmark == bench and d.version_source == "kubelet --version"


def test_newer_than_every_benchmark_gets_the_newest(catalog):
    d = choose(catalog, facts(catalog, {"kubelet": "Kubernetes v1.36.0"}))
    assert d.benchmark == "cis-1.12" and "newer than every benchmark" in d.reason


def test_older_than_every_benchmark_says_so(catalog):
    d = choose(catalog, facts(catalog, {"kubelet": "Kubernetes v1.24.3"}))
    assert d.benchmark == "cis-1.9" and "older than every benchmark" in d.reason


def test_manifest_image_tag_when_no_kubelet(catalog):
    manifest = "spec:\n  containers:\n  - image: registry.k8s.io/kube-apiserver:v1.28.7\n    command: [kube-apiserver]\n"
    d = choose(catalog, facts(catalog, contents={"{apiserver.manifest}": manifest}))
    assert (d.version, d.benchmark) == ("1.28.7", "cis-1.10")
    assert d.version_source == "image registry.k8s.io/kube-apiserver:v1.28.7 in /etc/kubernetes/manifests/kube-apiserver.yaml"


def test_undetected_version_is_explained(catalog):
    d = choose(catalog, facts(catalog))
    assert d.version is None and d.benchmark == "cis-1.12" and "not detected" in d.reason


def test_distributions(catalog):
    k3s = choose(catalog, facts(catalog, {"k3s": "k3s version v1.30.4+k3s1 (abc)\ngo version go1.22"},
                                processes={"k3s": ["/usr/local/bin/k3s", "server"]}))
    assert (k3s.distribution, k3s.version) == ("k3s", "1.30.4")
    kubeadm = choose(catalog, facts(catalog, {"kubelet": "Kubernetes v1.30.2"},
                                    processes={"kubelet": ["/usr/bin/kubelet", "--kubeconfig=/etc/kubernetes/kubelet.conf"]}))
    assert kubeadm.distribution == "kubeadm"


def test_distributions_get_their_own_variant(catalog):
    k3s = choose(catalog, facts(catalog, {"k3s": "k3s version v1.30.4+k3s1 (98262b5d)\ngo version go1.22.5"},
                                processes={"k3s": ["/usr/local/bin/k3s", "agent"]}))
    assert (k3s.benchmark, k3s.version_source, k3s.reason) == (
        "k3s-cis-1.9", "k3s --version", "k3s node: its own benchmark variant k3s-cis-1.9")
    rke2 = choose(catalog, facts(catalog, {"kubelet": "Kubernetes v1.32.3+rke2r1", "rke2": "rke2 version v1.32.3+rke2r1"},
                                 processes={"rke2": ["/usr/local/bin/rke2", "server"]}))
    assert (rke2.distribution, rke2.version, rke2.benchmark) == ("rke2", "1.32.3", "rke2-cis-1.8")
