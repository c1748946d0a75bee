"""End to end: scheduled audits over the loopback lab with a real SQLite history database.

Scan; rescan unchanged (--fail-on-new exits 0); change one node (a file mode on worker-1);
scan again: exactly one new failure in `fleetbench diff`, in the HTML "since the previous run"
section, in the Prometheus file, and --fail-on-new exits 3. `fleetbench report RUN` gives back the
scan's own JSON. A corrupted, a newer-schema and a read-only database stop the scan with one line,
exit 2, before any host is contacted, and stay byte for byte as they were.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetbench.cli import main
from tests.lab import Lab, default_specs
from tests.lab.kubeapi import running_api

pytestmark = pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(),
                                reason="openssh-server is not installed (make test installs it)")

CHANGED_FILE = "/etc/kubernetes/kubelet.conf"      # 4.1.5: 600 or more restrictive


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_api("127.78.21.1") as api, \
            Lab(tmp_path_factory.mktemp("lab"), default_specs("127.78.20.10", api_url=api.url), first_octets="127.78.20.") as running:
        yield running


def _scan(lab, db: Path, out: Path, *extra: str) -> int:
    return main(["scan", str(lab.inventory_path), "--db", str(db), "--out-dir", str(out), "--format", "json,html",
                 "--quiet", *extra])


@pytest.fixture(scope="module")
def drift(lab, tmp_path_factory):
    """Three runs: baseline, unchanged rescan, rescan after worker-1's kubelet.conf became 0666."""
    tmp = tmp_path_factory.mktemp("history")
    db, out, prom = tmp / "history.db", tmp / "reports", tmp / "fleetbench.prom"
    codes = [_scan(lab, db, out, "--fail-on-new")]
    codes.append(_scan(lab, db, out, "--fail-on-new"))
    before = lab.run_in_node("worker-1", ["stat", "-c", "%a", CHANGED_FILE]).stdout.strip()
    assert lab.run_in_node("worker-1", ["chmod", "666", CHANGED_FILE]).returncode == 0
    console = io.StringIO()
    try:
        with contextlib.redirect_stdout(console):
            codes.append(_scan(lab, db, out, "--fail-on-new", "--prometheus", str(prom)))
    finally:
        lab.run_in_node("worker-1", ["chmod", before, CHANGED_FILE])
    return {"codes": codes, "db": db, "out": out, "prom": prom, "tmp": tmp, "console": console.getvalue()}


def test_fail_on_new_exit_codes(drift):
    first, unchanged, changed = drift["codes"]
    assert first == 3            # no earlier run: every FAIL of the lab is new
    assert unchanged == 0        # the same FAILs as last night: cron stays quiet
    assert changed == 3          # the one new FAIL fails the job


def test_diff_json_shows_exactly_one_new_failure(drift, capsys):
    capsys.readouterr()
    assert main(["diff", "--db", str(drift["db"]), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["new_failures"] == [{"host": "worker-1", "id": "4.1.5", "benchmark": "cis-1.11", "before": "PASS",
                                  "after": "FAIL", "actual": d["new_failures"][0]["actual"]}]
    assert d["new_failures"][0]["actual"].startswith("666")
    assert d["resolved"] == [] and d["changed"] == [] and d["hosts_added"] == [] and d["hosts_removed"] == []
    assert d["newly_not_assessed"] == []
    assert set(d) == {"from", "to", "new_failures", "resolved", "changed", "hosts_added", "hosts_removed",
                      "newly_not_assessed"}
    latest = json.loads((drift["out"] / "latest" / "report.json").read_text())
    assert d["to"] == {"run": latest["run_id"], "started": latest["started"]}
    assert latest["history"]["since_previous"] == d


def _run_ids(db: Path, capsys) -> list[str]:
    """Run ids, newest first (folder names sort by second, then by id: two runs can share a second)."""
    capsys.readouterr()
    assert main(["history", "--db", str(db), "--format", "json"]) == 0
    return [r["run"] for r in json.loads(capsys.readouterr().out)]


def test_console_line_since_the_previous_run(drift, capsys):
    newest, previous, _ = _run_ids(drift["db"], capsys)
    assert re.search(rf"^since run {previous} \(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): 1 new FAIL, 0 resolved$",
                     drift["console"], re.M), drift["console"]
    assert f"recorded run {newest} in {drift['db']}" in drift["console"]


def test_history_lists_three_runs_newest_first(drift, capsys):
    capsys.readouterr()
    assert main(["history", "--db", str(drift["db"]), "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 3
    assert [r["started"] for r in runs] == sorted((r["started"] for r in runs), reverse=True)
    assert runs[0]["summary"]["FAIL"] == runs[1]["summary"]["FAIL"] + 1
    assert main(["history", "--db", str(drift["db"])]) == 0
    table = capsys.readouterr().out
    assert runs[0]["run"] in table and "score" in table


def test_html_since_previous_section_and_trend(drift):
    page = (drift["out"] / "latest" / "report.html").read_text()
    section = page[page.index('<section id="since-previous"'):]
    section = section[:section.index("</section>")]
    assert "1 new FAIL" in section and "worker-1" in section and "4.1.5" in section
    assert "<svg" in page[page.index('id="trend"'):] and "<script" not in section


def test_prometheus_file_parses_back(drift):
    families = {f.name: f for f in text_string_to_metric_families(drift["prom"].read_text())}
    assert families["fleetbench_new_failures"].samples[0].value == 1
    assert families["fleetbench_hosts_not_assessed"].samples[0].value == 0
    fails = {s.labels["host"]: s.value for s in families["fleetbench_host_results"].samples if s.labels["status"] == "FAIL"}
    assert set(fails) == {"cp-1", "worker-1", "worker-2"}
    scores = {s.labels["host"]: s.value for s in families["fleetbench_host_score"].samples}
    assert all(0 <= v <= 1 for v in scores.values()) and set(scores) == set(fails)
    assert families["fleetbench_last_run_duration_seconds"].samples[0].value > 0


def test_report_run_equals_the_scans_own_json(drift, tmp_path, capsys):
    latest = json.loads((drift["out"] / "latest" / "report.json").read_text())
    prefix = latest["run_id"][:6]
    assert main(["report", prefix, "--db", str(drift["db"]), "--out-dir", str(tmp_path), "--flat",
                 "--format", "json,html", "--quiet"]) == 0
    assert json.loads((tmp_path / "report.json").read_text()) == latest
    assert (tmp_path / "report.html").read_text() == (drift["out"] / "latest" / "report.html").read_text()
    oldest = _run_ids(drift["db"], capsys)[-1]
    first = json.loads(next(drift["out"].glob(f"*-{oldest}/report.json")).read_text())
    assert main(["report", first["run_id"], "--db", str(drift["db"]), "--out-dir", str(tmp_path / "first"), "--flat",
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "first" / "report.json").read_text()) == first


def test_baseline_chooses_what_counts_as_new(lab, tmp_path):
    """--baseline RUN: the same FAIL is new against a run without it, and not against a run with it."""
    db, out = tmp_path / "history.db", tmp_path / "out"

    def scan(*extra: str) -> tuple[int, str]:
        code = main(["scan", str(lab.inventory_path), "--db", str(db), "--out-dir", str(out), "--flat", "--quiet",
                     "--check", "4.1", "--limit", "worker-1", *extra])
        return code, json.loads((out / "report.json").read_text())["run_id"]

    before = lab.run_in_node("worker-1", ["stat", "-c", "%a", CHANGED_FILE]).stdout.strip()
    clean = scan()
    assert clean[0] == 3                       # worker-1 FAILs two 4.1 controls from the start
    assert lab.run_in_node("worker-1", ["chmod", "666", CHANGED_FILE]).returncode == 0
    try:
        changed = scan("--fail-on-new")
        assert changed[0] == 3
        assert scan("--fail-on-new")[0] == 0                                  # previous run: the same FAIL
        assert scan("--fail-on-new", "--baseline", clean[1])[0] == 3          # against the clean run: new
        assert scan("--fail-on-new", "--baseline", changed[1][:8])[0] == 0    # a unique prefix names a run
    finally:
        lab.run_in_node("worker-1", ["chmod", before, CHANGED_FILE])
    assert scan("--fail-on-new", "--keep", "2")[0] == 0                       # resolved is not a failure
    assert main(["history", "--db", str(db), "--format", "json"]) == 0


def test_diff_between_named_runs(lab, tmp_path, capsys):
    db, out = tmp_path / "history.db", tmp_path / "out"
    ids = []
    for _ in range(2):
        assert main(["scan", str(lab.inventory_path), "--db", str(db), "--out-dir", str(out), "--flat", "--quiet",
                     "--check", "4.1"]) == 3
        ids.append(json.loads((out / "report.json").read_text())["run_id"])
    capsys.readouterr()
    assert main(["diff", ids[1], ids[0], "--db", str(db), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["from"]["run"], d["to"]["run"]) == (ids[1], ids[0]) and d["new_failures"] == []
    assert main(["diff", ids[0], "--db", str(db)]) == 0                       # OLD only: against the newest run
    assert capsys.readouterr().out.startswith(f"from run {ids[0]} (")
    assert main(["diff", "ffffff", "--db", str(db)]) == 2
    assert "no run 'ffffff'" in capsys.readouterr().err


# --------------------------------------------------------------------------- unusable databases

def _refused(lab, db: Path, tmp_path: Path, capsys, expected: str) -> None:
    before = db.read_bytes()
    mode = db.stat().st_mode
    logs = {p: p.stat().st_size for p in lab.state_dir.rglob("sshd.log")}
    assert logs
    capsys.readouterr()
    code = _scan(lab, db, tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and expected in err and "Traceback" not in err
    assert str(db) in err
    assert db.read_bytes() == before and db.stat().st_mode == mode
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert {p: p.stat().st_size for p in lab.state_dir.rglob("sshd.log")} == logs   # no host was contacted


def test_corrupted_database_is_refused_untouched(lab, tmp_path, capsys):
    db = tmp_path / "history.db"
    db.write_bytes(os.urandom(8192))
    _refused(lab, db, tmp_path, capsys, "not a usable fleetbench history database")


def test_newer_schema_is_refused_untouched(lab, tmp_path, capsys):
    db = tmp_path / "history.db"
    assert main(["history", "--db", str(db)]) == 2            # reading never creates one
    assert not db.exists()
    _scan(lab, db, tmp_path / "first", "--check", "4.1.5")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE fleetbench_schema SET version = 99")
    conn.close()
    _refused(lab, db, tmp_path, capsys, "newer fleetbench (database schema 99")


def test_locked_database_is_refused_untouched(lab, tmp_path, capsys):
    db = tmp_path / "history.db"
    _scan(lab, db, tmp_path / "first", "--check", "4.1.5")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")          # another process writing, for longer than the busy timeout
    try:
        _refused(lab, db, tmp_path, capsys, "locked by another process")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_read_only_database_is_refused_untouched(lab, tmp_path):
    """Root writes files whatever their mode, so as root the folder is bind-mounted read-only in a
    private mount namespace of the fleetbench process (a read-only file system, as on a backup volume)."""
    db = tmp_path / "db" / "history.db"
    _scan(lab, db, tmp_path / "first", "--check", "4.1.5")
    before = db.read_bytes()
    logs = {p: p.stat().st_size for p in lab.state_dir.rglob("sshd.log")}
    command = [sys.executable, "-m", "fleetbench", "scan", str(lab.inventory_path), "--db", str(db),
               "--out-dir", str(tmp_path / "out"), "--quiet"]
    if os.geteuid() == 0:
        folder = shlex.quote(str(db.parent))
        command = ["unshare", "--mount", "sh", "-c",
                   f"mount --bind -o ro {folder} {folder} && exec {shlex.join(command)}"]
    else:
        db.chmod(0o444)
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], check=False)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot be written" in done.stderr, done.stderr
    assert db.read_bytes() == before
    assert {p: p.stat().st_size for p in lab.state_dir.rglob("sshd.log")} == logs
