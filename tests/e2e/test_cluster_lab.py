"""End to end: section 5 decided once per cluster, by a REAL kubectl on a lab node, over real sshd.

Three clusters in one inventory, each control-plane node's admin.conf pointing at a read-only lab
API (tests/lab/kubeapi.py) that serves recorded objects:

* ``shop``: shop-cp-1's API does not answer, shop-cp-2's serves the cluster with planted violations
  (so the query falls back to shop-cp-2, in a round trip of its own), plus a worker;
* ``clean``: a kubeadm-like cluster (static pods, kube-proxy, coredns, kubeadm's RBAC) that passes;
* ``dark``: its only control-plane host's API does not answer: section 5 not assessed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from fleetbench.cli import main
from tests.lab import Lab, kubeadm_control_plane, kubeadm_worker
from tests.lab.kubeapi import KubeAPI, load, routes

pytestmark = [
    pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(),
                       reason="openssh-server is not installed (make test installs it)"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (make deps installs it)"),
]

OCTETS = "127.86.0."
DEAD_API = "http://127.86.1.9:1"          # nothing listens on port 1: connection refused
CLUSTERS = {"shop-cp-1": "shop", "shop-cp-2": "shop", "shop-w-1": "shop", "clean-cp-1": "clean", "dark-cp-1": "dark"}


@pytest.fixture(scope="module")
def apis():
    planted = KubeAPI("127.86.1.1", load("planted")).start()
    clean = KubeAPI("127.86.1.2", load("clean")).start()
    yield {"planted": planted, "clean": clean}
    planted.stop()
    clean.stop()


@pytest.fixture(scope="module")
def lab(apis, tmp_path_factory):
    def cp(name: str, index: int, url: str):
        return kubeadm_control_plane(name, address=f"{OCTETS}{10 + index}", api_url=url)

    specs = [cp("shop-cp-1", 0, DEAD_API), cp("shop-cp-2", 1, apis["planted"].url),
             kubeadm_worker("shop-w-1", api_server=f"{OCTETS}11"),
             cp("clean-cp-1", 3, apis["clean"].url), cp("dark-cp-1", 4, DEAD_API)]
    with Lab(tmp_path_factory.mktemp("clusters"), specs, first_octets=OCTETS) as running:
        inv = yaml.safe_load(running.inventory_path.read_text())
        for name, cluster in CLUSTERS.items():
            inv["hosts"][name]["cluster"] = cluster
        path = running.state_dir / "clusters.yaml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False))
        yield running, path


@pytest.fixture(scope="module")
def scanned(lab, tmp_path_factory):
    _, inventory = lab
    out = tmp_path_factory.mktemp("reports")
    bundle = out / "evidence.json"
    code = main(["scan", str(inventory), "--out-dir", str(out), "--flat", "--format", "json,csv,junit,html",
                 "--quiet", "--bundle", str(bundle)])
    return code, json.loads((out / "report.json").read_text()), out, bundle


def _cluster(data, name):
    return next(c for c in data["clusters"] if c["name"] == name)


def _by_check(cluster):
    return {r["check"]: r for r in cluster["results"]}


def test_each_cluster_once_with_its_hosts(scanned):
    code, data, _, _ = scanned
    assert data["schema"] == 2
    assert [c["name"] for c in data["clusters"]] == ["shop", "clean", "dark"]
    assert _cluster(data, "shop")["hosts"] == ["shop-cp-1", "shop-cp-2", "shop-w-1"]
    assert code == 4                        # the dark cluster was not assessed: never a pass
    for h in data["hosts"]:
        assert h["status"] == "ok", h["error"]
        assert not [r for r in h["results"] if r["target"] == "policies"], h["name"]   # section 5 left the hosts


def test_query_falls_back_to_the_next_control_plane_host(scanned):
    _, data, _, _ = scanned
    shop = _cluster(data, "shop")
    assert shop["status"] == "ok" and shop["source_host"] == "shop-cp-2"


def test_planted_violations_named_per_cluster(scanned):
    _, data, _, _ = scanned
    r = _by_check(_cluster(data, "shop"))
    expect = {
        "cluster-admin-bindings-kept-to-the-strict-minimum": ["ClusterRoleBinding/ops-admin"],
        "few-subjects-may-read-secret-objects": ["ClusterRoleBinding/everyone-reads-secrets"],
        "rbac-roles-avoid-wildcards": ["ClusterRole/pod-maker", "Role/shop/all-in-shop"],
        "few-subjects-may-create-pods": ["RoleBinding/shop/anon-pods"],
        "namespace-default-service-accounts-stay-unused": ["ServiceAccount/shop/default"],
        "pods-mount-service-account-tokens-only-when-needed": ["Pod/shop/web-0"],
        "privileged-containers-kept-out-by-admission-policy": ["Pod/shop/debug"],
        "hostpid-pods-kept-out-by-admission-policy": ["Pod/shop/debug"],
        "hostipc-pods-kept-out-by-admission-policy": ["Pod/shop/debug"],
        "hostnetwork-pods-kept-out-by-admission-policy": ["Pod/shop/debug"],
        "privilege-escalating-containers-kept-out-by-admission-policy": ["Pod/shop/debug"],
        "containers-running-as-root-kept-out-by-policy": ["Pod/shop/web-0", "Pod/shop/debug"],
        "hostpath-volumes-kept-out-by-admission-policy": ["Pod/shop/debug"],
        "every-namespace-carries-at-least-one-networkpolicy": ["Namespace/shop"],
        "mount-secrets-as-files-rather-than-env-vars": ["Pod/shop/api", "Pod/default/legacy"],
        "pods-and-containers-declare-a-securitycontext": ["Pod/shop/web-0"],
        "workloads-kept-out-of-the-default-namespace": ["Pod/default/legacy"],
    }
    for check, offending in expect.items():
        assert r[check]["status"] == "FAIL", (check, r[check])
        assert r[check]["offending"] == offending and r[check]["offending_count"] == len(offending), check
        assert r[check]["scored"] is False
    assert r["network-plugin-enforces-networkpolicy-objects"]["status"] == "WARN"
    assert "ops-admin → User alice" in r["cluster-admin-bindings-kept-to-the-strict-minimum"]["actual"]


def test_clean_kubeadm_cluster_passes(scanned):
    _, data, _, _ = scanned
    clean = _cluster(data, "clean")
    assert clean["status"] == "ok" and clean["source_host"] == "clean-cp-1"
    decided = [r for r in clean["results"] if r["status"] != "WARN"]
    assert decided and all(r["status"] == "PASS" and r["offending"] == [] for r in decided), decided
    token = _by_check(clean)["pods-mount-service-account-tokens-only-when-needed"]
    assert "namespaces exempted: kube-system, kube-public, kube-node-lease" in token["actual"]


def test_cluster_whose_api_does_not_answer_is_not_assessed(scanned):
    _, data, _, _ = scanned
    dark = _cluster(data, "dark")
    assert dark["status"].startswith("not assessed: ") and "dark-cp-1" in dark["status"]
    assert "refused" in dark["status"] and dark["results"] == [] and dark["source_host"] is None


def test_the_lab_api_only_saw_reads(scanned, apis):
    for api in apis.values():
        assert api.requests and {m for m, _ in api.requests} == {"GET"}
        assert not any("secrets" in path for _, path in api.requests)


def test_reports_have_one_block_per_cluster(scanned):
    _, _, out, _ = scanned
    rows = (out / "clusters.csv").read_text().splitlines()
    assert rows[0].startswith("cluster,cluster_status,source_host")
    assert any(row.startswith("dark,not assessed,") for row in rows)
    junit = (out / "junit.xml").read_text()
    assert 'name="cluster shop"' in junit and "ClusterRoleBinding/ops-admin" in junit
    html = (out / "report.html").read_text()
    assert 'id="cl-shop"' in html and "Pod/shop/debug" in html
    # the summary's first screen says how the clusters fared: an auditor cannot miss section 5
    card = html[html.index('id="cluster-card"'):].split("</div></div>", 1)[0] if 'id="cluster-card"' in html else ""
    assert '<div class="card bad" id="cluster-card"><div class="big">2/3</div>' in html and "dark: NOT assessed" in card
    assert 'href="#clusters">Clusters (section 5)</a></nav>' in html


def test_bundle_re_decides_section_5_offline(scanned, tmp_path):
    _, data, _, bundle = scanned
    stored = json.loads(bundle.read_text())
    shop = next(c for c in stored["clusters"] if c["name"] == "shop")
    assert [r["type"] for r in shop["records"]] == ["kube", "kuberc"]
    assert not [r for h in stored["hosts"] for r in h.get("records", []) if r["type"] in ("kube", "kuberc")]
    main(["evaluate", str(bundle), "--out-dir", str(tmp_path), "--flat", "--format", "json", "--quiet"])
    again = json.loads((tmp_path / "report.json").read_text())
    assert again["clusters"] == data["clusters"]


def test_a_new_section_5_failure_is_drift_and_fails_fail_on_new(lab, apis, tmp_path, capsys):
    """A cluster that was clean and now breaks section 5 (a privileged pod appeared overnight) is a
    new FAIL in the drift and fails a --fail-on-new run, as a host's would; a run that changes nothing
    passes, and the clean cluster's earlier verdicts are not listed as new."""
    _, inventory = lab
    db = tmp_path / "h.db"

    def run(name: str) -> tuple[int, dict, str]:
        out = tmp_path / name
        code = main(["scan", str(inventory), "--limit", "clean-cp-1", "--db", str(db), "--out-dir", str(out),
                     "--flat", "--format", "json", "--quiet", "--fail-on-new"])
        return code, json.loads((out / "report.json").read_text()), capsys.readouterr().out

    run("first")                          # everything is new the first time: the baseline
    code, data, printed = run("same")
    assert code == 0 and printed == ""
    assert data["history"]["since_previous"]["new_failures"] == []
    clean = apis["clean"].routes
    apis["clean"].routes = routes(load("planted"))   # the same cluster's API, now with violations
    try:
        code, data, printed = run("broken")
    finally:
        apis["clean"].routes = clean
    new = data["history"]["since_previous"]["new_failures"]
    assert code == 3 and new
    assert {c["cluster"] for c in new} == {"clean"} and all(c["host"] is None for c in new)
    planted = {r["id"] for r in _cluster(data, "clean")["results"] if r["status"] == "FAIL"}
    assert {c["id"] for c in new} == planted and all(c["before"] != "FAIL" for c in new)
    assert "cluster clean: [FAIL] " in printed      # --quiet names it, not only the exit code


def test_waivers_accept_section_5_per_cluster(lab, tmp_path):
    """With every FAIL accepted (hosts' and the shop cluster's section 5), the run exits 0; the
    cluster's results keep their FAIL status and say who accepted them, in every format."""
    _, inventory = lab
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n"
                       "  - controls: ['5.*']\n    clusters: [shop]\n    reason: by design\n    owner: platform\n"
                       "    ticket: SEC-5\n    expires: 2099-12-31\n"
                       "  - controls: ['1.*', '2.*', '3.*', '4.*']\n    hosts: ['shop-*']\n    reason: lab\n"
                       "    owner: platform\n    ticket: SEC-1\n    expires: 2099-12-31\n")
    out = tmp_path / "out"
    code = main(["scan", str(inventory), "--limit", "shop-*", "--waivers", str(waivers), "--no-db", "--out-dir",
                 str(out), "--flat", "--format", "json,csv,junit,html", "--quiet"])
    data = json.loads((out / "report.json").read_text())
    shop = _cluster(data, "shop")
    fails = [r for r in shop["results"] if r["status"] == "FAIL"]
    assert code == 0 and fails and all(r["waiver"]["ticket"] == "SEC-5" for r in fails)
    assert all(r["waiver"] is None for r in shop["results"] if r["status"] == "PASS")
    rows = [row for row in (out / "clusters.csv").read_text().splitlines()[1:] if ",FAIL," in row]
    assert rows and all(",true,by design,platform,SEC-5," in row for row in rows)
    assert 'message="waived: by design, platform, SEC-5' in (out / "junit.xml").read_text()
    html = (out / "report.html").read_text()
    block = html[html.index('id="cl-shop"'):].split("</details>\n", 1)[0]
    assert 'class="wv-reason">waived: by design, platform, SEC-5, until 2099-12-31' in block
