"""End to end: `fleetbench scan --workers N` as a subprocess over the real lab (127.85.x.x).

- ``--workers 2`` makes the report ``--workers 1`` makes (JSON minus timings, CSV, the history
  snapshot) on a lab with two clusters (one whose query falls back to its second control-plane
  host), control-plane and worker roles, a drifted node;
- a worker killed with SIGKILL: its unreported hosts are "not assessed" with why, the others keep
  their verdicts, exit 4, and the --log-json file has every host once;
- SIGINT to the process group mid-scan: every worker stops as one process would (in-flight hosts
  "interrupted", reports written, exit 4); a second SIGINT ends the run at once (130) and leaves no
  worker behind; nor does a parent killed with SIGKILL.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetbench.history.store import open_store, resolve_url
from tests.lab import Lab, kubeadm_control_plane, kubeadm_worker
from tests.lab.faults import hanging_worker
from tests.lab.kubeapi import running_api
from tests.lab.scenarios import drifted_worker

from .test_cluster_lab import pytestmark  # noqa: F401  (skip without sshd or kubectl)

ROOT = Path(__file__).resolve().parents[2]
OCTETS = "127.85.0."
DEAD_API = "http://127.85.1.9:1"          # nothing listens on port 1: connection refused
TIMINGS = {"started", "finished", "seconds", "collected_at", "run_id", "time", "generated"}


def _fleetbench(*argv: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "fleetbench", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, **kwargs)


def _run(*argv: str) -> tuple[int, str, str]:
    proc = _fleetbench(*argv)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out.decode(), err.decode()


# --------------------------------------------------------------------------- same report

@pytest.fixture(scope="module")
def clusters_lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workers")
    with running_api("127.85.1.1") as api:
        specs = [kubeadm_control_plane("shop-cp-1", address=OCTETS + "10", api_url=DEAD_API),
                 kubeadm_control_plane("shop-cp-2", address=OCTETS + "11", api_url=api.url),
                 kubeadm_worker("shop-w-1", api_server=OCTETS + "11"),
                 drifted_worker("shop-w-2", api_server=OCTETS + "11"),
                 kubeadm_worker("shop-w-3", api_server=OCTETS + "11"),
                 kubeadm_control_plane("dark-cp-1", address=OCTETS + "15", api_url=DEAD_API),
                 kubeadm_worker("dark-w-1", api_server=OCTETS + "15")]
        with Lab(tmp / "lab", specs, first_octets=OCTETS) as lab:
            inv = yaml.safe_load(lab.inventory_path.read_text())
            for name in inv["hosts"]:
                inv["hosts"][name]["cluster"] = name.split("-")[0]
            path = tmp / "clusters.yaml"
            path.write_text(yaml.safe_dump(inv, sort_keys=False))
            yield path


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@pytest.fixture(scope="module")
def both(clusters_lab, tmp_path_factory):
    """The same inventory scanned with 1 and with 2 workers, into one history database."""
    tmp = tmp_path_factory.mktemp("both")
    runs = {}
    for n in ("1", "2"):
        out, log = tmp / f"out-{n}", tmp / f"log-{n}.jsonl"
        code, stdout, stderr = _run("scan", str(clusters_lab), "--workers", n, "--out-dir", str(out), "--flat",
                                    "--format", "json,csv", "--quiet", "--db", str(tmp / "history.db"),
                                    "--log-json", str(log))
        assert (out / "report.json").exists(), (code, stdout, stderr)
        lines = [json.loads(x) for x in log.read_text().splitlines()]
        runs[n] = {"code": code, "stderr": stderr, "out": out, "log": lines,
                   "json": json.loads((out / "report.json").read_text())}
    return runs, tmp / "history.db"


def test_two_workers_make_the_same_json_report(both):
    runs, _ = both
    one, two = runs["1"], runs["2"]
    assert one["code"] == two["code"] == 4, (one["stderr"], two["stderr"])     # the dark cluster: not assessed
    assert _strip(two["json"]) | {"history": None} == _strip(one["json"]) | {"history": None}   # 2 follows 1
    data = two["json"]
    assert [h["name"] for h in data["hosts"]] == ["shop-cp-1", "shop-cp-2", "shop-w-1", "shop-w-2", "shop-w-3",
                                                  "dark-cp-1", "dark-w-1"]
    shop = next(c for c in data["clusters"] if c["name"] == "shop")
    assert shop["status"] == "ok" and shop["source_host"] == "shop-cp-2"        # the fallback, decided by one worker
    assert shop["hosts"] == ["shop-cp-1", "shop-cp-2", "shop-w-1", "shop-w-2", "shop-w-3"]
    assert all(h["status"] == "ok" for h in data["hosts"])
    assert any(r["status"] == "FAIL" for h in data["hosts"] if h["name"] == "shop-w-2" for r in h["results"])


def test_two_workers_make_the_same_csv_and_history(both):
    runs, db = both
    for name in ("results.csv", "matrix.csv", "clusters.csv"):
        rows = {n: [{k: v for k, v in row.items() if k not in TIMINGS | {"scanned"}} for row in
                    csv.DictReader((runs[n]["out"] / name).read_text(encoding="utf-8").splitlines())] for n in runs}
        assert rows["2"] == rows["1"] and rows["1"], name
    store = open_store(resolve_url(str(db), {}), create=False)
    try:
        first, second = sorted(store.runs(), key=lambda r: r.started)
        assert (first.run_id, second.run_id) == (runs["1"]["json"]["run_id"], runs["2"]["json"]["run_id"])
        assert store.snapshot(second.run_id).hosts == store.snapshot(first.run_id).hosts
    finally:
        store.close()
    code, stdout, _ = _run("diff", "--db", str(db), "--format", "json")
    changes = json.loads(stdout)
    assert code == 0 and changes["to"]["run"] == second.run_id, stdout
    assert not any(changes[k] for k in ("new_failures", "resolved", "changed", "hosts_added", "hosts_removed",
                                        "newly_not_assessed")), stdout


def test_two_workers_log_every_host_once(both):
    runs, _ = both
    for n in runs:
        names = [x["name"] for x in runs[n]["log"] if x["event"] == "host"]
        assert sorted(names) == sorted(h["name"] for h in runs[n]["json"]["hosts"]), n
        assert [x["event"] for x in runs[n]["log"]][-1] == "run"
        assert {x["run_id"] for x in runs[n]["log"]} == {runs[n]["json"]["run_id"]}


# --------------------------------------------------------------------------- killed worker, signals

HANGING = ("hang-1", "hang-2")


@pytest.fixture(scope="module")
def hanging_lab(tmp_path_factory):
    """Inventory order cp-1, hang-1, worker-1, hang-2: with 2 workers, worker 1 gets cp-1 and
    worker-1 (they finish), worker 2 gets hang-1 and hang-2 (their probes never end)."""
    tmp = tmp_path_factory.mktemp("hanging")
    cp = OCTETS + "30"
    with running_api("127.85.1.2") as api, Lab(tmp / "lab", [
            kubeadm_control_plane("cp-1", address=cp, api_url=api.url), hanging_worker("hang-1", api_server=cp),
            kubeadm_worker("worker-1", api_server=cp), hanging_worker("hang-2", api_server=cp)],
            first_octets=OCTETS, first_host=30) as lab:
        yield lab.inventory_path


def _start(inventory: Path, tmp: Path) -> subprocess.Popen[bytes]:
    return _fleetbench("scan", str(inventory), "--workers", "2", "--out-dir", str(tmp / "out"), "--flat",
                       "--format", "json,csv,html", "--timeout", "300", "--log-json", str(tmp / "log.jsonl"),
                       "--db", str(tmp / "history.db"), start_new_session=True)   # its own group, as from a shell


def _workers(pid: int) -> dict[str, int]:
    """The worker processes of ``pid``, by name (``fleetbench-w1``...)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                found[Path(f"/proc/{child}/comm").read_text().strip()] = int(child)
            except FileNotFoundError:
                pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _hosts_logged(log: Path, count: int, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        if len([x for x in lines if x["event"] == "host"]) >= count:
            time.sleep(1.0)                 # let the hanging probes start
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"no {count} host lines in {log} after {timeout}s: {proc.communicate()}")


def test_killed_worker_leaves_its_hosts_not_assessed(hanging_lab, tmp_path):
    proc = _start(hanging_lab, tmp_path)
    _hosts_logged(tmp_path / "log.jsonl", 2, proc)
    workers = _workers(proc.pid)
    assert set(workers) == {"fleetbench-w1", "fleetbench-w2"}, workers
    os.kill(workers["fleetbench-w2"], signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    by_name = {h["name"]: h for h in data["hosts"]}
    assert [h["name"] for h in data["hosts"]] == ["cp-1", "hang-1", "worker-1", "hang-2"]
    assert by_name["cp-1"]["status"] == by_name["worker-1"]["status"] == "ok"
    for name in HANGING:
        assert by_name[name]["status"] == "error" and not by_name[name]["results"]
        assert by_name[name]["error"] == (f"worker process 2 (pid {workers['fleetbench-w2']}) was killed by signal 9 "
                                          "(SIGKILL) before scanning this host")
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert sorted(x["name"] for x in lines if x["event"] == "host") == sorted(by_name)
    assert lines[-1]["event"] == "run" and lines[-1]["exit_code"] == 4


def test_sigint_stops_every_worker(hanging_lab, tmp_path):
    proc = _start(hanging_lab, tmp_path)
    _hosts_logged(tmp_path / "log.jsonl", 2, proc)
    workers = _workers(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)      # Ctrl-C: the parent and both workers get it
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err.decode()
    assert "interrupted by SIGINT: 2 host(s) not scanned" in err.decode()
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    by_name = {h["name"]: h for h in data["hosts"]}
    assert by_name["cp-1"]["status"] == by_name["worker-1"]["status"] == "ok"
    for name in HANGING:
        assert by_name[name]["status"] == "interrupted"
        assert by_name[name]["error"] == "interrupted (SIGINT) while it was scanned"
    assert not [p for p in workers.values() if _alive(p)]
    assert not list((tmp_path / "out").glob("*.tmp*"))
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert sorted(x["name"] for x in lines if x["event"] == "host") == sorted(by_name)


def test_sigterm_to_the_parent_alone_reaches_the_workers(hanging_lab, tmp_path):
    proc = _start(hanging_lab, tmp_path)
    _hosts_logged(tmp_path / "log.jsonl", 2, proc)
    proc.send_signal(signal.SIGTERM)        # `kill PID`: only the parent; it passes the signal on
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err.decode()
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [h["error"] for h in data["hosts"] if h["name"] in HANGING] == ["interrupted (SIGTERM) while it was scanned"] * 2


def test_second_sigint_ends_at_once_without_leaving_workers(hanging_lab, tmp_path):
    proc = _start(hanging_lab, tmp_path)
    _hosts_logged(tmp_path / "log.jsonl", 2, proc)
    workers = _workers(proc.pid)
    assert len(workers) == 2
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)        # the second, before the first could finish the run
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in workers.values() if _alive(p)]


def test_workers_die_with_a_killed_parent(hanging_lab, tmp_path):
    proc = _start(hanging_lab, tmp_path)
    _hosts_logged(tmp_path / "log.jsonl", 2, proc)
    workers = _workers(proc.pid)
    assert len(workers) == 2
    proc.kill()                             # SIGKILL: the parent cannot end them itself
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in workers.values() if _alive(p)]
