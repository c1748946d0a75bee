"""The run lock: a second run exits 5 naming the holder; a stale lock of this host is taken over;
a lock written by another host is never taken over by PID."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetbench.cli import main
from fleetbench.lock import LOCK_NAME, LockHeld, RunLock

ROOT = Path(__file__).resolve().parent.parent


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@contextlib.contextmanager
def _held(path: Path) -> Iterator[int]:
    """Another process holding the lock file ``path`` while the block runs; yields its PID."""
    code = f"import sys, time\nsys.path.insert(0, {str(ROOT)!r})\nfrom fleetbench.lock import RunLock\n" \
           f"lock = RunLock({str(path)!r}, 'abc123')\nlock.acquire()\nprint('held', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture()
def holder(tmp_path):
    """Another process holding the lock of tmp_path/out, until the test ends."""
    out = tmp_path / "out"
    with _held(out / LOCK_NAME) as pid:
        yield out, pid


def test_a_second_run_exits_5_naming_the_holder(holder, capsys):
    out, pid = holder
    code = main(["scan", "--local", "--no-db", "--out-dir", str(out), "--format", "json"])   # --no-db: the out-dir's lock
    err = capsys.readouterr().err
    assert code == 5
    assert err.startswith(f"fleetbench: error: another fleetbench run holds {out / LOCK_NAME}: process {pid} on "
                          f"{socket.gethostname()}, started 20") and "(run abc123)" in err and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]          # no report written


def test_the_lock_is_free_once_the_holder_dies(holder, tmp_path):
    out, pid = holder
    with pytest.raises(LockHeld):
        RunLock(out / LOCK_NAME).acquire()
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while True:
        try:
            with RunLock(out / LOCK_NAME, "new") as lock:
                assert lock.took_over is not None and lock.took_over.pid == pid     # its name was still written
                assert json.loads((out / LOCK_NAME).read_text())["run_id"] == "new"
            break
        except LockHeld:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert (out / LOCK_NAME).read_text() == ""                               # released: emptied


def test_a_stale_lock_of_this_host_is_taken_over(tmp_path, caplog):
    path = tmp_path / LOCK_NAME
    dead = _dead_pid()
    path.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": "2026-11-30T01:00:00+00:00"}))
    with RunLock(path, "r1") as lock:
        assert lock.took_over is not None and lock.took_over.pid == dead
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert f"taking over the stale lock {path} of process {dead}" in caplog.text and "no longer running" in caplog.text


def test_a_scan_takes_over_a_stale_lock(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": "x"}))
    code = main(["scan", "--local", "--no-db", "--out-dir", str(out), "--format", "json", "--quiet"])
    assert code in (0, 3, 4) and (out / "latest" / "report.json").is_file()
    assert (out / LOCK_NAME).read_text() == ""


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps({"pid": _dead_pid(), "host": "other-jump-host", "started": "2026-11-30T01:00:00+00:00",
                                "run_id": "ffee"}))
    with pytest.raises(LockHeld) as info:
        RunLock(path).acquire()
    assert "other-jump-host, started 2026-11-30T01:00:00+00:00 (run ffee)" in str(info.value)
    assert "other-jump-host" in path.read_text()                            # left as it was
    with pytest.raises(LockHeld):                                           # and again: the refusal kept no flock
        RunLock(path).acquire()


def test_runs_into_one_history_database_take_turns(tmp_path, capsys):
    """With a history database the lock sits beside it, whatever the out-dir: two runs from different
    folders into one database never overlap."""
    db = tmp_path / "h.db"
    with _held(Path(f"{db}.lock")) as pid:
        assert main(["scan", "--local", "--db", str(db), "--out-dir", str(tmp_path / "elsewhere"), "--format", "json"]) == 5
        err = capsys.readouterr().err
        assert f"another fleetbench run holds {db}.lock: process {pid}" in err and err.count("\n") == 1
        assert not (tmp_path / "elsewhere").exists() or not any((tmp_path / "elsewhere").iterdir())
