"""Waivers: loading (every error is file:line, exit 2) and applying (pure: findings + hosts + today).

Synthetic findings from the real catalog's controls; no network.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from fleetbench.cli import main
from fleetbench.errors import HostError, HostStatus, InputError
from fleetbench.models import Catalog, ClusterFinding, ClusterScan, Finding, Host, HostScan, ScanReport, SSHSettings, Status, Waiver
from fleetbench.report import build, to_dict
from fleetbench.report import console as console_report
from fleetbench.waivers import Rule, apply, load

TODAY = date(2027, 1, 10)
BENCH = "cis-1.12"


def _control(catalog: Catalog, cid: str):
    return next(c for c in catalog.benchmarks[BENCH].controls if c.id == cid)


def _finding(catalog: Catalog, cid: str, status: Status) -> Finding:
    return Finding(control=_control(catalog, cid), status=status, expected="x", actual="y", source="z", remediation="r")


def _host(name: str, roles: tuple[str, ...] = ("worker",), groups: tuple[str, ...] = ()) -> Host:
    return Host(name=name, address="127.0.0.1", roles=roles, groups=groups, ssh=SSHSettings(), paths={}, origin="inv:1")


def _scan(host: Host, *findings: Finding, error: HostError | None = None) -> HostScan:
    return HostScan(host=host, benchmark=BENCH, started=datetime(2027, 1, 10, tzinfo=UTC), seconds=1.0,
                    findings=findings, error=error)


def _rule(*controls: str, expires: date = date(2027, 6, 30), origin: str = "w.yaml:2", **scope: tuple[str, ...]) -> Rule:
    return Rule(controls=controls, waiver=Waiver(reason="legacy CNI", owner="platform", ticket="OPS-1",
                                                 expires=expires, origin=origin), **scope)


@pytest.fixture()
def fleet(catalog):
    w1 = _scan(_host("worker-1", groups=("legacy",)), _finding(catalog, "4.2.1", Status.FAIL),
               _finding(catalog, "4.1.1", Status.FAIL), _finding(catalog, "4.2.2", Status.PASS))
    w2 = _scan(_host("worker-2"), _finding(catalog, "4.2.1", Status.FAIL))
    cp = _scan(_host("cp-1", roles=("control-plane", "etcd")), _finding(catalog, "1.2.1", Status.FAIL))
    down = _scan(_host("worker-9"), error=HostError(HostStatus.UNREACHABLE, "refused"))
    return (w1, w2, cp, down)


def _waived(outcome) -> set[tuple[str, str]]:
    return {(h.host.name, f.control.id) for h in outcome.hosts for f in h.findings if f.waiver}


def test_a_waiver_marks_the_results_it_covers_and_keeps_their_status(fleet):
    rule = _rule("4.2")                                     # a section
    out = apply([rule], fleet, TODAY)
    assert _waived(out) == {("worker-1", "4.2.1"), ("worker-2", "4.2.1")}   # not the PASS 4.2.2
    w1 = out.hosts[0]
    assert [f.status for f in w1.findings] == [Status.FAIL, Status.FAIL, Status.PASS]
    assert w1.findings[0].waiver == rule.waiver and w1.findings[1].waiver is None
    assert out.waived == 2 and out.unused == () and out.expired == () and out.expiring == ()
    assert out.hosts[3].error is not None and out.hosts[3].findings == ()          # not assessed stays so


def test_ids_globs_and_check_ids_match_like_check(fleet, catalog):
    check_id = _control(catalog, "1.2.1").check.id
    assert _waived(apply([_rule("4.1.*")], fleet, TODAY)) == {("worker-1", "4.1.1")}
    assert _waived(apply([_rule(check_id)], fleet, TODAY)) == {("cp-1", "1.2.1")}
    assert _waived(apply([_rule("4.2.1")], fleet, TODAY)) == {("worker-1", "4.2.1"), ("worker-2", "4.2.1")}


def test_out_of_scope_hosts_are_not_waived(fleet):
    assert _waived(apply([_rule("4.2.1", hosts=("worker-2",))], fleet, TODAY)) == {("worker-2", "4.2.1")}
    assert _waived(apply([_rule("4.2.1", hosts=("worker-*",))], fleet, TODAY)) == {("worker-1", "4.2.1"),
                                                                                  ("worker-2", "4.2.1")}
    assert _waived(apply([_rule("4.2.1", groups=("legacy",))], fleet, TODAY)) == {("worker-1", "4.2.1")}
    assert _waived(apply([_rule("1.2.1", roles=("worker",))], fleet, TODAY)) == set()
    assert _waived(apply([_rule("1.2.1", roles=("etcd",))], fleet, TODAY)) == {("cp-1", "1.2.1")}
    assert _waived(apply([_rule("4.2.1", benchmarks=("cis-1.11",))], fleet, TODAY)) == set()
    # the rule in force that matched nothing is listed as unused
    out = apply([_rule("4.2.1", hosts=("db-*",))], fleet, TODAY)
    assert out.unused and out.waived == 0


def test_an_expired_waiver_no_longer_applies_and_is_listed(fleet):
    old = _rule("4.2.1", expires=date(2027, 1, 9), origin="w.yaml:9")
    last_day = _rule("1.2.1", expires=TODAY, origin="w.yaml:20")       # expires is the last day it applies
    out = apply([old, last_day], fleet, TODAY)
    assert _waived(out) == {("cp-1", "1.2.1")}
    assert out.expired == (old.waiver,) and out.unused == ()
    assert out.expiring == (last_day.waiver,)


def test_unused_and_expiring(fleet):
    unused = _rule("4.2.2", origin="w.yaml:3")              # only a PASS: nothing to waive
    soon = _rule("4.1.1", expires=date(2027, 1, 24), origin="w.yaml:4")      # 14 days: expiring
    later = _rule("4.2.1", expires=date(2027, 1, 25), origin="w.yaml:5")     # 15 days: not yet
    out = apply([unused, soon, later], fleet, TODAY)
    assert out.unused == (unused.waiver,)
    assert out.expiring == (soon.waiver,)
    assert _waived(out) == {("worker-1", "4.1.1"), ("worker-1", "4.2.1"), ("worker-2", "4.2.1")}


def test_apply_is_pure_and_repeatable(fleet):
    out = apply([_rule("4.2")], fleet, TODAY)
    again = apply([], out.hosts, TODAY)                     # re-applied without rules: the marks go
    assert _waived(again) == set() and all(f.waiver is None for f in fleet[0].findings)


def test_the_report_counts_waived_fails_and_scores_both_ways(fleet):
    out = apply([_rule("4.2.1"), _rule("4.2.2", origin="w.yaml:7"), _rule("9.9", expires=date(2026, 1, 1))], fleet, TODAY)
    report = ScanReport(tool_version="t", benchmark=BENCH, catalog_digest="d", started=datetime(2027, 1, 10, tzinfo=UTC),
                        finished=datetime(2027, 1, 10, 0, 1, tzinfo=UTC), hosts=out.hosts, options={})
    data = build(report, waivers=out)
    s = to_dict(data)["summary"]
    assert (s["FAIL"], s["waived"], s["FAIL_waived"]) == (4, 2, 2)
    scored = [f for h in out.hosts for f in h.findings if f.control.scored and f.control.automated]
    passed = sum(f.status == Status.PASS for f in scored)
    failed = sum(f.status == Status.FAIL for f in scored)
    failed_unwaived = sum(f.status == Status.FAIL and f.waiver is None for f in scored)
    assert s["score"] == round(100 * passed / (passed + failed), 2)
    assert s["score_waived"] == round(100 * passed / (passed + failed_unwaived), 2)
    lists = to_dict(data)["waivers"]
    assert [w["origin"] for w in lists["unused"]] == ["w.yaml:7"]
    assert [w["expires"] for w in lists["expired"]] == ["2026-01-01"]
    r = to_dict(data)["hosts"][1]["results"][0]
    assert r["waiver"] == {"reason": "legacy CNI", "owner": "platform", "ticket": "OPS-1", "expires": "2027-06-30",
                           "origin": "w.yaml:2"}
    text = console_report.render(data)
    assert "[FAIL] 4.2.1" in text and "(waived: legacy CNI, platform, OPS-1, until 2027-06-30)" in text
    assert "waiver EXPIRED" in text and "waiver unused" in text and "4 FAIL (2 waived)" in text


# --------------------------------------------------------------------------- loading

GOOD = """\
waivers:
  - controls: ["4.2.1", "1.2.*", kubelet-anonymous-auth]
    hosts: worker-*
    roles: [node]
    groups: [legacy]
    clusters: [prod-*]
    reason: the legacy CNI needs it
    owner: platform-team
    ticket: OPS-1234
    expires: 2027-01-31
  - controls: "1.1"
    reason: r
    owner: o
    ticket: 12
    expires: "2027-02-01"
"""


def test_a_good_file_loads(tmp_path, catalog):
    path = tmp_path / "w.yaml"
    path.write_text(GOOD)
    first, second = load(path, catalog)
    assert first.controls == ("4.2.1", "1.2.*", "kubelet-anonymous-auth") and first.hosts == ("worker-*",)
    assert first.roles == ("worker",) and first.groups == ("legacy",) and first.clusters == ("prod-*",)
    assert first.waiver == Waiver("the legacy CNI needs it", "platform-team", "OPS-1234", date(2027, 1, 31), f"{path}:2")
    assert second.controls == ("1.1",) and second.waiver.expires == date(2027, 2, 1) and second.waiver.ticket == "12"


def _cluster(catalog: Catalog, name: str, *results: tuple[str, Status], benchmark: str = BENCH) -> ClusterScan:
    findings = tuple(ClusterFinding(control=_control(catalog, cid), status=st, expected="e", actual="2 objects",
                                    offending=("Pod/a/b",), offending_count=1, source="kubectl", remediation="r")
                     for cid, st in results)
    return ClusterScan(name=name, hosts=("cp-1",), status="ok", source_host="cp-1", tried=("cp-1",),
                       benchmark=benchmark, findings=findings)


def test_section_5_is_waived_per_cluster(fleet, catalog):
    """A cluster's section-5 results are waived by rules without a host scope, within ``clusters``
    and ``benchmarks``; a rule that picks hosts (hosts, roles, groups) never covers a cluster; on a
    host, ``clusters`` is the host's own cluster; PASS is never marked; what was used is not unused."""
    prod = _cluster(catalog, "prod", ("5.1.1", Status.FAIL), ("5.1.2", Status.WARN), ("5.1.3", Status.PASS))
    lab = _cluster(catalog, "lab", ("5.1.1", Status.FAIL))
    everywhere, prod_only, by_host = _rule("5.1.1", "5.1.2"), _rule("5.1.*", clusters=("prod*",)), _rule("5.1.1", hosts=("cp-*",))
    out = apply([everywhere], fleet, TODAY, (prod, lab))
    marked = {(c.name, f.control.id) for c in out.clusters for f in c.findings if f.waiver}
    assert marked == {("prod", "5.1.1"), ("prod", "5.1.2"), ("lab", "5.1.1")} and out.waived == 3
    assert [f.status for f in out.clusters[0].findings] == [Status.FAIL, Status.WARN, Status.PASS]   # the status stays
    out = apply([prod_only, by_host], fleet, TODAY, (prod, lab))
    assert {(c.name, f.control.id) for c in out.clusters for f in c.findings if f.waiver} == {("prod", "5.1.1"), ("prod", "5.1.2")}
    assert out.unused == (by_host.waiver,)
    assert not any(f.waiver for c in apply([_rule("5.1.1", benchmarks=("cis-1.9",))], (), TODAY, (prod,)).clusters
                   for f in c.findings)
    again = apply([], fleet, TODAY, out.clusters)          # re-applied without the rule: the mark goes
    assert not any(f.waiver for c in again.clusters for f in c.findings)
    in_prod = _scan(dataclasses.replace(_host("worker-5"), cluster="prod"), _finding(catalog, "4.2.1", Status.FAIL))
    out = apply([_rule("4.2.1", clusters=("prod",))], (*fleet, in_prod), TODAY)
    assert _waived(out) == {("worker-5", "4.2.1")}


def test_a_waived_cluster_fail_does_not_fail_the_run(catalog):
    """Reports say the cluster FAIL is waived (status kept) and the exit code ignores it."""
    from fleetbench.cli import exit_code
    from fleetbench.report.csv import render as render_csv
    from fleetbench.report.junit import render as render_junit

    prod = _cluster(catalog, "prod", ("5.1.1", Status.FAIL))
    report = ScanReport(tool_version="t", benchmark=BENCH, catalog_digest="d", started=datetime(2027, 1, 10, tzinfo=UTC),
                        finished=datetime(2027, 1, 10, tzinfo=UTC), hosts=(), options={}, clusters=(prod,))
    assert exit_code(build(report)) == 3
    out = apply([_rule("5.1.1")], (), TODAY, report.clusters)
    data = build(dataclasses.replace(report, clusters=out.clusters), waivers=out)
    assert exit_code(data) == 0 and not console_report.should_speak(data)
    result = to_dict(data)["clusters"][0]["results"][0]
    assert result["status"] == "FAIL" and result["waiver"]["ticket"] == "OPS-1"
    assert "5.1.1" in console_report.render_cluster(data.clusters[0], {}) and "(waived: legacy CNI" in \
        console_report.render_cluster(data.clusters[0], {})
    row = render_csv(data)["clusters.csv"].decode().splitlines()[1]
    assert row.endswith("true,legacy CNI,platform,OPS-1,2027-06-30,w.yaml:2")
    assert b'<skipped message="waived: legacy CNI' in render_junit(data)["junit.xml"]


BAD = [
    ("missing expires", "waivers:\n  - controls: [4.2.1]\n    reason: r\n    owner: o\n    ticket: t\n", 2, "missing key 'expires'"),
    ("bad date", "waivers:\n  - controls: [4.2.1]\n    reason: r\n    owner: o\n    ticket: t\n    expires: 31/01/2027\n",
     6, "'expires' must be a date such as 2027-01-31, got '31/01/2027'"),
    ("impossible date", "waivers:\n  - controls: [4.2.1]\n    reason: r\n    owner: o\n    ticket: t\n    expires: '2027-02-30'\n",
     6, "'expires' must be a date"),
    ("a time, not a date", "waivers:\n  - controls: [4.2.1]\n    reason: r\n    owner: o\n    ticket: t\n"
     "    expires: 2027-01-31 10:00:00\n", 6, "'expires' must be a date"),
    ("unknown key", "waivers:\n  - controls: [4.2.1]\n    reason: r\n    owner: o\n    ticket: t\n    expires: 2027-01-31\n"
     "    expiry: 2027-01-31\n", 7, "unknown key 'expiry'"),
    ("wrong type", "waivers:\n  - controls: {a: 1}\n    reason: r\n    owner: o\n    ticket: t\n    expires: 2027-01-31\n",
     2, "'controls' must be a name or a list of names, got a mapping"),
    ("empty reason", "waivers:\n  - controls: [4.2.1]\n    reason: ''\n    owner: o\n    ticket: t\n    expires: 2027-01-31\n",
     3, "'reason' must be a non-empty text"),
    ("a number that loses its name", "waivers:\n  - controls: [1.10]\n    reason: r\n    owner: o\n    ticket: t\n"
     "    expires: 2027-01-31\n", 2, "quote it"),
    ("a control no benchmark has", "waivers:\n  - controls: ['9.9.9']\n    reason: r\n    owner: o\n    ticket: t\n"
     "    expires: 2027-01-31\n", 2, "'9.9.9' matches no control"),
    ("unknown role", "waivers:\n  - controls: ['4.2.1']\n    roles: [db]\n    reason: r\n    owner: o\n    ticket: t\n"
     "    expires: 2027-01-31\n", 3, "unknown role 'db'"),
    ("not a list", "waivers:\n  controls: [4.2.1]\n", 1, "'waivers' must be a list"),
    ("no waivers key", "- controls: [4.2.1]\n", 1, "expected a mapping with the key 'waivers'"),
    ("NUL byte", "waivers:\n  - controls: [4.2.1]\n    reason: r\x00\n", 3, "control character #x0000"),
]


@pytest.mark.parametrize(("text", "line", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_files_name_file_and_line(tmp_path, catalog, text, line, message):
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load(path, catalog)
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_bad_file_exits_2_before_any_host_is_contacted(tmp_path, capsys):
    """One line on stderr, exit 2, nothing written (the inventory's host listens nowhere: never reached)."""
    path = tmp_path / "w.yaml"
    path.write_text(BAD[0][1])
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  a: {address: 127.0.0.1, port: 1, roles: [worker]}\n")
    out = tmp_path / "out"
    code = main(["scan", str(inventory), "--waivers", str(path), "--out-dir", str(out)])
    assert code == 2 and capsys.readouterr().err == (f"fleetbench: error: {path}:2: missing key 'expires' (every "
                                                     "waiver needs controls, reason, owner, ticket, expires)\n")
    assert not out.exists()
