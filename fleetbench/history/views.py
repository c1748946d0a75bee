"""Text for people: the console line after a scan, and the tables of ``history`` and ``diff``.

Kept apart from the store and the drift rules so they stay free of formatting, and from cli.py,
which only chooses what to call.
"""

from __future__ import annotations

from tabulate import tabulate

from ..report.html import when
from ..report.matrix import percent
from ..report.model import History
from . import diff as D
from .store import RunInfo


def since_line(history: History) -> str:
    """``since run 0a1b2c3d4e5f (2026-11-30 02:00:01 UTC): 1 new FAIL, 0 resolved`` (+ hosts, if any)."""
    d = history.since_previous
    if d is None or history.previous is None:
        return "first run of this inventory in the history database: nothing to compare with yet"
    return f"since run {history.previous.run} ({when(history.previous.started)}): {counts(d)}"


def counts(d: D.Diff) -> str:
    parts = [f"{len(d.new_failures)} new FAIL", f"{len(d.resolved)} resolved"]
    for one, many, items in (("other change", "other changes", d.changed), ("host added", "hosts added", d.hosts_added),
                             ("host removed", "hosts removed", d.hosts_removed),
                             ("host newly not assessed", "hosts newly not assessed", d.newly_not_assessed)):
        if items:
            parts.append(f"{len(items)} {many if len(items) > 1 else one}")
    return ", ".join(parts)


def runs_table(runs: list[RunInfo]) -> str:
    """Every run, newest first; a shard of a run group shows its group and "I/N" (plain runs: empty)."""
    rows = [[r.run_id, when(r.started), r.inventory or "(--local)", r.group or "", r.shard or "", f"{r.hosts_assessed}/{r.hosts}",
             r.counts["PASS"], r.counts["FAIL"], r.counts["WARN"], r.counts["INFO"], percent(r.passed, r.failed), r.ran_by]
            for r in runs]
    return tabulate(rows, headers=["run", "started", "inventory", "group", "shard", "assessed", "PASS", "FAIL", "WARN", "INFO",
                                   "score", "ran by"])


def diff_table(d: D.Diff, groups: bool = False) -> str:
    kind = "run group" if groups else "run"
    head = f"from {kind} {d.old.run} ({when(d.old.started)}) to {kind} {d.new.run} ({when(d.new.started)}): {counts(d)}"
    rows = [[kind, c.where, c.benchmark, c.id, c.before, c.after, c.actual]
            for kind, items in (("new FAIL", d.new_failures), ("resolved", d.resolved), ("changed", d.changed))
            for c in items]
    lines = [head]
    if rows:
        lines.append(tabulate(rows, headers=["change", "host or cluster", "benchmark", "id", "before", "after", "actual"],
                              maxcolwidths=[None, None, None, None, None, None, 50]))
    for label, names in (("hosts added", d.hosts_added), ("hosts removed", d.hosts_removed)):
        if names:
            lines.append(f"{label}: {', '.join(names)}")
    for n in d.newly_not_assessed:
        lines.append(f"newly not assessed: {n.host}: {n.status}: {n.reason}")
    return "\n".join(lines)
