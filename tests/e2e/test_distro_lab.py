"""One scan of a fleet of every distribution: k3s server and agent, RKE2 server and agent, and
kubeadm workers on two minors (tests.lab.distros).

Each node is recognised (distribution, version and where the version came from) and gets its
own benchmark variant; k3s's in-process components are read from the lines k3s logged in its
journal, RKE2's etcd from its YAML config file and its kubelet from its drop-ins; controls the
variants skip are INFO with their reason; and every kubelet verdict names its deciding source.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from fleetbench.catalog import load_catalog
from fleetbench.cli import main
from tests.lab import Lab, distro_specs

from .golden import check_golden
from .test_scan_lab import pytestmark  # noqa: F401  (skip without sshd)

OCTETS = "127.82.0."
K3S_JOURNAL = r"k3s journal line '{}' \(k3s pid \d+\)"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(tmp_path_factory.mktemp("distros"), distro_specs(OCTETS), first_octets=OCTETS) as running:
        yield running


@pytest.fixture(scope="module")
def scan(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        code = main(["scan", str(lab.inventory_path), "--out-dir", str(out), "--flat", "--bundle", str(out / "bundle.json")])
    data = json.loads((out / "report.json").read_text())
    return code, console.getvalue(), {h["name"]: h for h in data["hosts"]}, out


@pytest.fixture(scope="module")
def hosts(scan):
    return scan[2]


def results(host):
    assert host["status"] == "ok", host["error"]
    return {r["id"]: r for r in host["results"]}


def test_verdicts_match_the_golden_file(lab, hosts):
    check_golden("distro_lab", list(hosts.values()), str(lab.state_dir))


def test_each_node_is_recognised_and_gets_its_benchmark(scan, hosts):
    code, console, *_ = scan
    assert code == 4                        # section 5: no lab node here has a kubectl that reaches an API
    detected = {name: (h["detected"]["distribution"], h["detected"]["kubernetes_version"],
                       h["detected"]["version_source"], h["benchmark"]) for name, h in hosts.items()}
    assert detected == {
        "k3s-1": ("k3s", "1.30.4", "k3s --version", "k3s-cis-1.9"),
        "k3s-agent-1": ("k3s", "1.30.4", "k3s --version", "k3s-cis-1.9"),
        "rke2-1": ("rke2", "1.32.3", "kubelet --version", "rke2-cis-1.8"),
        "rke2-agent-1": ("rke2", "1.32.3", "kubelet --version", "rke2-cis-1.8"),
        "kubeadm-1": ("kubeadm", "1.30.2", "kubelet --version", "cis-1.11"),
        "kubeadm-old": ("kubeadm", "1.27.9", "kubelet --version", "cis-1.9"),
    }
    assert hosts["k3s-1"]["detected"]["reason"] == "k3s node: its own benchmark variant k3s-cis-1.9"
    assert "=== k3s-1 (127.82.0.10) roles: control-plane, etcd benchmark: k3s-cis-1.9 ===" in console
    assert "=== rke2-agent-1 (127.82.0.13) roles: worker benchmark: rke2-cis-1.8 ===" in console
    # k3s's API server is the k3s process itself; RKE2's is a process of its own
    k3s, rke2 = hosts["k3s-1"]["evidence"]["processes"], hosts["rke2-1"]["evidence"]["processes"]
    assert k3s["apiserver"]["pid"] == k3s["k3s"]["pid"] and k3s["apiserver"]["argv"][0] == "kube-apiserver"
    assert rke2["apiserver"]["pid"] != rke2["rke2"]["pid"] and rke2["apiserver"]["argv"][0] == "kube-apiserver"


def test_k3s_server_reads_its_components_from_the_journal(hosts):
    r = results(hosts["k3s-1"])
    assert (r["1.2.15"]["status"], r["1.2.15"]["actual"]) == ("PASS", "--profiling=false")
    assert re.fullmatch("--profiling on the " + K3S_JOURNAL.format("Running kube-apiserver"), r["1.2.15"]["source"])
    assert re.fullmatch("--profiling on the " + K3S_JOURNAL.format("Running kube-controller-manager"), r["1.3.2"]["source"])
    assert r["1.3.2"]["status"] == "PASS"
    # path variables come from the components' flags in those lines, resolved on the node
    assert hosts["k3s-1"]["evidence"]["paths"]["scheduler.kubeconfig"] == {
        "path": "/var/lib/rancher/k3s/server/cred/scheduler.kubeconfig", "source": "flag --kubeconfig in the k3s journal"}
    assert r["1.1.15"]["status"] == "PASS" and r["1.1.15"]["source"] == (
        "stat /var/lib/rancher/k3s/server/cred/scheduler.kubeconfig (path from flag --kubeconfig in the k3s journal)")
    # the last start counts: the kubelet-arg added before it is there, and attributed to config.yaml
    assert (r["4.2.5"]["status"], r["4.2.5"]["actual"]) == ("PASS", "--streaming-connection-idle-timeout=5m")
    assert re.fullmatch(r"flag --streaming-connection-idle-timeout on the " + K3S_JOURNAL.format("Running kubelet")
                        + r" \(set in /etc/rancher/k3s/config\.yaml\)", r["4.2.5"]["source"])


def test_k3s_files_etcd_config_and_skips(hosts):
    r = results(hosts["k3s-1"])
    assert (r["1.1.13"]["status"], r["1.1.13"]["source"]) == ("PASS", "stat /var/lib/rancher/k3s/server/cred/admin.kubeconfig")
    assert r["1.1.20"]["status"] == "FAIL" and r["1.1.20"]["actual"].startswith("21 of 21 files do not comply: ")
    assert "/var/lib/rancher/k3s/server/tls/etcd/peer-ca.crt 644" in r["1.1.20"]["actual"]     # below the top level too
    assert r["2.1"]["status"] == "PASS" and r["2.1"]["source"] == (
        "/var/lib/rancher/k3s/server/db/etcd/config: client-transport-security.cert-file; "
        "/var/lib/rancher/k3s/server/db/etcd/config: client-transport-security.key-file")
    assert r["2.1"]["reason"] == "etcd is not running as a process of its own; only its config files were read"
    for cid in ("1.1.1", "1.1.7", "1.1.12", "4.1.9", "4.2.7"):
        assert r[cid]["status"] == "INFO", cid
        assert r[cid]["reason"].startswith(("not applicable on k3s", "not evaluated on k3s")), cid


def test_k3s_agent_drift_is_caught_from_the_last_start(hosts):
    r = results(hosts["k3s-agent-1"])
    assert set(r) == {c for c in r if c.startswith("4.")}                      # worker: node target only
    assert (r["4.2.4"]["status"], r["4.2.4"]["actual"]) == ("FAIL", "--read-only-port=10255")
    assert re.fullmatch("flag --read-only-port on the " + K3S_JOURNAL.format("Running kubelet")
                        + r" \(set in /etc/rancher/k3s/config\.yaml\)", r["4.2.4"]["source"])
    assert r["4.1.1"]["status"] == "INFO" and "no systemd unit of its own" in r["4.1.1"]["reason"]
    assert "kubelet-arg list in /etc/rancher/k3s/config.yaml" in r["4.2.4"]["remediation"]


def test_rke2_server_etcd_config_file_and_static_pods(hosts):
    host = hosts["rke2-1"]
    r = results(host)
    assert host["evidence"]["paths"]["etcd.config"] == {"path": "/var/lib/rancher/rke2/server/db/etcd/config",
                                                         "source": "flag --config-file"}
    assert (r["2.1"]["status"], r["2.1"]["reason"]) == ("PASS", "")
    assert r["2.1"]["source"] == ("/var/lib/rancher/rke2/server/db/etcd/config: client-transport-security.cert-file; "
                                  "/var/lib/rancher/rke2/server/db/etcd/config: client-transport-security.key-file")
    assert r["2.1"]["actual"] == ("client-transport-security.cert-file=/var/lib/rancher/rke2/server/tls/etcd/server-client.crt; "
                                  "client-transport-security.key-file=/var/lib/rancher/rke2/server/tls/etcd/server-client.key")
    assert r["1.1.7"]["source"] == "stat /var/lib/rancher/rke2/server/db/etcd/config (path from flag --config-file)"
    assert r["1.1.1"]["source"] == ("stat /var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml "
                                    "(path from first existing candidate)") and r["1.1.1"]["status"] == "PASS"
    assert re.fullmatch(r"--profiling on the command line of kube-apiserver \(pid \d+\)", r["1.2.16"]["source"])
    assert (r["1.2.29"]["status"], r["1.2.29"]["actual"]) == ("PASS", "secrets: aescbc")
    assert r["1.1.12"]["status"] == "INFO" and r["1.1.12"]["reason"].startswith("not evaluated on RKE2")
    assert (r["4.2.3"]["status"], r["4.2.3"]["source"]) == (
        "PASS", "drop-in /var/lib/rancher/rke2/agent/etc/kubelet.conf.d/00-rke2-defaults.conf: authentication.x509.clientCAFile")


def test_rke2_agent_drop_in_overrides_rke2s_default(hosts):
    r = results(hosts["rke2-agent-1"])
    dropins = "/var/lib/rancher/rke2/agent/etc/kubelet.conf.d"
    assert (r["4.2.1"]["status"], r["4.2.1"]["actual"]) == ("FAIL", "authentication.anonymous.enabled=true")
    assert r["4.2.1"]["source"] == (f"drop-in {dropins}/10-cli-config.conf: authentication.anonymous.enabled; "
                                    f"overrides {dropins}/00-rke2-defaults.conf authentication.anonymous.enabled: false")
    assert r["4.1.9"]["status"] == "INFO"


def test_every_kubelet_verdict_names_its_source(hosts):
    checks = load_catalog().checks
    seen = 0
    for name, host in hosts.items():
        for r in results(host).values():
            if checks[r["check"]].component == "kubelet" and r["status"] in ("PASS", "FAIL"):
                seen += 1
                assert r["source"].startswith(("flag ", "/", "drop-in ", "not set", "stat ")), (name, r["id"], r["source"])
    assert seen > 80


def test_section_5_not_assessed_after_every_control_plane_host_was_tried(scan):
    """One cluster ('default'): each control-plane host is tried in turn (k3s's kubectl is a stub
    that refuses, rke2's is absent), so section 5 is not assessed, with every host tried named and
    why; the node checks are unaffected."""
    data = json.loads((scan[3] / "report.json").read_text())
    (cluster,) = data["clusters"]
    assert cluster["status"].startswith("not assessed: no control-plane host answered the cluster query")
    assert cluster["results"] == [] and cluster["source_host"] is None
    assert "k3s-1: kubectl on k3s-1 failed: error: this lab stub has no embedded kubectl" in cluster["status"]
    assert "rke2-1: no kubectl on rke2-1: looked for kubectl with /etc/kubernetes/admin.conf" in cluster["status"]
    assert all(h["status"] == "ok" for h in data["hosts"])


def test_bundle_reevaluates_the_journal_lines_offline(scan, hosts, tmp_path):
    """k3s's journal lines are kept in the evidence bundle: offline, the same verdicts and sources."""
    assert main(["evaluate", str(scan[3] / "bundle.json"), "--out-dir", str(tmp_path), "--flat", "--quiet"]) == 4
    again = {h["name"]: h for h in json.loads((tmp_path / "report.json").read_text())["hosts"]}
    for name, host in hosts.items():
        assert [(r["id"], r["status"], r["actual"], r["source"]) for r in host["results"]] == \
            [(r["id"], r["status"], r["actual"], r["source"]) for r in again[name]["results"]], name
