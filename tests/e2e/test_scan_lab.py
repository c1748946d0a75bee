"""End to end: `fleetbench scan` over real OpenSSH sshd against the loopback lab.

Three simulated kubeadm nodes (tests/lab): cp-1 (control plane, stacked etcd), worker-1
(defaults) and worker-2 (drift: a kubelet flag overriding its config file, a 0666 kubeconfig).
Asserts exact verdicts with their evidence, the JSON contract, and per-host failures.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from fleetbench.cli import main
from tests.lab import Lab, default_specs
from tests.lab.kubeapi import KubeAPI, load

from .golden import check_golden

pytestmark = pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(),
                                reason="openssh-server is not installed (make test installs it)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    api = KubeAPI("127.78.1.1", load("clean")).start()     # cp-1's admin.conf points at it: section 5 is decided
    try:
        with Lab(tmp_path_factory.mktemp("lab"), default_specs("127.78.0.10", api_url=api.url),
                 first_octets="127.78.0.") as running:
            yield running
    finally:
        api.stop()


@pytest.fixture(scope="module")
def scan_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def scanned(lab, scan_dir):
    out = scan_dir
    code = main(["scan", str(lab.inventory_path), "--out-dir", str(out), "--flat", "--format", "json", "--quiet",
                 "--bundle", str(out / "bundle.json")])
    data = json.loads((out / "report.json").read_text())
    return code, data


def results(data, host):
    h = next(h for h in data["hosts"] if h["name"] == host)
    assert h["status"] == "ok", h["error"]
    return {r["id"]: r for r in h["results"]}


def test_verdicts_match_the_golden_file(lab, scanned):
    check_golden("scan_lab", scanned[1]["hosts"], str(lab.state_dir))


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


def test_section_5_once_for_the_lab_cluster(scanned):
    """Section 5 left cp-1's results: it is decided once, for the cluster 'default', from cp-1's kubectl
    query against the clean kubeadm-like API its admin.conf points at."""
    _, data = scanned
    assert not [r for h in data["hosts"] for r in h["results"] if r["target"] == "policies"]
    (cluster,) = data["clusters"]
    assert (cluster["name"], cluster["status"], cluster["source_host"]) == ("default", "ok", "cp-1")
    assert cluster["hosts"] == ["cp-1", "worker-1", "worker-2"]
    r = {x["id"]: x for x in cluster["results"]}
    assert r["5.1.1"]["status"] == "PASS" and r["5.1.1"]["offending"] == []
    assert r["5.1.7"]["status"] == "WARN"


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
    """This machine sees the lab's kubelets in its /proc (the lab nodes are its children), so it is
    assessed as a worker; were none visible, it would be "no-kubernetes" (exit 4), never passed."""
    code = main(["scan", "--local", "--out-dir", str(tmp_path), "--flat", "--quiet"])
    host = json.loads((tmp_path / "report.json").read_text())["hosts"][0]
    if host["status"] == "no-kubernetes":
        assert code == 4 and host["error"].startswith("no Kubernetes component found for roles worker")
    else:
        assert code in (0, 3) and host["status"] == "ok" and "kubelet" in host["evidence"]["processes"]


def test_one_hosts_internal_error_does_not_stop_the_fleet(lab, tmp_path, monkeypatch):
    """A bug met on one host, in planning (before the probe) or anywhere in its coroutine, makes
    that host "not assessed: internal error …"; the others complete over real sshd."""
    import fleetbench.runner as runner

    real_plan, real_scan_host = runner.plan_for, runner.scan_host

    def plan_for(host, *args, **kwargs):
        if host.name == "worker-1":
            raise RuntimeError("injected planning bug")
        return real_plan(host, *args, **kwargs)

    async def scan_host(host, *args, **kwargs):
        if host.name == "worker-2":
            raise KeyError("injected coroutine bug")
        return await real_scan_host(host, *args, **kwargs)

    monkeypatch.setattr(runner, "plan_for", plan_for)
    monkeypatch.setattr(runner, "scan_host", scan_host)
    assert main(["scan", str(lab.inventory_path), "--out-dir", str(tmp_path), "--flat", "--quiet", "--format", "json"]) == 4
    hosts = {h["name"]: h for h in json.loads((tmp_path / "report.json").read_text())["hosts"]}
    assert (hosts["worker-1"]["status"], hosts["worker-1"]["error"]) == (
        "error", "internal error: RuntimeError: injected planning bug")
    assert (hosts["worker-2"]["status"], hosts["worker-2"]["error"]) == (
        "error", "internal error: KeyError: 'injected coroutine bug'")
    assert hosts["cp-1"]["status"] == "ok" and hosts["cp-1"]["summary"]["PASS"] > 0
    assert hosts["worker-1"]["results"] == [] == hosts["worker-2"]["results"]


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


def test_reevaluated_report_carries_the_scans_settings(lab, tmp_path):
    """`evaluate BUNDLE` reports what the scan really ran with, not defaults (issue 13 item 2)."""
    bundle, out = tmp_path / "b.json", tmp_path / "eval"
    assert main(["scan", str(lab.inventory_path), "--out-dir", str(tmp_path / "scan"), "--flat", "--quiet", "--limit", "worker-*",
                 "--skip", "4.2.4", "--insecure-no-host-key-check", "--bundle", str(bundle)]) == 3
    assert json.loads(bundle.read_text())["schema"] == 2
    assert main(["evaluate", str(bundle), "--out-dir", str(out), "--flat", "--quiet"]) == 3
    opts = json.loads((out / "report.json").read_text())["options"]
    scan_opts = json.loads((tmp_path / "scan" / "report.json").read_text())["options"]
    assert opts["host_key_checking"] is False and opts["local"] is False
    assert opts["limit"] == ["worker-*"] and opts["skip"] == ["4.2.4"] and opts["inventory"] == str(lab.inventory_path)
    assert opts["ran_by"] == scan_opts["ran_by"] and "@" in opts["ran_by"]
    assert opts["evaluated_from"] == str(bundle)
    assert {k: v for k, v in opts.items() if k not in ("evaluated_from", "collected_with_catalog")} == scan_opts


@pytest.mark.parametrize("change, expected", [
    (lambda b: b.update(schema=1), "bundle schema 1 (records framed by position, with the plan) is no longer read; "
                                   "re-collect with fleetbench scan --bundle"),
    (lambda b: b.pop("options"), "options: missing (expected an object (targets, check, skip: lists of text))"),
    (lambda b: b["hosts"][0].update(roles="worker"), 'hosts[0].roles: expected a list of text, found "worker"'),
    (lambda b: b["hosts"][0]["records"][1].update(payload_b64="not base64!"), "hosts[0].records[1].payload_b64: "
                                                                               "expected base64 text"),
    (lambda b: b["hosts"][0]["records"][1].pop("sha256"), "hosts[0].records[1].sha256: missing (expected a sha256"),
    (lambda b: b["hosts"][0].update(started="yesterday"), 'hosts[0].started: expected an ISO 8601 date, found "yesterday"'),
    (lambda b: b["hosts"][0].update(status="fine"), "hosts[0].status: expected one of ok, unreachable"),
], ids=["schema-1", "no-options", "roles-type", "bad-base64", "no-sha256", "bad-date", "bad-status"])
def test_a_malformed_bundle_is_one_line_exit_2(lab, tmp_path_factory, tmp_path, capsys, change, expected):
    bundle = tmp_path_factory.getbasetemp() / "one-worker-bundle.json"
    if not bundle.exists():
        assert main(["scan", str(lab.inventory_path), "--out-dir", str(tmp_path / "scan"), "--quiet",
                     "--limit", "worker-1", "--bundle", str(bundle)]) == 3
    data = json.loads(bundle.read_text())
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["evaluate", str(bad), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and expected in err, err
    assert not (tmp_path / "out").exists()


def test_evaluate_refuses_facts_that_were_never_collected(lab, tmp_path, capsys):
    bundle = tmp_path / "b.json"
    assert main(["scan", str(lab.inventory_path), "--out-dir", str(tmp_path / "scan"), "--quiet", "--limit", "cp-1",
                 "--benchmark", "cis-1.12", "--bundle", str(bundle)]) == 3
    capsys.readouterr()
    assert main(["evaluate", str(bundle), "--out-dir", str(tmp_path / "out"), "--benchmark", "rke2-cis-1.8"]) == 2
    err = capsys.readouterr().err
    assert "host cp-1: the bundle lacks what rke2-cis-1.8 needs (/var/lib/rancher/rke2/server/db/etcd" in err
    assert "--benchmark auto" in err and len(err.strip().splitlines()) == 1


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


def test_every_remediation_is_filled_in_for_every_generic_benchmark(scanned, scan_dir, tmp_path, catalog):
    """A remediation names the node's own paths; a {placeholder} the probe did not resolve must never
    reach an auditor. One scan collects for every benchmark; each is evaluated offline from its bundle."""
    bundle = scan_dir / "bundle.json"              # written by the first scan, before any test changes the lab
    for bench in (b for b in catalog.benchmarks if b.startswith("cis-")):
        out = tmp_path / bench
        code = main(["evaluate", str(bundle), "--benchmark", bench, "--out-dir", str(out), "--flat", "--quiet"])
        assert code == 3, [(h["name"], h["error"]) for h in json.loads((out / "report.json").read_text())["hosts"]]
        for host in json.loads((out / "report.json").read_text())["hosts"]:
            left = {(r["id"], m) for r in host["results"] for m in re.findall(r"\{[a-z0-9.-]+\}", r["remediation"])}
            assert not left, (bench, host["name"], sorted(left))
