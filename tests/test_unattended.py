"""Runs left to cron: --quiet says nothing unless someone must look, the progress display shows on a
terminal only, --log-json writes a line per host and per run."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from fleetbench.cli import main
from fleetbench.errors import HostError, HostStatus
from fleetbench.models import Finding, Host, HostScan, ScanReport, SSHSettings, Status, Waiver
from fleetbench.report import build
from fleetbench.report import console as console_report

ROOT = Path(__file__).resolve().parent.parent
def _env() -> dict[str, str]:
    """This process's environment at the time of the call: the session's own XDG_DATA_HOME (conftest),
    so a subprocess never records into the user's real history database."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _report(catalog, *statuses: Status, waived: bool = False, down: bool = False):
    controls = [c for c in catalog.benchmarks["cis-1.12"].controls if c.target == "node"]
    waiver = Waiver("r", "o", "t", date(2099, 1, 1), "w.yaml:2") if waived else None
    findings = tuple(Finding(control=c, status=s, expected="e", actual="a", source="s", remediation="r",
                             waiver=waiver if s == Status.FAIL else None) for c, s in zip(controls, statuses, strict=False))
    host = Host(name="w1", address="127.0.0.1", roles=("worker",), groups=(), ssh=SSHSettings(), paths={}, origin="i:1")
    t = datetime(2027, 1, 1, tzinfo=UTC)
    hosts = [HostScan(host=host, benchmark="cis-1.12", started=t, seconds=1.0, findings=findings)]
    if down:
        hosts.append(HostScan(host=Host(name="w2", address="127.0.0.2", roles=("worker",), groups=(), ssh=SSHSettings(),
                                        paths={}, origin="i:2"), benchmark="cis-1.12", started=t, seconds=1.0,
                              error=HostError(HostStatus.UNREACHABLE, "refused")))
    return build(ScanReport(tool_version="t", benchmark="cis-1.12", catalog_digest="d", started=t, finished=t,
                            hosts=tuple(hosts), options={}))


def test_quiet_speaks_only_when_someone_must_look(catalog):
    clean = _report(catalog, Status.PASS, Status.WARN, Status.INFO)
    failing = _report(catalog, Status.PASS, Status.FAIL)
    waived = _report(catalog, Status.PASS, Status.FAIL, waived=True)
    down = _report(catalog, Status.PASS, down=True)
    assert not console_report.should_speak(clean)
    assert console_report.should_speak(failing)
    assert not console_report.should_speak(waived)             # every FAIL accepted: nobody needs to look
    assert console_report.should_speak(down)
    # with --fail-on-new, the caller's count of new failures replaces "any FAIL"; not assessed still speaks
    assert not console_report.should_speak(failing, new_failures=0)
    assert console_report.should_speak(clean, new_failures=1)
    assert console_report.should_speak(down, new_failures=0)
    text = console_report.render_quiet(failing)
    assert "== Fleet summary ==" in text and "w1: [FAIL] " in text and "[PASS]" not in text
    assert "w2: [NOT ASSESSED] unreachable: refused" in console_report.render_quiet(down)


def test_quiet_speaks_for_a_cluster_as_the_exit_code_does(catalog):
    """A run whose only FAIL is a cluster's exits 3, and one whose cluster was not assessed exits 4:
    --quiet must then say why (cron mails only what is printed), naming the cluster."""
    from fleetbench.cli import exit_code
    from fleetbench.report.model import ClusterReport, ClusterResult

    clean = _report(catalog, Status.PASS)
    fail = ClusterResult(id="5.1.1", check="5.1.1", title="cluster-admin only where needed", status="FAIL", scored=True,
                         automated=True, actual="1 binding", offending=("ClusterRoleBinding/ops",), offending_count=1,
                         reason="", remediation="r")
    broken = replace(clean, clusters=(ClusterReport("prod", "ok", "cp-1", ("cp-1",), (fail,)),))
    dark = replace(clean, clusters=(ClusterReport("dark", "not assessed: API refused", None, ("cp-1",), ()),))
    assert exit_code(broken) == 3 and console_report.should_speak(broken)
    assert exit_code(dark) == 4 and console_report.should_speak(dark)
    assert console_report.should_speak(dark, new_failures=0) and not console_report.should_speak(broken, new_failures=0)
    assert "cluster prod: [FAIL] 5.1.1 cluster-admin only where needed: 1 binding" in console_report.render_quiet(broken)
    assert "cluster dark: [NOT ASSESSED] API refused" in console_report.render_quiet(dark)


def test_quiet_speaks_for_a_host_not_assessed(tmp_path, capsys):
    """--local on a machine without Kubernetes: the host is not assessed, so --quiet speaks (the table)."""
    code = main(["scan", "--local", "--out-dir", str(tmp_path), "--format", "json", "--quiet"])
    out = capsys.readouterr().out
    if code == 4:
        assert "== Fleet summary ==" in out and "localhost: [NOT ASSESSED]" in out and "reports of run" in out


def _run_on_pty(argv: list[str], cwd: Path, columns: int = 100) -> tuple[int, str]:
    """Run fleetbench with its stderr on a pseudo-terminal; return the exit code and what the terminal got."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "fleetbench", *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave, cwd=cwd, env=_env())
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:                 # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_progress_shows_on_a_terminal(tmp_path):
    code, terminal = _run_on_pty(["scan", "--local", "--out-dir", str(tmp_path / "o"), "--format", "json"], tmp_path)
    assert code in (0, 3, 4)
    assert "scan: 1/1 hosts" in terminal and "FAIL" in terminal and "ETA" in terminal, terminal


def test_progress_on_a_terminal_without_a_size(tmp_path):
    code, terminal = _run_on_pty(["scan", "--local", "--out-dir", str(tmp_path / "o"), "--format", "json"], tmp_path,
                                 columns=0)
    assert code in (0, 3, 4) and "scan: 1/1 hosts" in terminal, terminal


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fleetbench", "scan", "--local", "--out-dir", str(tmp_path / "o"),
                           "--format", "json"], stdin=subprocess.DEVNULL, capture_output=True, cwd=tmp_path, env=_env(),
                          timeout=120)
    assert done.returncode in (0, 3, 4) and b"hosts" not in done.stderr and b"ETA" not in done.stderr
    assert b"\r" not in done.stderr, done.stderr


def test_no_progress_with_quiet_even_on_a_terminal(tmp_path):
    code, terminal = _run_on_pty(["scan", "--local", "--out-dir", str(tmp_path / "o"), "--format", "json", "--quiet"],
                                 tmp_path)
    assert code in (0, 3, 4) and "ETA" not in terminal, terminal


def test_log_json_has_a_line_per_host_and_per_run(tmp_path, capsys):
    log = tmp_path / "logs" / "fleetbench.jsonl"
    log.parent.mkdir()
    for _ in range(2):                                  # appended: nightly runs share one file
        code = main(["scan", "--local", "--out-dir", str(tmp_path / "o"), "--format", "json", "--quiet",
                     "--log-json", str(log)])
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["host", "run", "host", "run"]
    host, run = lines[2], lines[3]
    report = json.loads((tmp_path / "o" / "latest" / "report.json").read_text())
    assert host["run_id"] == run["run_id"] == report["run_id"] != lines[0]["run_id"]
    assert host["name"] == "localhost" and host["status"] == report["hosts"][0]["status"]
    assert set(host) >= {"time", "reason", "benchmark", "seconds", "counts", "waived"}
    assert host["counts"] == report["hosts"][0]["summary"]
    assert run["exit_code"] == code and run["hosts"] == 1 and run["interrupted"] == ""
    assert run["counts"] == {k: report["summary"][k] for k in ("PASS", "FAIL", "WARN", "INFO")}
    assert run["seconds"] >= 0 and run["started"] == report["started"]


def test_log_json_into_a_folder_is_refused(tmp_path, capsys):
    code = main(["scan", "--local", "--out-dir", str(tmp_path / "o"), "--log-json", str(tmp_path)])
    assert code == 2 and "--log-json: " in capsys.readouterr().err and not (tmp_path / "o").exists()
