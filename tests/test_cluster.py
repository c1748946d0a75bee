"""Section 5 per cluster: each rule with a PASS and a FAIL fixture naming its offenders, RBAC
resolution, the query's record kind (rendered shell and parsed states), source-host choice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from fleetbench import cluster
from fleetbench import facts as F
from fleetbench import script as S
from fleetbench.catalog import load_catalog
from fleetbench.errors import CatalogError
from fleetbench.models import Host, KubeQuery, SSHSettings, Status
from fleetbench.plan import KubeTarget, Plan
from fleetbench.records import MAX_KUBE_BYTES
from fleetbench.runner import ScanOptions, assess_cluster, cluster_sources
from tests.lab.kubeapi import KubeAPI, kubeconfig, load

CATALOG = load_catalog()
BENCH = CATALOG.benchmarks["cis-1.10"]
SYSTEM = ["kube-system", "kube-public", "kube-node-lease"]


def meta(name: str, ns: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name}
    if ns:
        m["namespace"] = ns
    if labels:
        m["labels"] = labels
    return m


def pod(name: str, ns: str = "app", *, sc: dict[str, Any] | None = None, csc: dict[str, Any] | None = None,
        **spec: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "x"}
    if csc is not None:
        c["securityContext"] = csc
    c.update(spec.pop("container", {}))
    s: dict[str, Any] = {"containers": [c], "automountServiceAccountToken": False, **spec}
    if sc is not None:
        s["securityContext"] = sc
    return {"kind": "Pod", "metadata": meta(name, ns), "spec": s}


GOOD_SC = {"runAsNonRoot": True}


def binding(kind: str, name: str, role_kind: str, role: str, subjects: list[tuple[str, str]],
            ns: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "metadata": meta(name, ns), "roleRef": {"kind": role_kind, "name": role},
            "subjects": [{"kind": k, "name": n} for k, n in subjects]}


def role(kind: str, name: str, rules: list[tuple[list[str], list[str], list[str]]], ns: str | None = None,
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": kind, "metadata": meta(name, ns, labels),
            "rules": [{"apiGroups": g, "resources": r, "verbs": v} for g, r, v in rules]}


def decide(check: str, items: list[dict[str, Any]]) -> tuple[Status, list[str], str]:
    control = next(c for c in BENCH.controls if c.check.id == check)
    f = cluster.decide(control, cluster.parse(json.dumps({"kind": "List", "items": items}).encode()), "test")
    assert f.offending_count == len(f.offending) or len(f.offending) == cluster.MAX_OFFENDING
    return f.status, list(f.offending), f.actual


# (check, FAIL fixture objects, the offenders, PASS fixture objects)
CASES: list[tuple[str, list[dict[str, Any]], list[str], list[dict[str, Any]]]] = [
    ("cluster-admin-bindings-kept-to-the-strict-minimum",
     [binding("ClusterRoleBinding", "ops", "ClusterRole", "cluster-admin", [("User", "alice")]),
      binding("ClusterRoleBinding", "cluster-admin", "ClusterRole", "cluster-admin",
              [("Group", "system:masters"), ("User", "bob")])],
     ["ClusterRoleBinding/ops", "ClusterRoleBinding/cluster-admin"],
     [binding("ClusterRoleBinding", "cluster-admin", "ClusterRole", "cluster-admin", [("Group", "system:masters")]),
      binding("ClusterRoleBinding", "kubeadm:cluster-admins", "ClusterRole", "cluster-admin",
              [("Group", "kubeadm:cluster-admins")]),
      binding("ClusterRoleBinding", "viewers", "ClusterRole", "view", [("User", "alice")])]),
    ("few-subjects-may-read-secret-objects",
     [role("ClusterRole", "reader", [([""], ["secrets"], ["list"])]),
      binding("RoleBinding", "all-read", "ClusterRole", "reader", [("Group", "system:serviceaccounts")], ns="app"),
      role("Role", "star", [(["*"], ["*"], ["watch"])], ns="app"),
      binding("RoleBinding", "anon", "Role", "star", [("Group", "system:anonymous")], ns="app")],
     ["RoleBinding/app/all-read", "RoleBinding/app/anon"],
     [role("ClusterRole", "reader", [([""], ["secrets"], ["list"]), (["apps"], ["secrets"], ["get"])]),
      binding("ClusterRoleBinding", "ops-read", "ClusterRole", "reader", [("User", "ops")]),
      role("ClusterRole", "cm", [([""], ["configmaps"], ["get"])]),
      binding("ClusterRoleBinding", "all-cm", "ClusterRole", "cm", [("Group", "system:authenticated")]),
      # a Role in another namespace with the same name does not count
      role("Role", "reader", [([""], ["secrets"], ["get"])], ns="other"),
      binding("RoleBinding", "x", "Role", "reader", [("Group", "system:authenticated")], ns="app")]),
    ("few-subjects-may-create-pods",
     [role("ClusterRole", "maker", [([""], ["pods"], ["get", "*"])]),
      binding("ClusterRoleBinding", "everyone", "ClusterRole", "maker", [("Group", "system:authenticated")])],
     ["ClusterRoleBinding/everyone"],
     [role("ClusterRole", "maker", [([""], ["pods"], ["create"])]),
      binding("ClusterRoleBinding", "ci", "ClusterRole", "maker", [("ServiceAccount", "ci")]),
      binding("ClusterRoleBinding", "users", "ClusterRole", "view", [("Group", "system:authenticated")])]),
    ("rbac-roles-avoid-wildcards",
     [role("ClusterRole", "mixed", [([""], ["pods"], ["get", "*"])]),
      role("Role", "groups", [(["*"], ["deployments"], ["get"])], ns="app"),
      role("ClusterRole", "sub", [([""], ["pods/*"], ["get"])])],
     ["ClusterRole/mixed", "ClusterRole/sub", "Role/app/groups"],
     [role("ClusterRole", "cluster-admin", [(["*"], ["*"], ["*"])], labels={"kubernetes.io/bootstrapping": "rbac-defaults"}),
      role("ClusterRole", "plain", [([""], ["pods"], ["get", "list"])])]),
    ("namespace-default-service-accounts-stay-unused",
     [{"kind": "ServiceAccount", "metadata": meta("default", "app")},
      {"kind": "ServiceAccount", "metadata": meta("default", "kube-system"), "automountServiceAccountToken": True}],
     ["ServiceAccount/app/default", "ServiceAccount/kube-system/default"],
     [{"kind": "ServiceAccount", "metadata": meta("default", "app"), "automountServiceAccountToken": False},
      {"kind": "ServiceAccount", "metadata": meta("builder", "app")}]),
    ("pods-mount-service-account-tokens-only-when-needed",
     [{**pod("own", sc=GOOD_SC), "spec": {"containers": [{"name": "c"}], "automountServiceAccountToken": True}},
      {**pod("via-sa", sc=GOOD_SC), "spec": {"containers": [{"name": "c"}], "serviceAccountName": "api"}},
      {"kind": "ServiceAccount", "metadata": meta("api", "app")}],
     ["Pod/app/own", "Pod/app/via-sa"],
     [{**pod("sa-off", sc=GOOD_SC), "spec": {"containers": [{"name": "c"}], "serviceAccountName": "quiet"}},
      {"kind": "ServiceAccount", "metadata": meta("quiet", "app"), "automountServiceAccountToken": False},
      {**pod("proxy", "kube-system"), "spec": {"containers": [{"name": "c"}]}}]),
    ("privileged-containers-kept-out-by-admission-policy",
     [pod("p", sc=GOOD_SC, csc={"privileged": True})], ["Pod/app/p"],
     [pod("p", sc=GOOD_SC, csc={"privileged": False}), pod("proxy", "kube-system", csc={"privileged": True})]),
    ("hostpid-pods-kept-out-by-admission-policy",
     [pod("p", sc=GOOD_SC, hostPID=True)], ["Pod/app/p"], [pod("p", sc=GOOD_SC, hostPID=False)]),
    ("hostipc-pods-kept-out-by-admission-policy",
     [pod("p", sc=GOOD_SC, hostIPC=True)], ["Pod/app/p"], [pod("p", sc=GOOD_SC)]),
    ("hostnetwork-pods-kept-out-by-admission-policy",
     [pod("p", sc=GOOD_SC, hostNetwork=True)], ["Pod/app/p"],
     [pod("p", sc=GOOD_SC), pod("etcd", "kube-system", hostNetwork=True)]),
    ("privilege-escalating-containers-kept-out-by-admission-policy",
     [pod("p", sc=GOOD_SC, csc={"allowPrivilegeEscalation": True})], ["Pod/app/p"],
     [pod("p", sc=GOOD_SC, csc={"allowPrivilegeEscalation": False}), pod("unset", sc=GOOD_SC)]),
    ("containers-running-as-root-kept-out-by-policy",
     [pod("unset"), pod("zero", sc={"runAsNonRoot": True}, csc={"runAsUser": 0}),
      pod("nonroot-false", sc={"runAsNonRoot": False})],
     ["Pod/app/unset", "Pod/app/zero", "Pod/app/nonroot-false"],
     [pod("nonroot", sc={"runAsNonRoot": True}), pod("uid", csc={"runAsUser": 1000}),
      pod("override", sc={"runAsUser": 0}, csc={"runAsUser": 1000})]),
    ("extra-linux-capabilities-kept-out-by-admission-policy",
     [pod("p", sc=GOOD_SC, csc={"capabilities": {"add": ["NET_ADMIN"]}})], ["Pod/app/p"],
     [pod("p", sc=GOOD_SC, csc={"capabilities": {"drop": ["ALL"]}})]),
    ("hostpath-volumes-kept-out-by-admission-policy",
     [pod("p", sc=GOOD_SC, volumes=[{"name": "root", "hostPath": {"path": "/"}}])], ["Pod/app/p"],
     [pod("p", sc=GOOD_SC, volumes=[{"name": "tmp", "emptyDir": {}}])]),
    ("every-namespace-carries-at-least-one-networkpolicy",
     [{"kind": "Namespace", "metadata": meta("app")}, {"kind": "Namespace", "metadata": meta("web")},
      {"kind": "NetworkPolicy", "metadata": meta("deny", "web")}],
     ["Namespace/app"],
     [{"kind": "Namespace", "metadata": meta("app")}, {"kind": "NetworkPolicy", "metadata": meta("deny", "app")}]),
    ("mount-secrets-as-files-rather-than-env-vars",
     [pod("env", sc=GOOD_SC, container={"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
      pod("from", sc=GOOD_SC, container={"envFrom": [{"secretRef": {"name": "s"}}]})],
     ["Pod/app/env", "Pod/app/from"],
     [pod("cm", sc=GOOD_SC, container={"env": [{"name": "A", "value": "1"},
                                               {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c"}}}]})]),
    ("pods-and-containers-declare-a-securitycontext",
     [pod("bare"), pod("empty", sc={}, csc={})], ["Pod/app/bare", "Pod/app/empty"],
     [pod("podlevel", sc=GOOD_SC), pod("containerlevel", csc={"runAsUser": 1000})]),
    ("workloads-kept-out-of-the-default-namespace",
     [pod("p", "default", sc=GOOD_SC)], ["Pod/default/p"], [pod("p", sc=GOOD_SC)]),
]


@pytest.mark.parametrize(("check", "bad", "offenders", "good"), CASES, ids=[c[0] for c in CASES])
def test_rule_fails_with_its_offenders_and_passes_when_clean(check, bad, offenders, good):
    status, offending, _ = decide(check, bad)
    assert (status, sorted(offending)) == (Status.FAIL, sorted(offenders))
    status, offending, _ = decide(check, good)
    assert (status, offending) == (Status.PASS, [])


def test_every_rule_of_the_catalog_has_a_fixture():
    ruled = {c.id for c in CATALOG.checks.values() if c.kind == "cluster" and c.rule}
    assert ruled - {"containers-with-any-capabilities-assigned-kept-to-a-minimum"} == {c[0] for c in CASES}


def test_system_namespaces_are_exempt_and_say_so():
    status, offending, actual = decide("hostnetwork-pods-kept-out-by-admission-policy",
                                       [pod("etcd", ns, hostNetwork=True) for ns in SYSTEM])
    assert (status, offending) == (Status.PASS, [])
    assert "namespaces exempted: kube-system, kube-public, kube-node-lease" in actual
    check = CATALOG.checks["hostnetwork-pods-kept-out-by-admission-policy"]
    assert check.exempt == tuple(SYSTEM)


def test_offenders_capped_at_20_with_the_full_count():
    control = next(c for c in BENCH.controls if c.check.id == "workloads-kept-out-of-the-default-namespace")
    items = [pod(f"p{i:02}", "default", sc=GOOD_SC) for i in range(45)]
    f = cluster.decide(control, cluster.parse(json.dumps({"items": items}).encode()), "test")
    assert len(f.offending) == 20 and f.offending_count == 45 and f.offending[0] == "Pod/default/p00"


def test_unscored_findings_are_fail_with_scored_false_kept():
    control = next(c for c in BENCH.controls if c.check.id == "workloads-kept-out-of-the-default-namespace")
    f = cluster.decide(control, cluster.parse(json.dumps({"items": [pod("p", "default")]}).encode()), "q")
    assert f.status == Status.FAIL and control.scored is False and "unscored in CIS" in f.reason


def test_manual_controls_stay_warn_with_what_to_review():
    control = next(c for c in BENCH.controls if c.check.id == "network-plugin-enforces-networkpolicy-objects")
    f = cluster.decide(control, cluster.Snapshot(), "q")
    assert f.status == Status.WARN and "CNI plugin" in f.reason


def test_an_answer_that_is_not_a_kubectl_list_is_not_assessed():
    host = "cp-1"
    for payload in (b"<html>", b'{"kind": "Status"}', b'{"items": [{"metadata": {}}]}'):
        q = KubeQuery("ok", "kubectl", "/etc/kubernetes/admin.conf", "", payload)
        c = assess_cluster("prod", ("cp-1",), ("cp-1",), host, q, (), "cis-1.10", CATALOG, ScanOptions("cis-1.10"))
        assert c.status.startswith("not assessed: ") and c.findings == ()


@pytest.mark.parametrize(("state", "rc", "message", "words"), [
    ("missing", "-", "looked for kubectl", "no kubectl on cp-1"),
    ("unreadable", "-", "", "kubeconfig /k on cp-1 is not readable"),
    ("ran", "1", "E1130 noise\nThe connection to the server 10.0.0.1:6443 was refused", "was refused"),
    ("ran", "124", "", "did not finish within"),
])
def test_query_failures_are_not_assessed_with_the_reason(state, rc, message, words):
    records = [S.Record("kuberc", (state, rc), f"kubectl\n/k\n{message}".encode())]
    q = F.build(records, ()).kube
    assert q is not None and q.state != "ok"
    c = assess_cluster("prod", ("cp-1",), ("cp-1",), "cp-1", q, (), "cis-1.10", CATALOG, ScanOptions("cis-1.10"))
    assert c.status.startswith("not assessed: ") and words in c.status, c.status


def test_an_answer_at_the_cap_is_truncated_not_judged():
    records = [S.Record("kube", (), b" " * (MAX_KUBE_BYTES + 1)), S.Record("kuberc", ("ran", "141"), b"kubectl\n/k\n")]
    q = F.build(records, ()).kube
    assert q is not None and q.state == "truncated" and q.payload == b""
    c = assess_cluster("prod", ("cp-1",), ("cp-1",), "cp-1", q, (), "cis-1.10", CATALOG, ScanOptions("cis-1.10"))
    assert c.status == ("not assessed: the answer of kubectl on cp-1 was larger than the cap (more than 64 MiB, "
                        "records.MAX_KUBE_BYTES): cut, so not judged")


def _plan(target: KubeTarget) -> Plan:
    return Plan(components=(), path_vars=(), overrides={}, stats=(), trees=(), reads=(), dirs=(), env_components=(),
                kube=target)


def test_rendered_query_is_read_only_and_quoted():
    text = S.render(_plan(KubeTarget(kubectl="kubectl --context 'a b' $(id)", kubeconfig="/etc/a b'c.conf")), "ab" * 8)
    assert "set -- kubectl --context 'a b' '$(id)';" in text
    assert "KC='/etc/a b'\"'\"'c.conf'" in text
    query = next(line for line in text.splitlines() if " get pods," in line)
    assert "-A -o json" in query and "secrets" not in query and "--cache-dir /dev/null/" in query
    for word in ("jq", "auth", "apply", "create", "delete", "patch"):
        assert f" {word} " not in query


def test_nodes_without_a_query_render_nothing_for_it():
    plain = Plan(components=(), path_vars=(), overrides={}, stats=(), trees=(), reads=(), dirs=(), env_components=())
    assert "kubectl" not in S.render(plain, "ab" * 8)


SHELLS = [s for s in (["dash"], ["bash", "--posix"], ["busybox", "sh"]) if shutil.which(s[0])]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_the_rendered_shell_runs_a_real_kubectl(tmp_path, shell):
    api = KubeAPI("127.0.0.1", load("planted")).start()
    try:
        cfg = tmp_path / "admin.conf"
        cfg.write_text(kubeconfig(api.url))
        nonce = "cd" * 8
        src = S.render(_plan(KubeTarget(kubectl=shutil.which("kubectl"), kubeconfig=str(cfg))), nonce)
        home = tmp_path / "home"
        home.mkdir()
        out = subprocess.run([*shell, "-s"], input=src.encode(), capture_output=True, timeout=60,
                             env={"PATH": os.environ["PATH"], "HOME": str(home)}).stdout
    finally:
        api.stop()
    q = F.build(S.parse(out, nonce), ()).kube
    assert q is not None and q.state == "ok" and q.kubeconfig == str(cfg)
    assert len(cluster.parse(q.payload).pods) == len([o for o in load("planted") if o["kind"] == "Pod"])
    assert list(home.iterdir()) == []                       # nothing written (no discovery cache)
    assert {m for m, _ in api.requests} == {"GET"}


def host(name: str, cluster_name: str, roles: tuple[str, ...] = ("control-plane",), source: bool = False) -> Host:
    return Host(name=name, address=name, roles=roles, groups=(), ssh=SSHSettings(), paths={}, origin="t",
                cluster=cluster_name, cluster_source=source)


def test_sources_follow_inventory_order_with_cluster_source_first():
    hosts = (host("a1", "a"), host("w1", "a", ("worker",)), host("a2", "a", source=True), host("b1", "b"),
             host("w2", "c", ("worker",)))
    got = cluster_sources(hosts, CATALOG, ScanOptions("cis-1.10"))
    assert {k: [h.name for h in v] for k, v in got.items()} == {"a": ["a2", "a1"], "b": ["b1"], "c": []}


def test_no_clusters_when_section_5_is_not_selected():
    from fleetbench.select import Selection
    hosts = (host("a1", "a"),)
    assert cluster_sources(hosts, CATALOG, ScanOptions("cis-1.10", Selection(targets=("node",)))) == {}
    assert cluster_sources(hosts, CATALOG, ScanOptions("cis-1.10", Selection(skips=("5",)))) == {}   # no query for INFOs


def test_catalog_refuses_an_unknown_rule(tmp_path):
    root = tmp_path / "checks"
    shutil.copytree(CATALOG.root, root)
    path = root / "controls" / "policies.yaml"
    path.write_text(path.read_text().replace("rule: rbac-wildcards", "rule: rbac-wildcard"))
    with pytest.raises(CatalogError, match=r"policies.yaml:\d+.*unknown cluster rule 'rbac-wildcard'"):
        load_catalog(root)


def test_inventory_cluster_keys_at_every_level(tmp_path):
    from fleetbench.inventory import load_inventory
    path = tmp_path / "inv.yaml"
    path.write_text("defaults:\n  kubeconfig: /etc/kubernetes/admin.conf\n  cluster: prod\n"
                    "groups:\n  cp: {roles: [control-plane], kubectl: k3s kubectl}\n"
                    "hosts:\n  a: {groups: [cp]}\n  b: {groups: [cp], cluster_source: true, kubeconfig: /k.yaml}\n")
    a, b = load_inventory(path, check_files=False)
    assert (a.cluster, a.kubectl, a.kubeconfig, a.cluster_source) == ("prod", "k3s kubectl", "/etc/kubernetes/admin.conf",
                                                                      False)
    assert (b.kubeconfig, b.cluster_source) == ("/k.yaml", True)


def test_inventory_cluster_source_must_be_a_boolean_on_a_host(tmp_path):
    from fleetbench.errors import InventoryError
    from fleetbench.inventory import load_inventory
    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  a: {roles: [control-plane], cluster_source: 'yes'}\n")
    with pytest.raises(InventoryError, match=r"inv.yaml:2.*cluster_source must be true or false"):
        load_inventory(path, check_files=False)
    path.write_text("defaults:\n  cluster_source: true\nhosts:\n  a: {roles: [control-plane]}\n")
    with pytest.raises(InventoryError, match=r"unknown key 'cluster_source' in defaults"):
        load_inventory(path, check_files=False)


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_the_shell_says_when_no_kubectl_is_found(tmp_path, shell):
    nonce = "ef" * 8
    src = S.render(_plan(KubeTarget()), nonce)
    exe = shutil.which(shell[0])
    assert exe is not None
    out = subprocess.run([exe, *shell[1:], "-s"], input=src.encode(), capture_output=True, timeout=60,
                         env={"PATH": str(tmp_path)}).stdout       # nothing on PATH, no admin.conf here
    q = F.build(S.parse(out, nonce), ()).kube
    assert q is not None and q.state == "missing" and "looked for kubectl with /etc/kubernetes/admin.conf" in q.message


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_an_unreadable_kubeconfig_is_reported_not_run(tmp_path):
    nonce = "ef" * 8
    src = S.render(_plan(KubeTarget(kubectl="kubectl", kubeconfig=str(tmp_path / "missing.conf"))), nonce)
    out = subprocess.run(["sh", "-s"], input=src.encode(), capture_output=True, timeout=60).stdout
    q = F.build(S.parse(out, nonce), ()).kube
    assert q is not None and q.state == "unreadable" and q.kubeconfig == str(tmp_path / "missing.conf")


def test_plan_shows_the_cluster_query_on_each_source_host_only(tmp_path, capsys):
    from fleetbench.cli import main
    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  cp-a: {roles: [control-plane], cluster: a}\n  cp-b: {roles: [control-plane], cluster: a}\n"
                    "  w: {roles: [worker], cluster: a}\n")
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    scripts = {block.split(" ", 1)[0]: block for block in out.split("# host ")[1:]}
    assert "query of cluster 'a'" in scripts["cp-a"] and " get pods,serviceaccounts," in scripts["cp-a"]
    assert " get pods," not in scripts["cp-b"] and " get pods," not in scripts["w"]


def _report_with_clusters():
    from datetime import UTC, datetime

    from fleetbench.models import ClusterScan, ScanReport
    items = [pod("debug", "shop", csc={"privileged": True}), pod("web", "shop", sc=GOOD_SC)]
    q = KubeQuery("ok", "kubectl", "/etc/kubernetes/admin.conf", "", json.dumps({"items": items}).encode())
    ok = assess_cluster("shop", ("cp-1", "w-1"), ("cp-1",), "cp-1", q, (), "cis-1.10", CATALOG, ScanOptions("cis-1.10"))
    dark = ClusterScan("dark", ("cp-9",), "not assessed: kubectl on cp-9 failed: connection refused", None, ("cp-9",),
                       "cis-1.10")
    now = datetime.now(UTC)
    return ScanReport("0.1.0", "cis-1.10", "d", now, now, (), {}, clusters=(ok, dark))


def test_report_model_round_trips_clusters_and_console_shows_a_block_each():
    from fleetbench.report import console, from_dict
    from fleetbench.report.model import build, to_dict
    model = build(_report_with_clusters())
    data = to_dict(model)
    assert to_dict(from_dict(data)) == data and data["schema"] == 2
    shop = data["clusters"][0]
    assert set(shop) == {"name", "status", "source_host", "hosts", "results"}
    assert set(shop["results"][0]) == {"id", "check", "title", "status", "scored", "automated", "actual", "offending",
                                       "offending_count", "reason", "remediation", "waiver"}   # waiver: null, or --waivers
    priv = next(r for r in shop["results"] if r["id"] == "5.2.2")
    assert (priv["status"], priv["offending"]) == ("FAIL", ["Pod/shop/debug"])
    text = console.render(model)
    assert "=== cluster shop (hosts: cp-1, w-1) ===" in text and "1 offending: Pod/shop/debug" in text
    assert "[NOT ASSESSED] section 5: kubectl on cp-9 failed: connection refused" in text
    assert "cluster dark: section 5 NOT assessed" in text


def test_bundle_redacts_secret_looking_env_values_in_the_query_answer():
    from fleetbench.bundle import _redact_record
    from fleetbench.redact import REDACTED
    p = pod("api", container={"env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "MODE", "value": "prod"}]})
    p["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": '{"password": "hunter2"}',
                                    "team": "a"}
    rec = _redact_record(S.Record("kube", (), json.dumps({"items": [p]}).encode()))
    assert b"hunter2" not in rec.payload
    item = json.loads(rec.payload)["items"][0]
    assert item["spec"]["containers"][0]["env"] == [{"name": "DB_PASSWORD", "value": REDACTED},
                                                    {"name": "MODE", "value": "prod"}]
    assert item["metadata"]["annotations"] == {"team": "a"}
