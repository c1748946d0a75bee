"""A mixed fleet in one scan: two Kubernetes minors, etcd under systemd, a hostile host.

Each node picks its own benchmark from what it runs, every kubelet verdict names its deciding
source, and the awkward host (busybox sh and coreutils, a talking .bashrc, a config path with
spaces and quotes, a non-UTF-8 config file) is read as faithfully as the others.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from fleetbench.cli import main
from tests.lab import Lab, mixed_specs
from tests.lab.scenarios import HOSTILE_CONFIG

from .golden import check_golden
from .test_scan_lab import pytestmark  # noqa: F401  (skip without sshd)

OCTETS = "127.80.0."


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(tmp_path_factory.mktemp("mixed"), mixed_specs(OCTETS + "10"), first_octets=OCTETS) as running:
        yield running


@pytest.fixture(scope="module")
def report(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    main(["scan", str(lab.inventory_path), "--out-dir", str(out), "--flat", "--quiet"])
    data = json.loads((out / "report.json").read_text())
    return {h["name"]: h for h in data["hosts"]}


def results(host):
    assert host["status"] == "ok", host["error"]
    return {r["id"]: r for r in host["results"]}


def test_verdicts_match_the_golden_file(lab, report):
    check_golden("mixed_lab", list(report.values()), str(lab.state_dir))


def test_each_node_gets_its_own_benchmark(report):
    chosen = {name: (h["benchmark"], h["detected"]["kubernetes_version"]) for name, h in report.items()}
    assert chosen["cp-1"] == ("cis-1.11", "1.30.2")
    assert chosen["worker-old"] == ("cis-1.9", "1.27.9")
    assert chosen["odd-1"] == ("cis-1.11", "1.30.2")
    etcd = report["etcd-1"]["detected"]
    assert etcd["kubernetes_version"] is None and etcd["benchmark"] == "cis-1.12" and "not detected" in etcd["reason"]


def test_every_kubelet_verdict_names_its_source(report):
    for name, host in report.items():
        for r in results(host).values():
            if r["check"].startswith("kubelet-") and r["target"] == "node" and r["status"] in ("PASS", "FAIL"):
                assert r["source"], (name, r["id"])
                assert r["source"].startswith(("flag ", "/", "drop-in ", "not set", "stat ")), (name, r["id"], r["source"])


def test_systemd_etcd_reads_its_environment(report):
    r = results(report["etcd-1"])
    assert set(r) == {"2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"}     # etcd target only
    assert r["2.2"]["status"] == "PASS" and r["2.2"]["source"].startswith("ETCD_CLIENT_CERT_AUTH in the environment of etcd")
    assert r["2.5"]["status"] == "FAIL" and r["2.5"]["actual"] == "ETCD_PEER_CLIENT_CERT_AUTH=false"
    assert r["2.1"]["status"] == "PASS"


def test_hostile_host_is_read_faithfully(lab, report):
    # the noise is really there: a plain ssh command prints the .bashrc banner first
    ssh = subprocess.run(["ssh", "-F", "none", "-i", str(lab.client_key_path), "-o", f"UserKnownHostsFile={lab.known_hosts_path}",
                          "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-p", str(lab.port),
                          f"root@{lab.address('odd-1')}", "sh -c 'readlink -f $(command -v stat)'"],
                         capture_output=True, text=True, timeout=30)
    assert "Welcome to hostile-node" in ssh.stdout and ssh.stdout.strip().endswith("/usr/bin/busybox")
    host = report["odd-1"]
    assert host["evidence"]["paths"]["kubelet.config"] == {"path": HOSTILE_CONFIG, "source": "flag --config"}
    r = results(host)
    assert r["4.1.9"]["status"] == "PASS" and r["4.1.9"]["source"] == f"stat {HOSTILE_CONFIG} (path from flag --config)"
    assert r["4.2.1"]["status"] == "PASS" and r["4.2.1"]["source"] == f"{HOSTILE_CONFIG}: authentication.anonymous.enabled"


def test_a_host_without_kubernetes_for_its_roles_is_not_assessed(lab, tmp_path):
    """The wrong host in the inventory: the worker role given to the etcd-only node (no kubelet
    process, config, unit or kubeconfig; no kube-proxy), and the same with a `paths:` entry that
    points at no file. Not assessed with the reason, exit 4; never PASSes for absent files. The
    real roles on that node, and a wrong `paths:` entry on a node whose kubelet runs, stay assessed."""
    inventory = tmp_path / "wrong.yaml"
    head = lab.inventory_path.read_text().split("hosts:\n")[0]
    etcd, worker = lab.address("etcd-1"), lab.address("worker-1")
    inventory.write_text(head + "hosts:\n"
                         f"  etcd-as-worker: {{address: {etcd}, port: {lab.port}, roles: [worker]}}\n"
                         f"  etcd-wrong-path: {{address: {etcd}, port: {lab.port}, roles: [worker],"
                         " paths: {kubelet.config: /etc/kubernetes/no-such-kubelet.yaml}}\n"
                         f"  etcd-as-etcd: {{address: {etcd}, port: {lab.port}, roles: [etcd]}}\n"
                         f"  worker-wrong-path: {{address: {worker}, port: {lab.port}, roles: [worker],"
                         " paths: {kubelet.config: /etc/kubernetes/no-such-kubelet.yaml}}\n")
    out = tmp_path / "out"
    assert main(["scan", str(inventory), "--out-dir", str(out), "--flat", "--quiet"]) == 4
    hosts = {h["name"]: h for h in json.loads((out / "report.json").read_text())["hosts"]}
    for name in ("etcd-as-worker", "etcd-wrong-path"):
        assert hosts[name]["status"] == "no-kubernetes", hosts[name]
        assert hosts[name]["error"].startswith("no Kubernetes component found for roles worker (looked for kubelet, kube-proxy")
        assert hosts[name]["results"] == [] and hosts[name]["summary"]["PASS"] == 0
    assert hosts["etcd-as-etcd"]["status"] == "ok"
    wrong = results(hosts["worker-wrong-path"])
    assert wrong["4.1.9"]["status"] == "FAIL" and "/etc/kubernetes/no-such-kubelet.yaml" in wrong["4.1.9"]["source"]
