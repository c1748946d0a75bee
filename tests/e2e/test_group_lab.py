"""End to end: two "jump hosts" (two processes) scan the halves of the lab into ONE PostgreSQL run group.

The lab (127.83.0.x, real sshd): cp-1 and worker-1 hash to shard 2/2, worker-3 to shard 1/2. The
database is the session's real PostgreSQL server (tests/pg.py). Checked here: both shards written at
the same moment land; `report --run-group` equals an unsharded scan control by control; a shard that
never reports leaves its hosts not assessed with the reason; a re-run shard replaces its run;
`diff --run-group` and `--fail-on-new` on groups; the run lock of a shard (exit 5); the password is
never printed, logged or written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from fleetbench.cli import main
from fleetbench.history.advisory import AdvisoryLock
from fleetbench.history.store import resolve_url
from fleetbench.shard import shard_of
from tests.lab import Lab
from tests.lab.kubeapi import running_api
from tests.lab.scenarios import drifted_worker, kubeadm_control_plane, kubeadm_worker
from tests.pg import PASSWORD, Server, new_database, pg_server  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(),
                                reason="openssh-server is not installed (make test installs it)")

OCTETS = "127.83.0."
CHANGED_FILE = "/etc/kubernetes/kubelet.conf"      # 4.1.5 on worker-3 (shard 1/2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    cp = f"{OCTETS}10"
    specs = [kubeadm_control_plane("cp-1", address=cp), drifted_worker("worker-1", api_server=cp),
             kubeadm_worker("worker-3", api_server=cp)]
    assert [shard_of(s.name, 2) for s in specs] == [2, 2, 1]
    with running_api("127.83.1.1") as api:
        specs[0] = kubeadm_control_plane("cp-1", address=cp, api_url=api.url)
        with Lab(tmp_path_factory.mktemp("lab"), specs, first_octets=OCTETS) as running:
            yield running


def _scan_argv(lab: Lab, out: Path, *extra: str) -> list[str]:
    return ["scan", str(lab.inventory_path), "--out-dir", str(out), "--format", "json,html", "--flat", *extra]


def _controls(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    return [(h["name"], h["benchmark"], r["id"], r["status"], r["actual"]) for h in report["hosts"] for r in h["results"]]


@pytest.fixture(scope="module")
def fleet(lab, pg_server: Server, tmp_path_factory):
    """An unsharded scan (no database), then both shards of group night-1 at the same time (shard 2 with --workers 2)."""
    tmp = tmp_path_factory.mktemp("group")
    url = pg_server.url(new_database(pg_server))
    assert main([*_scan_argv(lab, tmp / "plain", "--no-db"), "--quiet"]) == 3
    env = {**os.environ, "FLEETBENCH_DB": url}
    procs = [subprocess.Popen([sys.executable, "-m", "fleetbench", *_scan_argv(lab, tmp / f"shard{i}", "--shard", f"{i}/2",
                                                                           "--run-group", "night-1", "--log-json",
                                                                           str(tmp / f"log{i}.json"),
                                                                           # shard 2 (two hosts) in two worker processes, forked
                                                                           # with the database connection and its lock open
                                                                           "--workers", str(i))],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    return {"tmp": tmp, "url": url, "codes": [p.returncode for p in procs], "outs": outs,
            "plain": json.loads((tmp / "plain" / "report.json").read_text())}


def _group_report(fleet, name: str, capsys, out: str = "report") -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", "--db", fleet["url"], "--run-group", name, "--out-dir", str(fleet["tmp"] / out), "--flat",
                 "--format", "json,html,csv"]) == 0
    return json.loads((fleet["tmp"] / out / "report.json").read_text())


def test_two_concurrent_shards_make_the_unsharded_report(fleet, capsys):
    assert fleet["codes"] == [3, 3], fleet["outs"]
    for i, (stdout, _) in enumerate(fleet["outs"], 1):
        assert f"shard {i}/2 of run group night-1" in stdout
        assert f"as shard {i}/2 of run group night-1" in stdout
    own = json.loads((fleet["tmp"] / "shard1" / "report.json").read_text())
    assert [h["name"] for h in own["hosts"]] == ["worker-3"]
    assert own["run_group"] == {"name": "night-1", "shards": 2, "shard": 1}
    whole = _group_report(fleet, "night-1", capsys)
    assert _controls(whole) == _controls(fleet["plain"])
    assert [h["name"] for h in whole["hosts"]] == [h["name"] for h in fleet["plain"]["hosts"]]
    assert [(c["name"], c["status"]) for c in whole["clusters"]] == [(c["name"], c["status"]) for c in fleet["plain"]["clusters"]]
    group = whole["run_group"]
    assert group["missing"] == [] and [r["shard"] for r in group["reported"]] == [1, 2]
    assert {k: whole["summary"][k] for k in ("PASS", "FAIL", "WARN", "INFO", "hosts", "hosts_assessed")} == \
        {k: fleet["plain"]["summary"][k] for k in ("PASS", "FAIL", "WARN", "INFO", "hosts", "hosts_assessed")}
    console = capsys.readouterr().out
    assert "run group night-1 of 2 shards: every shard reported" in console
    page = (fleet["tmp"] / "report" / "report.html").read_text()
    assert '<dd id="run-group">run group night-1 of 2 shards: every shard reported</dd>' in page
    capsys.readouterr()
    assert main(["history", "--db", fleet["url"]]) == 0
    table = capsys.readouterr().out
    assert table.count("night-1") == 2 and "1/2" in table and "2/2" in table


def test_a_missing_shard_a_rerun_and_fail_on_new_across_groups(lab, fleet, capsys):
    """night-2: only shard 1 reports (twice: the second replaces the first, after worker-3 drifted)."""
    argv = _scan_argv(lab, fleet["tmp"] / "n2", "--db", fleet["url"], "--shard", "1/2", "--run-group", "night-2",
                      "--fail-on-new", "--quiet")
    assert main(argv) == 0                             # the same FAILs on worker-3 as in night-1
    before = lab.run_in_node("worker-3", ["stat", "-c", "%a", CHANGED_FILE]).stdout.strip()
    assert lab.run_in_node("worker-3", ["chmod", "666", CHANGED_FILE]).returncode == 0
    try:
        assert main(argv) == 3                         # one new FAIL of this shard's host against night-1
    finally:
        lab.run_in_node("worker-3", ["chmod", before, CHANGED_FILE])
    capsys.readouterr()
    assert main(["history", "--db", fleet["url"], "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["run_group"], r["shard"]) for r in runs].count(("night-2", "1/2")) == 1     # replaced, not added
    whole = _group_report(fleet, "night-2", capsys, out="n2report")
    assert [(h["name"], h["status"], h["error"]) for h in whole["hosts"] if h["status"] != "ok"] == \
        [("cp-1", "not-reported", "shard 2/2 did not report"), ("worker-1", "not-reported", "shard 2/2 did not report")]
    assert whole["run_group"]["missing"] == [2] and whole["summary"]["hosts_not_assessed"] == 2
    w3 = next(h for h in whole["hosts"] if h["name"] == "worker-3")
    assert next(r for r in w3["results"] if r["id"] == "4.1.5")["actual"].startswith("666")
    assert "shard 2/2 did not report" in capsys.readouterr().out
    assert main(["diff", "--db", fleet["url"], "--run-group", "night-2", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["from"]["run"] == "night-1" and d["to"]["run"] == "night-2"
    assert [(c["host"], c["id"], c["before"], c["after"]) for c in d["new_failures"]] == [("worker-3", "4.1.5", "PASS", "FAIL")]
    assert d["newly_not_assessed"] == [{"host": h, "status": "not-reported", "reason": "shard 2/2 did not report"}
                                       for h in ("cp-1", "worker-1")]
    assert main(["diff", "--db", fleet["url"], "--run-group", "night-2", "--run-group", "night-1"]) == 0
    assert capsys.readouterr().out.startswith("from run group night-2 (")


def test_shards_that_disagree_and_the_shard_lock(lab, fleet, capsys):
    capsys.readouterr()
    assert main(_scan_argv(lab, fleet["tmp"] / "bad", "--db", fleet["url"], "--shard", "1/3", "--run-group", "night-1")) == 2
    err = capsys.readouterr().err
    assert "run group 'night-1' has 2 shards" in err and len(err.strip().splitlines()) == 1
    assert main(_scan_argv(lab, fleet["tmp"] / "bad", "--db", fleet["url"], "--shard", "1/2", "--run-group", "night-1",
                           "--limit", "cp-1,worker-3")) == 2
    assert "recorded with 3 hosts and this inventory (after --limit) has 2" in capsys.readouterr().err
    assert not (fleet["tmp"] / "bad").exists()
    engine = create_engine(resolve_url(fleet["url"], {}))
    try:
        with AdvisoryLock(engine, "shard 2/2 of run group night-3", "test", "holder123456"):
            assert main(_scan_argv(lab, fleet["tmp"] / "locked", "--db", fleet["url"], "--shard", "2/2",
                                   "--run-group", "night-3")) == 5
            err = capsys.readouterr().err
            assert "shard 2/2 of run group night-3" in err and f"process {os.getpid()}" in err and "holder123456" in err
            # another shard of the same group is not held up
            assert main([*_scan_argv(lab, fleet["tmp"] / "other", "--db", fleet["url"], "--shard", "1/2",
                                     "--run-group", "night-3"), "--quiet"]) == 3
    finally:
        engine.dispose()


def test_the_password_is_never_printed_logged_or_stored(fleet, capsys):
    assert PASSWORD in fleet["url"]
    for stdout, stderr in fleet["outs"]:
        assert PASSWORD not in stdout + stderr
    for path in fleet["tmp"].rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path
    capsys.readouterr()
    assert main(["history", "--db", fleet["url"], "--format", "json"]) == 0
    assert PASSWORD not in capsys.readouterr().out
