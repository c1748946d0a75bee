"""``--prometheus FILE``: the run as a node_exporter textfile, for alerting on drift.

Why prometheus_client: it owns the exposition format (escaping of label values, HELP/TYPE lines),
so the file is always what node_exporter's textfile collector parses. The file is rendered in
memory with ``generate_latest`` and written with the project's ``write_atomic``, so the collector
never reads half a file (node_exporter reads ``*.prom`` at any moment).

Metrics (README, "Monitoring"); every name starts with ``fleetbench_``:

- ``fleetbench_host_score{host}``: PASS / (PASS + FAIL) over the host's scored, automated results
  (absent for a host with none, or not assessed);
- ``fleetbench_host_results{host,status}``: results per status;
- ``fleetbench_host_assessed{host}``: 1 assessed, 0 not assessed;
- ``fleetbench_hosts`` and ``fleetbench_hosts_not_assessed``; ``fleetbench_fleet_score``;
- ``fleetbench_new_failures``: new unwaived FAILs since the previous run of the inventory (only when
  the history database is in use);
- ``fleetbench_waivers_expiring``: waivers of the ``--waivers`` file that end within 14 days (only with
  ``--waivers``); ``fleetbench_waivers_expired``: entries past their date, which no longer apply;
- ``fleetbench_last_run_timestamp_seconds`` (end of the run) and ``fleetbench_last_run_duration_seconds``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from .report import matrix as M
from .report import write_atomic
from .report.model import STATUSES, Report


def render(data: Report, new_failures: int | None) -> bytes:
    """The textfile for ``data``; ``new_failures`` None leaves that gauge out (no history)."""
    registry = CollectorRegistry(auto_describe=True)
    score = Gauge("fleetbench_host_score", "Share of PASS among the scored, automated PASS/FAIL results of a host",
                  ["host"], registry=registry)
    results = Gauge("fleetbench_host_results", "Results of a host by status", ["host", "status"], registry=registry)
    assessed = Gauge("fleetbench_host_assessed", "1 if the host was assessed, 0 if not", ["host"], registry=registry)
    for h in data.hosts:
        assessed.labels(host=h.name).set(1 if h.assessed else 0)
        if not h.assessed:
            continue
        for status in STATUSES:
            results.labels(host=h.name, status=status).set(h.summary.get(status, 0))
        t = M.tally(h.name, [h])
        if t.passed + t.failed:
            score.labels(host=h.name).set(t.passed / (t.passed + t.failed))
    Gauge("fleetbench_hosts", "Hosts in the run", registry=registry).set(data.summary.hosts)
    Gauge("fleetbench_hosts_not_assessed", "Hosts that were not assessed", registry=registry).set(data.summary.hosts_not_assessed)
    fleet = M.fleet(data)
    if fleet.passed + fleet.failed:
        Gauge("fleetbench_fleet_score", "Share of PASS among the fleet's scored, automated PASS/FAIL results",
              registry=registry).set(fleet.passed / (fleet.passed + fleet.failed))
    if new_failures is not None:
        Gauge("fleetbench_new_failures", "New unwaived FAILs since the previous run of this inventory",
              registry=registry).set(new_failures)
    if data.waivers is not None:
        Gauge("fleetbench_waivers_expiring", "Waivers that end within 14 days", registry=registry).set(len(data.waivers.expiring))
        Gauge("fleetbench_waivers_expired", "Waivers past their date (no longer applied)",
              registry=registry).set(len(data.waivers.expired))
    started, finished = datetime.fromisoformat(data.started), datetime.fromisoformat(data.finished)
    Gauge("fleetbench_last_run_timestamp_seconds", "When the last run finished (Unix time)",
          registry=registry).set(finished.timestamp())
    Gauge("fleetbench_last_run_duration_seconds", "How long the last run took",
          registry=registry).set((finished - started).total_seconds())
    return generate_latest(registry)


def write(path: Path, data: Report, new_failures: int | None) -> None:
    write_atomic(path, render(data, new_failures))
