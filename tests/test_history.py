"""The history database and drift rules on synthetic runs, against a real SQLite file.

The drift rules are pure (fleetbench/history/diff.py) and tested on hand-made snapshots; the
store is tested through real SQLite databases in tmp_path; the lab test (tests/e2e/
test_history_lab.py) covers the same path end to end over SSH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fleetbench import prometheus as P
from fleetbench.cli import main
from fleetbench.errors import HostError, HostStatus, UsageError
from fleetbench.history import diff as D
from fleetbench.history import migrations
from fleetbench.history import schema as S
from fleetbench.history import views as V
from fleetbench.history.advisory import AdvisoryLock
from fleetbench.history.store import GroupSpec, HistoryError, Store, default_path, describe, fleet_hosts, open_store, resolve_url, snapshot_of, waivers_of
from fleetbench.lock import LockHeld
from fleetbench.models import Catalog, HostScan, ScanReport, Waiver
from fleetbench.report import build, from_dict, to_dict
from fleetbench.report import html as html_report
from fleetbench.report.model import ClusterReport, ClusterResult
from fleetbench.shard import Shard

from .pg import PASSWORD, READER_PASSWORD, Server, new_database, pg_server  # noqa: F401
from .test_report import T0, _host, _scan

FIXTURES = Path(__file__).parent / "fixtures"

# --------------------------------------------------------------------------- drift rules (pure)

def _state(results: dict[str, str], waived: tuple[str, ...] = ()) -> D.HostState:
    return D.HostState(assessed=True, results={("cis-1.12", cis): D.Outcome(status, f"actual {cis}", cis in waived)
                                               for cis, status in results.items()})


DOWN = D.HostState(assessed=False, status="unreachable", reason="connection refused")


def _snap(run: str, hosts: dict[str, D.HostState]) -> D.Snapshot:
    return D.Snapshot(run_id=run, started=f"2026-11-2{run[-1]}T02:00:00+00:00", hosts=hosts)


def test_diff_rules():
    old = _snap("r1", {
        "a": _state({"1.1": "PASS", "1.2": "FAIL", "1.3": "PASS", "1.4": "FAIL", "1.5": "PASS", "1.6": "FAIL"}),
        "b": _state({"1.1": "FAIL"}),           # goes down: its FAIL is not resolved
        "c": DOWN,                              # comes back with a FAIL: new, before "not assessed"
        "gone": _state({"1.1": "FAIL"}),
    })
    new = _snap("r2", {
        "a": _state({"1.1": "FAIL", "1.2": "PASS", "1.3": "WARN", "1.4": "FAIL", "1.5": "FAIL", "1.7": "FAIL"},
                    waived=("1.5",)),          # 1.5 FAILs now, but a waiver accepts it; 1.6 is gone
        "b": DOWN,
        "c": _state({"1.1": "FAIL", "1.2": "PASS"}),
        "new": _state({"1.1": "FAIL", "1.2": "PASS"}),
    })
    d = D.diff(old, new)
    rows = {kind: [(c.host, c.id, c.before, c.after) for c in getattr(d, kind)]
            for kind in ("new_failures", "resolved", "changed")}
    assert rows["new_failures"] == [("a", "1.1", "PASS", "FAIL"), ("a", "1.7", "absent", "FAIL"),
                                    ("c", "1.1", "not assessed", "FAIL"), ("new", "1.1", "absent", "FAIL")]
    assert rows["resolved"] == [("a", "1.2", "FAIL", "PASS")]
    assert rows["changed"] == [("a", "1.3", "PASS", "WARN"), ("a", "1.5", "PASS", "FAIL"), ("a", "1.6", "FAIL", "absent")]
    assert d.hosts_added == ("new",) and d.hosts_removed == ("gone",)
    assert d.newly_not_assessed == (D.NotAssessed("b", "unreachable", "connection refused"),)
    assert D.new_failure_count(d) == 4 and D.new_failure_count(None) is None
    assert d.new_failures[0].actual == "actual 1.1"


def test_an_unchanged_run_has_no_drift_and_ids_sort_numerically():
    run = {"a": _state({"1.10": "FAIL", "1.2": "FAIL"}), "b": DOWN}
    d = D.diff(_snap("r1", run), _snap("r2", run))
    assert D.to_json(d)["new_failures"] == [] and d.changed == () and d.newly_not_assessed == ()
    first = D.first_run(_snap("r2", run))
    assert [c.id for c in first.new_failures] == ["1.2", "1.10"]
    assert D.to_json(first)["from"] == {"run": None, "started": None}


def test_counts_line_plurals():
    old = _snap("r1", {"a": _state({}), "b": _state({}), "c": _state({})})
    new = _snap("r2", {"a": DOWN, "b": DOWN, "d": _state({}), "e": _state({})})
    assert V.counts(D.diff(old, new)) == "0 new FAIL, 0 resolved, 2 hosts added, 1 host removed, 2 hosts newly not assessed"


def test_diff_json_shape_round_trips():
    d = D.diff(_snap("r1", {"a": _state({"1.1": "PASS"}), "b": _state({})}), _snap("r2", {"a": _state({"1.1": "FAIL"}), "b": DOWN}))
    data = D.to_json(d)
    assert data == {
        "from": {"run": "r1", "started": "2026-11-21T02:00:00+00:00"},
        "to": {"run": "r2", "started": "2026-11-22T02:00:00+00:00"},
        "new_failures": [{"host": "a", "id": "1.1", "benchmark": "cis-1.12", "before": "PASS", "after": "FAIL",
                          "actual": "actual 1.1"}],
        "resolved": [], "changed": [], "hosts_added": [], "hosts_removed": [],
        "newly_not_assessed": [{"host": "b", "status": "unreachable", "reason": "connection refused"}]}
    assert D.from_json(json.loads(json.dumps(data))) == d


def _cluster_state(statuses: dict[str, str]) -> D.HostState:
    return D.HostState(assessed=True, results={("", cid): D.Outcome(st, f"offending {cid}") for cid, st in statuses.items()})


def test_section_5_drifts_per_cluster_by_the_same_rules():
    """A cluster's section-5 verdicts are compared with the same cluster's last time: a new FAIL is
    new (and counts for --fail-on-new), a fixed one resolved; a cluster not assessed now, or not in the
    new run at all (a shard that does not decide it), is not compared; hosts are listed first."""
    down = D.HostState(assessed=False, status="not-assessed", reason="not assessed: API refused")
    old = D.Snapshot("r1", "2026-11-21T02:00:00+00:00", hosts={"a": _state({"1.1": "PASS"})},
                     clusters={"prod": _cluster_state({"5.1.1": "PASS", "5.1.2": "FAIL", "5.2.1": "PASS"}),
                               "dark": _cluster_state({"5.1.1": "FAIL"}), "other": _cluster_state({"5.1.1": "FAIL"})})
    new = D.Snapshot("r2", "2026-11-22T02:00:00+00:00", hosts={"a": _state({"1.1": "FAIL"})},
                     clusters={"prod": _cluster_state({"5.1.1": "FAIL", "5.1.2": "PASS", "5.2.1": "WARN"}),
                               "dark": down, "fresh": _cluster_state({"5.1.1": "FAIL", "5.1.2": "PASS"})})
    d = D.diff(old, new)
    rows = {kind: [(c.where, c.id, c.before, c.after) for c in getattr(d, kind)]
            for kind in ("new_failures", "resolved", "changed")}
    assert rows["new_failures"] == [("a", "1.1", "PASS", "FAIL"), ("cluster fresh", "5.1.1", "absent", "FAIL"),
                                    ("cluster prod", "5.1.1", "PASS", "FAIL")]
    assert rows["resolved"] == [("cluster prod", "5.1.2", "FAIL", "PASS")]
    assert rows["changed"] == [("cluster prod", "5.2.1", "PASS", "WARN")]
    assert D.new_failure_count(d) == 3 and d.hosts_added == () and d.hosts_removed == ()
    assert [c.where for c in D.first_run(new).new_failures] == ["a", "cluster fresh", "cluster prod"]
    data = D.to_json(d)
    assert data["new_failures"][1] == {"host": None, "cluster": "fresh", "id": "5.1.1", "benchmark": "", "before": "absent",
                                       "after": "FAIL", "actual": "offending 5.1.1"}
    assert "cluster" not in data["new_failures"][0]           # a host's change is written as it always was
    assert D.from_json(json.loads(json.dumps(data))) == d
    assert "cluster prod" in V.diff_table(d)


# --------------------------------------------------------------------------- the store (real SQLite)

def _report(catalog: Catalog, minutes: int, fails: dict[str, tuple[str, str, str]] | None = None,
            down: bool = False, inventory: str = "/srv/inv.yaml") -> ScanReport:
    start = T0 + timedelta(minutes=minutes)
    hosts = [replace(_scan(catalog, "cp-1", ("control-plane",), 1, ("master", "controlplane", "node")), started=start),
             replace(_scan(catalog, "worker-1", ("worker",), 2, ("node",), fails), started=start)]
    if down:
        hosts.append(HostScan(host=_host("down-1", ("worker",), 6), benchmark="cis-1.12", started=start, seconds=5.0,
                              error=HostError(HostStatus.UNREACHABLE, "connection refused by 127.79.1.6:22")))
    return ScanReport(tool_version="0.1.0", benchmark="cis-1.12", catalog_digest=catalog.digest, started=start,
                      finished=start + timedelta(seconds=7), hosts=tuple(hosts),
                      options={"targets": [], "check": [], "skip": [], "host_key_checking": True, "local": False,
                               "inventory": inventory, "limit": [], "ran_by": "cron@jump"})


def _sections(catalog: Catalog) -> dict[str, str]:
    return dict(catalog.benchmarks["cis-1.12"].sections)


def _store(tmp_path: Path):
    return open_store(f"sqlite:///{tmp_path / 'h.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store tests against a SQLite file and a new database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'h.db'}"
    server = request.getfixturevalue("pg_server")
    return resolve_url(server.url(new_database(server)), {})


def _sql(url: str, query: str) -> list[tuple[Any, ...]]:
    """Rows of a query, read beside the store (its own engine)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_a_stored_run_renders_again_identically(catalog, db_url):
    scan = _report(catalog, 0, {"4.1.5": ("FAIL", "644 root:root", "stat /etc/kubernetes/kubelet.conf")}, down=True)
    waiver = Waiver(reason="vendor image", owner="ops", ticket="OPS-1", expires=date(2027, 1, 31), origin="w.yaml:3")
    host = scan.hosts[1]
    pos = next(i for i, f in enumerate(host.findings) if f.control.id == "4.1.5")
    findings = list(host.findings)
    findings[pos] = replace(findings[pos], waiver=waiver)
    scan = replace(scan, hosts=(scan.hosts[0], replace(host, findings=tuple(findings)), scan.hosts[2]))
    data = build(scan, sections=_sections(catalog))
    fail = ClusterResult(id="5.1.1", check="5.1.1", title="t", status="FAIL", scored=True, automated=True,
                         actual="1 binding", offending=("ClusterRoleBinding/ops",), offending_count=1, reason="",
                         remediation="r")
    data = replace(data, clusters=(ClusterReport("prod", "ok", "cp-1", ("cp-1", "worker-1"), (fail,)),
                                   ClusterReport("dark", "not assessed: API refused", None, ("down-1",), ())))
    store = open_store(db_url)
    store.save(data, waivers_of(scan), "/srv/inv.yaml")
    assert to_dict(store.load(data.run_id)) == to_dict(data)
    snap = store.snapshot(data.run_id)
    assert snap == snapshot_of(data, waivers_of(scan))
    assert snap.clusters["prod"].results == {("", "5.1.1"): D.Outcome("FAIL", "1 binding")}    # section 5 drifts too
    assert not snap.clusters["dark"].assessed
    assert snap.hosts["worker-1"].results[("cis-1.12", "4.1.5")] == D.Outcome("FAIL", "644 root:root", True)
    row, = _sql(db_url, "SELECT waived, waiver_reason, waiver_owner, waiver_ticket, waiver_expires, waiver_origin "
                        "FROM results WHERE host = 'worker-1' AND id = '4.1.5'")
    assert row == (True, "vendor image", "ops", "OPS-1", "2027-01-31", "w.yaml:3")
    store.close()


def test_previous_trend_and_retention_per_inventory(catalog, db_url):
    store = open_store(db_url)
    runs = []
    for i, inventory in enumerate(["/a.yaml", "/b.yaml", "/a.yaml", "/a.yaml", "/b.yaml"]):
        data = build(_report(catalog, i, inventory=inventory))
        store.save(data, {}, inventory)
        runs.append(data)
    assert [r.run_id for r in store.runs()] == [r.run_id for r in reversed(runs)]
    assert store.previous("/a.yaml", runs[3].started).run_id == runs[2].run_id   # type: ignore[union-attr]
    hist = store.history(runs[3], "/a.yaml", store.snapshot(runs[3].run_id))
    assert [p.run for p in hist.trend] == [runs[0].run_id, runs[2].run_id, runs[3].run_id]
    assert hist.previous == D.RunRef(runs[2].run_id, runs[2].started)
    extra = build(_report(catalog, 9, inventory="/a.yaml"))
    deleted = store.save(extra, {}, "/a.yaml", keep=2)
    assert set(deleted) == {runs[0].run_id, runs[2].run_id}
    assert [r.run_id for r in store.runs()] == [extra.run_id, runs[4].run_id, runs[3].run_id, runs[1].run_id]
    left = {r[0] for r in _sql(db_url, "SELECT DISTINCT run_id FROM results")}
    assert left == {extra.run_id, runs[4].run_id, runs[3].run_id, runs[1].run_id}
    store.close()


def test_a_failed_write_leaves_the_previous_state(catalog, db_url):
    store = open_store(db_url)
    first = build(_report(catalog, 0))
    store.save(first, {}, "/a.yaml")
    count = "SELECT (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM hosts), (SELECT COUNT(*) FROM results)"
    before = _sql(db_url, count)
    broken = build(_report(catalog, 1))
    broken = replace(broken, hosts=(*broken.hosts, broken.hosts[0]))   # a host twice: the hosts insert fails
    with pytest.raises(HistoryError):
        store.save(broken, {}, "/a.yaml")
    assert [r.run_id for r in store.runs()] == [first.run_id]
    assert _sql(db_url, count) == before
    store.close()


def test_run_references(catalog, db_url):
    store = open_store(db_url)
    with pytest.raises(HistoryError, match="holds no run yet"):
        store.run("latest")
    a, b = build(_report(catalog, 0)), build(_report(catalog, 1))
    a = replace(a, run_id="aaaa11112222")
    b = replace(b, run_id="aaaa33334444")
    store.save(a, {}, None)
    store.save(b, {}, None)
    assert store.run("latest").run_id == b.run_id
    assert store.run("aaaa1").run_id == a.run_id and store.run(b.run_id).run_id == b.run_id
    with pytest.raises(UsageError, match="matches several runs"):
        store.run("aaaa")
    with pytest.raises(UsageError, match="no run 'ffff'"):
        store.run("ffff")
    with pytest.raises(UsageError, match="no run '%'"):
        store.run("%")                       # LIKE wildcards are escaped
    store.close()


def test_database_location_and_url():
    assert default_path({"XDG_DATA_HOME": "/x"}) == Path("/x/fleetbench/history.db")
    assert default_path({}) == Path.home() / ".local/share/fleetbench/history.db"
    assert resolve_url(None, {"XDG_DATA_HOME": "/x"}) == "sqlite:////x/fleetbench/history.db"
    assert resolve_url(None, {"FLEETBENCH_DB": "/y/h.db"}) == "sqlite:////y/h.db"
    assert resolve_url("/z/h.db", {"FLEETBENCH_DB": "/y/h.db"}) == "sqlite:////z/h.db"
    assert resolve_url("sqlite:////z/h.db", {}) == "sqlite:////z/h.db"
    for given in ("postgresql://fb@db.example/fleet", "postgres://fb@db.example/fleet",
                  "postgresql+psycopg://fb@db.example/fleet"):
        assert resolve_url(given, {}) == "postgresql+psycopg://fb@db.example/fleet"
        assert resolve_url(None, {"FLEETBENCH_DB": given}) == "postgresql+psycopg://fb@db.example/fleet"
    assert resolve_url("postgresql:///fleet", {}) == "postgresql+psycopg:///fleet"    # host, user: libpq's PG* defaults
    url = resolve_url("postgresql://fb:pw%40x@db.example:5433/fleet?sslmode=require", {})
    assert make_url(url).password == "pw@x"
    assert describe(url) == "postgresql://fb@db.example:5433/fleet?sslmode=require"
    with pytest.raises(UsageError, match="unsupported PostgreSQL driver 'postgresql\\+psycopg2://'"):
        resolve_url("postgresql+psycopg2://fb@db.example/fleet", {})
    with pytest.raises(UsageError, match="FLEETBENCH_DB: unsupported database URL scheme 'mysql://'"):
        resolve_url(None, {"FLEETBENCH_DB": "mysql://x/y"})


def test_open_refuses_newer_and_foreign_databases(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    open_store(url).close()
    with sqlite3.connect(tmp_path / "h.db") as conn:
        assert conn.execute("SELECT version FROM fleetbench_schema").fetchall() == [(S.SCHEMA_VERSION,)]
        conn.execute("UPDATE fleetbench_schema SET version = ?", (S.SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(HistoryError, match=rf"newer fleetbench \(database schema {S.SCHEMA_VERSION + 1}; "
                                           rf"this fleetbench knows up to {S.SCHEMA_VERSION}\)"):
        open_store(url)
    foreign = tmp_path / "f.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE runs (x INTEGER)")
    conn.close()
    with pytest.raises(HistoryError, match="no schema version"):
        open_store(f"sqlite:///{foreign}")
    with pytest.raises(HistoryError, match="no history database here yet"):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_cli_flags_that_need_the_database(tmp_path, capsys):
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  n1: {address: 127.0.0.1, roles: [worker]}\n")
    for extra, flag in ((["--no-db", "--fail-on-new"], "--fail-on-new"), (["--baseline", "latest"], "--baseline"),
                        (["--no-db", "--keep", "3"], "--keep")):
        assert main(["scan", str(inv), "--out-dir", str(tmp_path / "out"), *extra]) == 2
        err = capsys.readouterr().err
        assert flag in err and len(err.strip().splitlines()) == 1
    assert main(["scan", str(inv), "--db", "mysql://x/y", "--out-dir", str(tmp_path / "out")]) == 2
    assert "--db: unsupported database URL scheme 'mysql://'" in capsys.readouterr().err


def test_a_version_1_database_file_is_migrated(catalog, tmp_path):
    """tests/fixtures/history-v1.db was written by fleetbench before run groups (schema 1): opening it
    for a scan adds the run-group tables in one step, and its run reads back as before."""
    path = tmp_path / "h.db"
    shutil.copy(FIXTURES / "history-v1.db", path)
    url = f"sqlite:///{path}"
    with pytest.raises(HistoryError, match="has schema 1, older than this fleetbench's 2: run a scan to migrate it first"):
        open_store(url, create=False)
    assert _sql(url, "SELECT version FROM fleetbench_schema") == [(1,)]        # refused, not touched
    store = open_store(url)
    assert _sql(url, "SELECT version FROM fleetbench_schema") == [(S.SCHEMA_VERSION,)]
    [old] = store.runs()
    assert old.run_id == "v1run0000001" and old.group is None and old.counts["FAIL"] >= 1
    report = store.load(old.run_id)
    assert [h.name for h in report.hosts] == ["cp-1", "worker-1", "down-1"] and report.run_group is None
    nxt = build(_report(catalog, 5, inventory="/srv/inv.yaml"))
    store.save(nxt, {}, "/srv/inv.yaml")
    assert store.previous("/srv/inv.yaml", nxt.started).run_id == old.run_id   # type: ignore[union-attr]
    store.close()


def test_processes_opening_a_new_database_together_all_get_it(db_url: str) -> None:
    """Shards started together on a new database (jump hosts on one cron schedule; 16 here) each open
    it: its tables are made once, and no opener fails because another made them first (on
    PostgreSQL the second one failed with 'type "run_groups" already exists')."""
    import threading

    openers = 16
    barrier = threading.Barrier(openers)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            open_store(db_url).close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(openers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _sql(db_url, f"SELECT version FROM {S.schema_version.name}") == [(S.SCHEMA_VERSION,)]


def test_migration_steps_on_postgresql(catalog, pg_server: Server):
    """The same steps on PostgreSQL: a database at schema 1 (its step alone) with a run is brought to
    the current schema by open_store, its run intact."""
    url = resolve_url(pg_server.url(new_database(pg_server)), {})
    engine = create_engine(url)
    with engine.begin() as conn:
        number, step = migrations.MIGRATIONS[0]
        migrations.apply(conn, number, step, None)
    old = build(_report(catalog, 0, down=True))
    Store(engine, "v1").save(old, {}, "/a.yaml")
    engine.dispose()
    assert _sql(url, "SELECT version FROM fleetbench_schema") == [(1,)]
    store = open_store(url)
    assert _sql(url, "SELECT version FROM fleetbench_schema") == [(S.SCHEMA_VERSION,)]
    assert to_dict(store.load(old.run_id)) == to_dict(old)
    assert _sql(url, "SELECT COUNT(*) FROM run_groups") == [(0,)]
    store.close()


# --------------------------------------------------------------------------- HTML and Prometheus

def _with_history(catalog: Catalog, tmp_path: Path) -> Any:
    store = _store(tmp_path)
    first = build(_report(catalog, 0), sections=_sections(catalog))
    store.save(first, {}, "/a.yaml")
    scan = _report(catalog, 1, {"4.1.5": ("FAIL", "666 root:root", "stat /etc/kubernetes/kubelet.conf")}, down=True)
    data = build(scan, sections=_sections(catalog))
    data = replace(data, history=store.history(data, "/a.yaml", snapshot_of(data, {})))
    store.close()
    return data


def test_html_since_previous_and_trend(catalog, tmp_path):
    data = _with_history(catalog, tmp_path)
    assert from_dict(to_dict(data)) == data
    page = html_report.render_html(data)
    section = page[page.index('<section id="since-previous">'):]
    section = section[:section.index("</section>")]
    assert "<b>1 new FAIL</b>" in section and "666 root:root" in section and "1 host added" in section
    assert section.count("<circle") == 2 and "<polyline" in section
    trend = html_report.trend_view(data.history)
    assert trend is not None and trend.points[0][1] < trend.points[1][1]        # 100 % first, lower (further down) now
    nothing = replace(data.history.trend[0], passed=0, failed=0)
    gap = html_report.trend_view(replace(data.history, trend=(nothing, *data.history.trend)))
    assert gap is not None and len(gap.points) == 2            # no made-up point for a run with nothing scored


def test_prometheus_textfile(catalog, tmp_path):
    data = _with_history(catalog, tmp_path)
    path = tmp_path / "fb.prom"
    P.write(path, data, 1)
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    assert families["fleetbench_new_failures"].samples[0].value == 1
    assert families["fleetbench_hosts_not_assessed"].samples[0].value == 1
    assert {s.labels["host"]: s.value for s in families["fleetbench_host_assessed"].samples} == \
        {"cp-1": 1, "worker-1": 1, "down-1": 0}
    fails = {s.labels["host"]: s.value for s in families["fleetbench_host_results"].samples if s.labels["status"] == "FAIL"}
    assert fails == {"cp-1": 0, "worker-1": 1}
    assert families["fleetbench_last_run_duration_seconds"].samples[0].value == 7
    assert "fleetbench_new_failures" not in P.render(data, None).decode()


def test_a_database_failing_after_the_scan_still_leaves_the_reports(catalog, tmp_path, capsys, monkeypatch):
    """Checked before the scan, the database can still be taken by another process during it: the
    reports are written all the same, one line says why the run is not recorded, exit 2."""
    from fleetbench import cli
    from fleetbench.history import store as store_module
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.2)
    store = _store(tmp_path)
    holder = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    args = argparse.Namespace(no_color=True, verbose=False, quiet=True, format=["json"], out_dir=str(tmp_path / "out"),
                              flat=True, fail_on_new=True, keep=None, prometheus=None, baseline_run=None)
    try:
        code = cli._emit(_report(catalog, 0), catalog, args, None, store=store, inventory="/a.yaml").code
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "locked by another process" in err and "the reports were written" in err
    assert "history" not in json.loads((tmp_path / "out" / "report.json").read_text())
    assert open_store(f"sqlite:///{tmp_path / 'h.db'}").runs() == []


# --------------------------------------------------------------------------- PostgreSQL refusals (real server)

def test_postgresql_refusals_name_the_database_without_its_password(pg_server: Server, tmp_path, capsys):
    """Wrong password, missing database, no server, a role that may only read, a newer schema: one
    line each, exit 2, the URL without its password, before any host is contacted."""
    name = new_database(pg_server)
    open_store(resolve_url(pg_server.url(name), {})).close()          # the tables exist: the reader sees them
    listener = socket.socket()                                           # a "host": must see no connection
    listener.bind(("127.83.1.1", 0))
    listener.listen()
    listener.setblocking(False)
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"hosts:\n  n1: {{address: 127.83.1.1, port: {listener.getsockname()[1]}, roles: [worker]}}\n")
    closed = socket.socket()
    closed.bind(("127.83.255.1", 0))                                     # a port nothing listens on
    cases = [
        (pg_server.url(name, password="wrong-" + PASSWORD), "password authentication failed", "cannot log in"),
        (pg_server.url("nosuchdb"), 'database "nosuchdb" does not exist', "no such database"),
        (f"postgresql://fleet:{PASSWORD}@127.83.255.1:{closed.getsockname()[1]}/{name}", "refused",
         "cannot reach the database server"),
        (pg_server.url(name, user="reader", password=READER_PASSWORD), "permission denied", "may not write"),
    ]
    try:
        for url, said, what in cases:
            code = main(["scan", str(inv), "--db", url, "--out-dir", str(tmp_path / "out"), "--log-json", str(tmp_path / "l.json")])
            err = capsys.readouterr().err
            assert code == 2, err
            assert len(err.strip().splitlines()) == 1 and said in err and what in err, err
            assert describe(resolve_url(url, {})) in err and PASSWORD not in err and READER_PASSWORD not in err
            with pytest.raises(BlockingIOError):
                listener.accept()
        assert not (tmp_path / "out").exists() and not (tmp_path / "l.json").exists()
        # the reader may read (history, diff, report take the database as it is) ...
        assert main(["history", "--db", pg_server.url(name, user="reader", password=READER_PASSWORD)]) == 0
        assert "no runs in postgresql://reader@" in capsys.readouterr().out
        # ... and a schema newer than ours is refused, never touched
        engine = create_engine(resolve_url(pg_server.url(name), {}))
        with engine.begin() as conn:
            conn.execute(text("UPDATE fleetbench_schema SET version = version + 1"))
        engine.dispose()
        with pytest.raises(HistoryError, match=r"written by a newer fleetbench"):
            open_store(resolve_url(pg_server.url(name), {}))
    finally:
        listener.close()
        closed.close()


def test_postgresql_credentials_from_pgpassfile(pg_server: Server, tmp_path, monkeypatch, capsys):
    """A URL without a password: libpq reads PGPASSFILE (or ~/.pgpass), as psql does."""
    name = new_database(pg_server)
    url = pg_server.url(name, password=None)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{pg_server.host}:{pg_server.port}:{name}:fleet:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("FLEETBENCH_DB", url)
    open_store(resolve_url(url, {})).close()
    assert main(["history"]) == 0
    assert capsys.readouterr().out.strip() == f"no runs in {url} yet"
    passfile.write_text("")
    assert main(["history"]) == 2
    err = capsys.readouterr().err
    assert "fleetbench: error: FLEETBENCH_DB" not in err and err.startswith(f"fleetbench: error: {url}: ")


# --------------------------------------------------------------------------- run groups (SQLite and PostgreSQL)

def _shard_report(catalog: Catalog, minutes: int, group: str, shard: Shard,
                  fails: dict[str, tuple[str, str, str]] | None = None) -> tuple[ScanReport, list[dict[str, Any]]]:
    """A shard's scan (cp-1 and worker-1 are shard 2/2, down-1 is 1/2) and the fleet's host list."""
    full = _report(catalog, minutes, fails, down=True)
    mine = tuple(h for h in full.hosts if shard.holds(h.host.name))
    return (replace(full, hosts=mine, options={**full.options, "shard": str(shard), "run_group": group}),
            fleet_hosts([h.host for h in full.hosts], shard.count))


def test_run_group_shards_replace_refuse_and_render_the_fleet(catalog, db_url):
    store = open_store(db_url)
    two = GroupSpec("night-1", Shard(2, 2))
    scan, fleet = _shard_report(catalog, 0, "night-1", two.shard)
    store.join_group(two, "/a.yaml", fleet)
    first = build(scan)
    assert first.group_text == "shard 2/2 of run group night-1"
    assert store.save(first, {}, "/a.yaml", group=two) == ()
    group = store.group("night-1")
    assert group.missing == (1,) and group.shards == 2 and [h["name"] for h in group.hosts] == ["cp-1", "worker-1", "down-1"]
    data = store.group_report(group)
    assert [(h.name, h.status, h.error) for h in data.hosts][2] == ("down-1", "not-reported", "shard 1/2 did not report")
    assert data.summary.hosts == 3 and data.summary.hosts_not_assessed == 1 and data.run_id == "night-1"
    assert to_dict(data)["run_group"] == {"name": "night-1", "shards": 2, "created": group.created, "missing": [1],
                                          "reported": [{"shard": 2, "run": first.run_id, "ran_by": "cron@jump",
                                                        "started": first.started}]}
    assert data.group_text == "run group night-1 of 2 shards: shard 1/2 did not report"
    assert from_dict(to_dict(data)) == data
    # a re-run of shard 2 replaces its run, in the same transaction
    again = build(_shard_report(catalog, 1, "night-1", two.shard, {"4.1.5": ("FAIL", "600 x:y", "stat k")})[0])
    assert store.save(again, {}, "/a.yaml", group=two) == (first.run_id,)
    assert [r.run_id for r in store.runs()] == [again.run_id]
    assert _sql(db_url, f"SELECT COUNT(*) FROM results WHERE run_id = '{first.run_id}'") == [(0,)]
    worker = next(h for h in store.group_report(store.group("night-1")).hosts if h.name == "worker-1")
    assert next(r for r in worker.results if r.id == "4.1.5").actual == "600 x:y"
    # shards that disagree with the group are refused before they scan
    with pytest.raises(HistoryError, match=r"run group 'night-1' has 2 shards .* --shard 1/3"):
        store.join_group(GroupSpec("night-1", Shard(1, 3)), "/a.yaml", fleet_hosts([h.host for h in scan.hosts], 3))
    with pytest.raises(HistoryError, match=r"recorded with 3 hosts and this inventory \(after --limit\) has 2: "
                                           r"1 of its hosts are not in this inventory \(down-1\)"):
        store.join_group(GroupSpec("night-1", Shard(1, 2)), "/a.yaml", fleet[:2])
    # the other shard reports: every host once; a later group is compared with this one
    one = GroupSpec("night-1", Shard(1, 2))
    store.join_group(one, "/a.yaml", fleet)
    store.save(build(_shard_report(catalog, 2, "night-1", one.shard)[0]), {}, "/a.yaml", group=one)
    whole = store.group_report(store.group("night-1"))
    assert [h.name for h in whole.hosts] == ["cp-1", "worker-1", "down-1"] and whole.run_group["missing"] == []
    assert whole.hosts[2].status == "unreachable"
    later = GroupSpec("night-2", Shard(2, 2))
    store.join_group(later, "/a.yaml", fleet)
    store.save(build(_shard_report(catalog, 3, "night-2", later.shard)[0]), {}, "/a.yaml", group=later)
    new = store.group("night-2")
    prev = store.previous_group(new)
    assert prev is not None and prev.name == "night-1"
    d = D.diff(store.group_snapshot(prev), store.group_snapshot(new))
    assert [(c.host, c.id, c.before, c.after) for c in d.resolved] == [("worker-1", "4.1.5", "FAIL", "PASS")]
    assert d.newly_not_assessed == ()               # down-1 was not assessed before either
    assert store.group_snapshot(new).hosts["down-1"] == D.HostState(False, "not-reported", "shard 1/2 did not report")
    # plain runs of the same inventory never compare with a shard
    plain = build(_report(catalog, 9, inventory="/a.yaml"))
    assert store.history(plain, "/a.yaml", snapshot_of(plain, {})).previous is None
    store.save(plain, {}, "/a.yaml")
    assert [(r.group, r.shard) for r in store.runs()][:2] == [(None, None), ("night-2", "2/2")]
    store.close()


def test_shard_flags_and_an_empty_shard_on_sqlite(tmp_path, capsys):
    """cp-1 hashes to shard 2/2, so shard 1/2 of this inventory is empty: it still runs, reports and is
    recorded (no host contacted), and the group's report lists cp-1 as not reported."""
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  cp-1: {address: 127.83.9.9, roles: [worker]}\n")
    db, out = str(tmp_path / "h.db"), str(tmp_path / "out")
    for extra, said in ((["--db", db, "--shard", "3/2", "--run-group", "g"], "--shard: expected I/N with 1 ≤ I ≤ N"),
                        (["--db", db, "--shard", "1/2"], "--shard: a shard recorded in the history database belongs to a run group"),
                        (["--run-group", "g", "--no-db"], "--run-group: needs the history database"),
                        (["--db", db, "--run-group", "a/b"], "--run-group: expected a name of letters"),
                        (["--db", db, "--run-group", "g", "--keep", "2"], "--keep: applies to plain runs")):
        assert main(["scan", str(inv), "--out-dir", out, *extra]) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
    assert main(["scan", str(inv), "--db", db, "--out-dir", out, "--flat", "--shard", "1/2", "--run-group", "g"]) == 0
    console = capsys.readouterr().out
    assert "0/0 hosts assessed" in console and "shard 1/2 of run group g" in console
    assert main(["report", "--db", db, "--run-group", "g", "--out-dir", out, "--flat"]) == 0
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(h["name"], h["status"], h["error"]) for h in data["hosts"]] == [("cp-1", "not-reported", "shard 2/2 did not report")]
    assert data["run_group"]["missing"] == [2] and data["summary"]["hosts_not_assessed"] == 1
    assert main(["report", "--db", db, "--out-dir", out]) == 2
    assert "give a RUN" in capsys.readouterr().err


def test_postgresql_run_lock_per_inventory(pg_server: Server):
    """The advisory lock: one holder per key, named in the refusal; another key is free; released on exit."""
    engine = create_engine(resolve_url(pg_server.url(new_database(pg_server)), {}))
    try:
        with AdvisoryLock(engine, "inventory /a.yaml", "db", "run000000001"):
            with pytest.raises(LockHeld) as held, AdvisoryLock(engine, "inventory /a.yaml", "db", "run000000002"):
                pass
            assert held.value.holder is not None and held.value.holder.pid == os.getpid()
            assert held.value.holder.run_id == "run000000001"
            assert str(held.value).startswith("another fleetbench run holds the run lock of inventory /a.yaml in db: "
                                              f"process {os.getpid()} on ")
            with AdvisoryLock(engine, "inventory /b.yaml", "db"):
                pass
        with AdvisoryLock(engine, "inventory /a.yaml", "db"):
            pass
    finally:
        engine.dispose()
