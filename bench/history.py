"""What recording a run in the history database adds to a scan's wall time (goal: < 10 % at 200 hosts).

Two measurements in one run, printed as ratios (README "Benchmark"):

1. a real scan of N loopback-lab workers (real sshd, tests/lab) with ``--no-db``: its wall time;
2. the history work a scan with a database does after collecting, timed on its own: open and
   check the database, find the previous run, compute the drift and the trend, and store the run in
   one transaction. Timed for that scan's own report (N workers, every control of their targets),
   and for a synthetic worst case of N hosts × every control of cis-1.12 (about 130 per host: a
   fleet of control-plane nodes), each stored on top of earlier runs of the same inventory, so the
   drift query has a previous run to read.

The ratio is history time ÷ scan wall time. Never a pass/fail test.

Usage: ``python bench/history.py [--hosts 200] [--runs 3] [--scan-seconds S]``
(``--scan-seconds`` skips the lab scan and divides by S instead.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetbench.catalog import load_catalog  # noqa: E402
from fleetbench.history.store import open_store, snapshot_of  # noqa: E402
from fleetbench.models import Finding, Host, HostFacts, HostScan, ProcessFact, ScanReport, SSHSettings, Status  # noqa: E402
from fleetbench.report import build, from_dict  # noqa: E402
from fleetbench.report.model import Report  # noqa: E402
from tests.lab import Lab  # noqa: E402
from tests.lab.scenarios import kubeadm_worker  # noqa: E402

OCTETS = "127.91.0."


def synthetic(n: int, minute: int) -> Report:
    """N hosts × every control of cis-1.12, one FAIL in ten, with evidence: the worst case per host."""
    catalog = load_catalog()
    controls = catalog.benchmarks["cis-1.12"].controls
    t0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC) + timedelta(minutes=minute)
    hosts = []
    for i in range(n):
        findings = tuple(Finding(control=c, status=Status.FAIL if (i + j + minute) % 10 == 0 else Status.PASS,
                                 expected=f"'{c.check.id}' is as the benchmark says", actual="644 root:root",
                                 source=f"stat /etc/kubernetes/{c.check.id} (path from flag --config)",
                                 remediation=f"chmod 600 /etc/kubernetes/{c.check.id}")
                         for j, c in enumerate(controls))
        facts = HostFacts(hostname=f"cp-{i:03d}", uid=0, paths={}, stats={}, trees={}, contents={},
                          processes={"kubelet": ProcessFact("kubelet", 4242, ("/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml",
                                                                              "--kubeconfig=/etc/kubernetes/kubelet.conf"))})
        host = Host(name=f"cp-{i:03d}", address=f"10.0.{i // 250}.{i % 250}", roles=("control-plane", "etcd"), groups=(),
                    ssh=SSHSettings(), paths={}, origin="bench")
        hosts.append(HostScan(host=host, benchmark="cis-1.12", started=t0, seconds=0.5, findings=findings, facts=facts))
    scan = ScanReport(tool_version="bench", benchmark="cis-1.12", catalog_digest=catalog.digest, started=t0,
                      finished=t0 + timedelta(seconds=15), hosts=tuple(hosts),
                      options={"targets": [], "check": [], "skip": [], "host_key_checking": True, "local": False,
                               "inventory": "bench.yaml", "limit": [], "ran_by": "bench@jump"})
    return build(scan, sections=catalog.benchmarks["cis-1.12"].sections)


def history_seconds(db: Path, reports: list[Report]) -> tuple[float, float, float]:
    """Store ``reports`` in order as scans with a database would; for the last one: (seconds on the
    run's critical path: open and check before the scan, drift, trend and the write after it;
    seconds overlapped with the scan: reading the previous run; CPU seconds of all of it)."""
    result = (0.0, 0.0, 0.0)
    for data in reports:
        c0 = time.process_time()
        t0 = time.perf_counter()
        store = open_store(f"sqlite:///{db}")
        t1 = time.perf_counter()
        known = store.prefetch("/bench/inventory.yaml")      # runs while the hosts are scanned
        t2 = time.perf_counter()
        data = replace(data, history=store.history(data, "/bench/inventory.yaml", snapshot_of(data, {}), known=known))
        store.save(data, {}, "/bench/inventory.yaml")
        store.close()
        t3 = time.perf_counter()
        result = ((t1 - t0) + (t3 - t2), t2 - t1, time.process_time() - c0)
    return result


def lab_scan(n: int, workdir: Path) -> tuple[float, Report]:
    """Wall time of ``fleetbench scan --no-db`` over N lab workers, and its report."""
    specs = [kubeadm_worker(f"w{i:03d}") for i in range(n)]
    with Lab(workdir / "lab", specs, first_octets=OCTETS) as lab:
        out = workdir / "out"
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "fleetbench", "scan", str(lab.inventory_path), "--no-db", "--quiet",
                        "--out-dir", str(out), "--flat", "--format", "json,html,csv,junit",
                        "--concurrency", "50", "--handshakes", "50"], cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - t0
    return wall, from_dict(json.loads((out / "report.json").read_text()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3, help="runs stored before the timed one's previous (default 3)")
    ap.add_argument("--scan-seconds", type=float, help="divide by this wall time instead of scanning the lab")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetbench-bench-history-") as tmp:
        work = Path(tmp)
        if args.scan_seconds:
            wall, real = args.scan_seconds, None
        else:
            wall, real = lab_scan(args.hosts, work)
        rows = []
        if real is not None:
            runs = [replace(real, run_id=f"{i:012x}", started=(datetime.fromisoformat(real.started) + timedelta(minutes=i)).isoformat())
                    for i in range(args.runs + 1)]
            results = sum(len(h.results) for h in real.hosts)
            rows.append((f"the scan's own report ({len(real.hosts)} hosts, {results} results)", history_seconds(work / "real.db", runs)))
        synth = [synthetic(args.hosts, i) for i in range(args.runs + 1)]
        results = sum(len(h.results) for h in synth[0].hosts)
        rows.append((f"synthetic {args.hosts} hosts x {results // args.hosts} controls ({results} results)",
                     history_seconds(work / "synthetic.db", synth)))
    print(f"scan of {args.hosts} lab hosts without the database: {wall:.2f} s wall"
          + (" (given)" if args.scan_seconds else ""))
    for label, (path, overlapped, cpu) in rows:
        print(f"history database, {label}: {path:.3f} s added to the run = {100 * path / wall:.1f} % of the scan's "
              f"wall time (goal < 10 %); {overlapped:.3f} s more read during the scan; {cpu:.3f} s CPU in all "
              f"= {100 * cpu / wall:.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
