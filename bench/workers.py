"""Hosts per hour against ``scan --workers N``: one lab, the same scan with N = 1, 2, ... and the default.

Starts a loopback lab (real sshd, tests/lab) of ``--hosts`` kubeadm workers plus one control plane on
127.87.x.x, then runs ``fleetbench scan`` on it once per N, as a child process, recorded in a history
database and writing JSON + HTML, as a nightly run does. Per run it prints: wall time, hosts/hour,
client CPU per host (user+sys of the whole process tree, from ``wait4``: the workers are waited for,
so their CPU is included), and the peak memory of the whole tree, sampled every 20 ms from
/proc: the sum of PSS (forked workers share the parent's pages copy-on-write, so summing RSS would
count those pages once per process) and the largest single RSS.

All lab hosts share this machine's cores with the scanner: on a small machine the hosts' sshd and
probe scripts bind first, and more workers than free cores only add work. Never a pass/fail test:
it prints a table (README, "Every core of a jump host").

Usage: ``python bench/workers.py [--hosts 150] [--workers 1,2,default]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import as_installed  # noqa: E402
from fleetbench.workers import cores, default_count  # noqa: E402
from tests.lab import Lab, kubeadm_control_plane, kubeadm_worker  # noqa: E402

OCTETS = "127.87.0."


@dataclass
class Run:
    workers: str
    wall: float
    cpu: float                            #: user + sys seconds of the whole process tree
    pss_mib: float                        #: peak of the tree's summed PSS
    rss_mib: float                        #: the largest single process's peak RSS
    ok: int


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def measure(label: str, argv: list[str], report: Path) -> Run:
    peak = [0]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], sum(_pss_kib(p) for p in _tree(proc.pid)))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = b""

    def drain() -> None:
        nonlocal err
        assert proc.stderr is not None
        err = proc.stderr.read()
    reader = threading.Thread(target=drain)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    done.set()
    sampler.join()
    reader.join()
    data = json.loads(report.read_text()) if report.exists() else {"hosts": []}
    ok = sum(1 for h in data["hosts"] if h["status"] == "ok")
    if ok < len(data["hosts"]) or not data["hosts"]:
        print(f"  --workers {label}: {ok}/{len(data['hosts'])} hosts assessed; stderr: "
              f"{err.decode(errors='replace').strip()[-300:]}", file=sys.stderr)
    return Run(label, wall, usage.ru_utime + usage.ru_stime, peak[0] / 1024, usage.ru_maxrss / 1024, ok)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=150, help="lab workers (one control plane besides; default 150)")
    ap.add_argument("--workers", default="1,2,default", help="values of --workers to compare (default 1,2,default)")
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    total = args.hosts + 1
    cp = f"{OCTETS}10"
    specs = [kubeadm_control_plane("cp-1", address=cp), *(kubeadm_worker(f"w{i:03d}", api_server=cp)
                                                           for i in range(args.hosts))]
    print(f"machine: {os.cpu_count()} cores ({cores()} usable); {total} lab hosts share them; "
          f"--concurrency {args.concurrency} --handshakes 10 (divided among the workers); load average "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="fleetbench-workers-") as tmp, \
            Lab(Path(tmp) / "lab", specs, first_octets=OCTETS) as lab:
        os.environ.update(as_installed(Path(tmp)))   # as a jump host runs it (bytecode, template cache)
        runs = []
        for label in args.workers.split(","):
            out = Path(tmp) / f"out-{label}"
            flag = [] if label == "default" else ["--workers", label]
            shown = f"default ({default_count(total)})" if label == "default" else label
            runs.append(measure(shown, [sys.executable, "-m", "fleetbench", "scan", str(lab.inventory_path), *flag,
                                        "--quiet", "--flat", "--out-dir", str(out), "--format", "json,html",
                                        "--db", str(Path(tmp) / f"history-{label}.db"),
                                        "--concurrency", str(args.concurrency)], out / "report.json"))
    rows = [["--workers", "hosts ok", "wall s", "hosts/hour", "client CPU ms/host", "peak PSS MiB (tree)",
             "peak RSS MiB (largest)"]]
    for r in runs:
        rows.append([r.workers, f"{r.ok}/{total}", f"{r.wall:.1f}", f"{int(total * 3600 / r.wall):,}",
                     f"{1000 * r.cpu / total:.1f}", f"{r.pss_mib:.0f}", f"{r.rss_mib:.0f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    print("\n".join(lines))
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
