"""End to end: `fleetbench scan` as a subprocess on the lab with nodes whose probe hangs.

- while it runs, a second run on the same history database exits 5 and names the first one's process;
- SIGTERM mid-scan: the hosts in flight and those not started are "interrupted" (never passed), the
  finished ones keep their verdicts, the reports are whole, no temporary file is left, exit 4, and the
  database holds the run consistently (reopened: listed, re-rendered identically);
- a second signal ends the run at once (143) and leaves no temporary or partial file either.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fleetbench.cli import main
from tests.lab import Lab, kubeadm_control_plane, kubeadm_worker
from tests.lab.faults import hanging_worker
from tests.lab.kubeapi import running_api

from .test_scan_lab import pytestmark  # noqa: F401  (skip without sshd)

ROOT = Path(__file__).resolve().parents[2]
OCTETS = "127.92.0."
CP = OCTETS + "10"
HANGING = ("hang-1", "hang-2", "hang-3", "hang-4")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("signals")
    with running_api("127.92.1.1") as api, Lab(tmp / "lab", [
            kubeadm_control_plane("cp-1", address=CP, api_url=api.url), kubeadm_worker("worker-1", api_server=CP),
            *(hanging_worker(name, api_server=CP) for name in HANGING)], first_octets=OCTETS) as lab:
        inventory = tmp / "inventory.yaml"
        inventory.write_text(textwrap.dedent(f"""\
            defaults: {{user: root, port: {lab.port}, key_files: [{lab.client_key_path}],
                        known_hosts: {lab.known_hosts_path}, ssh_config: none}}
            hosts:
            """) + "".join(f"  {s.name}: {{address: {lab.address(s.name)}, roles: "
                           f"[{'control-plane, etcd' if s.name == 'cp-1' else 'worker'}]}}\n" for s in lab.specs))
        yield inventory


def _start(inventory: Path, out: Path, log: Path) -> subprocess.Popen[bytes]:
    """A scan of 6 hosts, 3 at a time: cp-1 and worker-1 finish, hang-1..3 then hang in flight, hang-4 waits."""
    return subprocess.Popen([sys.executable, "-m", "fleetbench", "scan", str(inventory), "--out-dir", str(out),
                             "--format", "json,csv,html,junit,xlsx", "--concurrency", "3", "--timeout", "300",
                             "--log-json", str(log), "--bundle", str(out.parent / "bundle.json"),
                             "--db", str(out.parent / "history.db")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _wait_for_hosts(log: Path, count: int, proc: subprocess.Popen[bytes], timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        if len([x for x in lines if x["event"] == "host"]) >= count:
            time.sleep(1.0)                 # let the hanging hosts' probes start
            return lines
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"no {count} host lines in {log} after {timeout}s: {proc.communicate()}")


def _lock(out: Path) -> Path:
    """The run lock of _start's scans: beside their history database."""
    return out.parent / "history.db.lock"


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".fleetbench-check")]


def test_sigterm_mid_scan_writes_the_reports_of_what_finished(fleet, tmp_path, capsys):
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    proc = _start(fleet, out, log)
    try:
        lines = _wait_for_hosts(log, 2, proc)
        assert {x["name"] for x in lines if x["event"] == "host"} == {"cp-1", "worker-1"}
        # a second run into the same database while this one holds it: exit 5, naming the holder
        code = main(["scan", str(fleet), "--out-dir", str(tmp_path / "other"), "--format", "json", "--limit", "worker-1",
                     "--db", str(tmp_path / "history.db")])
        err = capsys.readouterr().err
        assert code == 5 and f"another fleetbench run holds {_lock(out)}: process {proc.pid} on " \
                             f"{socket.gethostname()}, started " in err, err
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 4, stderr.decode()
    assert time.monotonic() - t0 < 30                       # not the 300 s deadline of the hanging hosts
    assert b"interrupted by SIGTERM: 4 host(s) not scanned" in stderr and b"Traceback" not in stderr
    data = json.loads((out / "latest" / "report.json").read_text())
    status = {h["name"]: (h["status"], h["error"] or "") for h in data["hosts"]}
    assert status["cp-1"][0] == status["worker-1"][0] == "ok"
    assert {status[n] for n in HANGING[:3]} == {("interrupted", "interrupted (SIGTERM) while it was scanned")}
    assert status["hang-4"] == ("interrupted", "interrupted (SIGTERM) before it was started")
    assert data["summary"]["hosts_not_assessed"] == 4
    assert all(not h["results"] for h in data["hosts"] if h["status"] == "interrupted")
    assert sorted(p.name for p in (out / "latest").iterdir()) == ["clusters.csv", "junit.xml", "matrix.csv", "report.html",
                                                                  "report.json", "report.xlsx", "results.csv"]
    assert json.loads((tmp_path / "bundle.json").read_text())                 # the bundle too
    assert _temp_files(tmp_path) == [] and _lock(out).read_text() == ""
    # the database, reopened, holds the interrupted run whole: listed, and rendered again identically
    capsys.readouterr()
    assert main(["history", "--db", str(tmp_path / "history.db"), "--format", "json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["run"] == data["run_id"] and run["hosts_not_assessed"] == 4
    assert main(["report", data["run_id"], "--db", str(tmp_path / "history.db"), "--out-dir", str(tmp_path / "again"),
                 "--flat", "--format", "json", "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert [(h["name"], h["status"], h["error"], h["results"]) for h in again["hosts"]] == \
           [(h["name"], h["status"], h["error"], h["results"]) for h in data["hosts"]]
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["event"] for x in lines].count("host") == 6 and lines[-1]["event"] == "run"
    assert lines[-1]["exit_code"] == 4 and lines[-1]["interrupted"] == "SIGTERM"
    assert b"reports of run" in stdout


def test_sigint_is_handled_like_sigterm(fleet, tmp_path):
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    proc = _start(fleet, out, log)
    try:
        _wait_for_hosts(log, 2, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 4, stderr.decode()
    data = json.loads((out / "latest" / "report.json").read_text())
    assert {h["error"] for h in data["hosts"] if h["name"] in HANGING[:3]} == {"interrupted (SIGINT) while it was scanned"}
    assert _temp_files(tmp_path) == [] and b"KeyboardInterrupt" not in stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_second_signal_exits_at_once_without_partial_files(fleet, tmp_path, sig, code):
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    proc = _start(fleet, out, log)
    try:
        _wait_for_hosts(log, 2, proc)
        proc.send_signal(sig)
        time.sleep(0.05)                    # two signals at once are one (the kernel merges a pending signal)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr.decode()
    assert b"Traceback" not in stderr
    assert _temp_files(tmp_path) == []
    for report in out.rglob("report.json"):                 # whatever was written is whole
        json.loads(report.read_text())
    assert _lock(out).read_text() == ""                     # released on the way out
