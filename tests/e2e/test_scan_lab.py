"""End to end: `fleetbench scan` over real OpenSSH sshd against the loopback lab.

Three simulated kubeadm nodes (tests/lab): cp-1 (control plane, stacked etcd), worker-1
(defaults) and worker-2 (drift: a kubelet flag overriding its config file, a 0666 kubeconfig).
Asserts exact verdicts with their evidence, the JSON contract, and per-host failures.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from fleetbench.cli import main
from tests.lab import Lab

pytestmark = pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(),
                                reason="openssh-server is not installed (make test installs it)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(tmp_path_factory.mktemp("lab"), first_octets="127.78.0.") as running:
        yield running


@pytest.fixture(scope="module")
def scanned(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    code = main(["scan", str(lab.inventory_path), "--out-dir", str(out), "--flat", "--format", "json", "--quiet"])
    data = json.loads((out / "report.json").read_text())
    return code, data


def results(data, host):
    h = next(h for h in data["hosts"] if h["name"] == host)
    assert h["status"] == "ok", h["error"]
    return {r["id"]: r for r in h["results"]}


def test_exit_code_says_findings(scanned):
    code, data = scanned
    assert code == 3 and data["summary"]["FAIL"] > 0 and data["summary"]["hosts_not_assessed"] == 0


def test_json_contract(scanned):
    _, data = scanned
    assert {"tool", "version", "started", "finished", "benchmark", "hosts", "summary"} <= set(data)
    assert data["tool"] == "fleetbench" and data["benchmark"] == "auto"
    for h in data["hosts"]:
        assert {"name", "address", "roles", "status", "error", "benchmark", "results", "summary"} <= set(h)
        assert set(h["summary"]) == {"PASS", "FAIL", "WARN", "INFO"}
        for r in h["results"]:
            assert {"id", "title", "section", "target", "status", "scored", "automated", "expected", "actual",
                    "source", "remediation"} <= set(r)
            assert r["status"] in ("PASS", "FAIL", "WARN", "INFO")


def test_benchmark_detected_per_node(scanned):
    """kubeadm v1.30 (kubelet --version on every node) maps to cis-1.11, kube-bench's table."""
    for h in scanned[1]["hosts"]:
        assert h["benchmark"] == "cis-1.11"
        assert h["detected"] == {"distribution": "kubeadm", "kubernetes_version": "1.30.2",
                                 "version_source": "kubelet --version", "benchmark": "cis-1.11",
                                 "reason": "Kubernetes 1.30 maps to cis-1.11"}


def test_forced_benchmark(lab, tmp_path):
    assert main(["scan", str(lab.inventory_path), "--out-dir", str(tmp_path), "--flat", "--benchmark", "cis-1.12",
                 "--quiet", "--limit", "worker-1"]) == 3
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["benchmark"] == "cis-1.12" and data["hosts"][0]["benchmark"] == "cis-1.12"
    assert data["hosts"][0]["detected"] is None


def test_control_plane_verdicts(scanned):
    r = results(scanned[1], "cp-1")
    expect = {
        "1.1.1": "PASS",   # manifest 0600 root:root (kubeadm)
        "1.1.12": "FAIL",  # kubeadm's /var/lib/etcd is root:root, the benchmark wants etcd:etcd
        "1.1.11": "PASS",  # /var/lib/etcd 0700
        "1.1.19": "PASS",  # everything under /etc/kubernetes/pki is root:root
        "1.1.21": "PASS",  # every *.key 0600
        "1.2.2": "PASS",   # no --token-auth-file
        "1.2.6": "PASS", "1.2.7": "PASS", "1.2.8": "PASS",   # --authorization-mode=Node,RBAC
        "1.2.15": "FAIL",  # --profiling not set: the default is on
        "1.2.16": "FAIL",  # no audit log
        "1.3.7": "PASS", "1.4.2": "PASS",                     # --bind-address=127.0.0.1
        "2.2": "PASS", "2.3": "PASS",                         # client cert auth on, no auto TLS
        "4.1.9": "FAIL",   # kubeadm writes /var/lib/kubelet/config.yaml 0644
        "4.2.1": "PASS",   # anonymous auth off in the config file
        "5.1.1": "WARN",
    }
    assert {k: r[k]["status"] for k in expect} == expect
    assert r["1.1.12"]["actual"].startswith("root:root (0:0)")
    assert r["4.2.1"]["source"] == "/var/lib/kubelet/config.yaml: authentication.anonymous.enabled"
    assert "flag --config" in json.dumps(scanned[1]["hosts"][0]["evidence"]["paths"]["kubelet.config"])


def test_settings_under_secret_sounding_names_stay_readable(scanned):
    """Redaction hides secrets, not settings: the demo's 1.2.30, 1.3.3 and the bootstrap-token flag."""
    r = results(scanned[1], "cp-1")
    assert r["1.3.3"]["actual"] == "--use-service-account-credentials=true" and r["1.3.3"]["status"] == "PASS"
    assert "<redacted>" not in json.dumps([r["1.2.30"], r["1.3.3"]])
    assert r["1.2.30"]["actual"] in ("--service-account-extend-token-expiration not set",
                                     "--service-account-extend-token-expiration=true",
                                     "--service-account-extend-token-expiration=false")
    argv = scanned[1]["hosts"][0]["evidence"]["processes"]["apiserver"]["argv"]
    assert "--enable-bootstrap-token-auth=true" in argv


def test_default_worker_verdicts(scanned):
    r = results(scanned[1], "worker-1")
    assert not any(k.startswith(("1.", "2.", "3.", "5.")) for k in r)   # worker targets only
    expect = {"4.1.5": "PASS", "4.1.6": "PASS", "4.1.9": "FAIL", "4.2.1": "PASS", "4.2.4": "PASS", "4.2.10": "PASS"}
    assert {k: r[k]["status"] for k in expect} == expect


def test_drifted_worker_names_the_overriding_flag(scanned):
    r = results(scanned[1], "worker-2")
    ro = r["4.2.4"]
    assert ro["status"] == "WARN" and ro["actual"] == "--read-only-port=10255"   # 4.2.4 is unscored
    assert ro["source"] == ("flag --read-only-port on the command line of kubelet (set in /etc/default/kubelet); "
                            "overrides /var/lib/kubelet/config.yaml readOnlyPort: 0")
    anon = r["4.2.1"]
    assert anon["status"] == "FAIL" and anon["actual"] == "--anonymous-auth=true"
    assert "overrides /var/lib/kubelet/config.yaml authentication.anonymous.enabled: false" in anon["source"]
    assert r["4.1.5"]["status"] == "FAIL" and r["4.1.5"]["actual"] == "666"
    assert r["4.1.5"]["remediation"].endswith("chmod 600 /etc/kubernetes/kubelet.conf")
    assert r["4.1.9"]["status"] == "PASS"


def test_plan_prints_one_script_per_host(lab, capsys):
    assert main(["plan", str(lab.inventory_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("# host ") == 3 and out.count("r done") == 3


def test_local_scan_runs_the_same_probe(tmp_path, capsys):
    code = main(["scan", "--local", "--out-dir", str(tmp_path), "--flat", "--quiet"])
    assert code in (0, 3) and json.loads((tmp_path / "report.json").read_text())["hosts"][0]["status"] == "ok"


def test_unprivileged_scan_is_not_assessed_never_passed(lab, tmp_path):
    """As 'auditor' without sudo: /var/lib/kubelet (0700) hides the kubelet config, so its checks
    are WARN "not assessed" — never PASS or FAIL — while what the user can see is still judged."""
    inventory = tmp_path / "auditor.yaml"
    inventory.write_text(lab.inventory_path.read_text().replace("user: root", "user: auditor"))
    out = tmp_path / "out"
    main(["scan", str(inventory), "--out-dir", str(out), "--flat", "--quiet", "--limit", "worker-1"])
    host = json.loads((out / "report.json").read_text())["hosts"][0]
    assert host["status"] == "ok" and host["evidence"]["uid"] == 1001
    r = {x["id"]: x for x in host["results"]}
    for cid in ("4.1.9", "4.1.10", "4.2.1", "4.2.4"):
        assert r[cid]["status"] == "WARN" and r[cid]["reason"].startswith("not assessed"), (cid, r[cid])
    assert r["4.1.5"]["status"] == "PASS"          # /etc/kubernetes/kubelet.conf can be stat'ed by anyone


def test_evidence_bundle_reproduces_the_scan_offline(lab, tmp_path, capsys):
    scan_out, eval_out, bundle = tmp_path / "scan", tmp_path / "eval", tmp_path / "bundle.json"
    assert main(["scan", str(lab.inventory_path), "--out-dir", str(scan_out), "--flat", "--quiet", "--bundle", str(bundle)]) == 3
    lab.stop_sshd("cp-1")                                   # nothing is contacted from here on
    assert main(["evaluate", str(bundle), "--out-dir", str(eval_out), "--flat", "--quiet"]) == 3

    def verdicts(path):
        data = json.loads(path.read_text())
        return {(h["name"], h["benchmark"]): [(r["id"], r["status"], r["expected"], r["actual"], r["source"])
                                              for r in h["results"]] for h in data["hosts"]}
    assert verdicts(eval_out / "report.json") == verdicts(scan_out / "report.json")
    raw = json.loads(bundle.read_text())
    assert all(len(h["stdout_sha256"]) == 64 and h["collected_at"] and h["records"] for h in raw["hosts"])

    # another version, offline: the auto scan collected what every benchmark needs
    assert main(["evaluate", str(bundle), "--out-dir", str(eval_out), "--flat", "--quiet", "--benchmark", "cis-1.12"]) == 3
    assert {h["benchmark"] for h in json.loads((eval_out / "report.json").read_text())["hosts"]} == {"cis-1.12"}

    # an altered bundle is refused
    record = raw["hosts"][0]["records"][3]
    record["payload_b64"] = base64.b64encode(b"tampered").decode()
    bundle.write_text(json.dumps(raw))
    capsys.readouterr()
    assert main(["evaluate", str(bundle), "--out-dir", str(eval_out), "--flat"]) == 2
    assert "does not match its sha256" in capsys.readouterr().err
    lab.start_sshd("cp-1")


def test_host_failures_are_values(lab, tmp_path):  # keep last: it stops and re-keys lab nodes
    """A stopped sshd, a wrong key and a changed host key: each host gets its status, the rest complete."""
    other_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    inventory = tmp_path / "faults.yaml"
    kh, key = lab.known_hosts_path, lab.client_key_path
    inventory.write_text(textwrap.dedent(f"""
        defaults: {{user: root, key_files: [{key}], known_hosts: {kh}, ssh_config: none, port: {lab.port}}}
        hosts:
          cp-1: {{address: {lab.address('cp-1')}, roles: [control-plane, etcd]}}
          stopped: {{address: {lab.address('worker-1')}, roles: [worker]}}
          wrong-key: {{address: {lab.address('cp-1')}, roles: [worker], key_files: [{other_key}]}}
          changed-key: {{address: {lab.address('worker-2')}, roles: [worker]}}
        """))
    lab.stop_sshd("worker-1")
    lab.rotate_host_key("worker-2")
    out = tmp_path / "out"
    code = main(["scan", str(inventory), "--out-dir", str(out), "--flat", "--quiet", "--connect-timeout", "5"])
    data = json.loads((out / "report.json").read_text())
    status = {h["name"]: (h["status"], h["error"]) for h in data["hosts"]}
    assert code == 4
    assert status["cp-1"] == ("ok", None), status
    assert status["stopped"][0] == "unreachable" and "refused" in status["stopped"][1]
    assert status["wrong-key"][0] == "auth-failed"
    assert status["changed-key"][0] == "host-key-mismatch" and "CHANGED" in status["changed-key"][1]
    for name in ("stopped", "wrong-key", "changed-key"):
        host = next(h for h in data["hosts"] if h["name"] == name)
        assert host["results"] == [] and host["summary"]["PASS"] == 0
