"""CSV reports (``--format csv``): matrix.csv (one row per check) and results.csv (long form).

Why CSV: auditors and fleet owners open these in a spreadsheet to sort, filter and pivot. Both files
are UTF-8 (without BOM) with a header row, written with the csv module (RFC 4180 quoting, CRLF line ends), and
their columns are a stable contract (README, "CSV reports"):

- ``matrix.csv``: ``id,title,section,target,scored,automated``, one column per host (named after the
  host, hosts grouped by role as in report.html) holding its status, ``not assessed`` or ``n/a``,
  then ``majority``, ``outliers``, ``benchmark``, ``run_id`` and ``scanned``: one row per control of
  each benchmark version in the fleet (see :mod:`fleetbench.report.matrix`).
- ``results.csv``: :data:`RESULT_COLUMNS`, one row per host × check; a host that was not assessed
  gets one row with ``status`` = ``not assessed`` and its reason.
- ``clusters.csv``: :data:`CLUSTER_COLUMNS`, section 5 once per cluster: one row per cluster × check
  (``offending``: the named objects joined with ``; ``, first 20; ``offending_count``: all of them); a
  cluster that was not assessed gets one row with ``status`` = ``not assessed`` and its reason.

New columns are only ever appended (``benchmark`` came with per-node benchmarks; ``run_id`` and
``scanned``, the scan's start in UTC ISO 8601, came so that the files of many runs can be stacked;
``waived`` (true/false) and ``waiver_reason``, ``waiver_owner``, ``waiver_ticket``, ``waiver_expires``,
``waiver_origin`` came with ``--waivers``: a waived result keeps its status).

Node data is untrusted: a file name or flag value such as ``=HYPERLINK(…)`` would be a formula in a
spreadsheet. Every cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
prefixed with a single quote, which spreadsheets show as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from .matrix import NOT_ASSESSED, Matrix, build
from .model import Report

MATRIX_COLUMNS = ("id", "title", "section", "target", "scored", "automated")
RESULT_COLUMNS = ("host", "address", "roles", "host_status", "id", "check", "title", "section", "target",
                  "status", "scored", "automated", "expected", "actual", "source", "reason", "remediation",
                  "benchmark", "run_id", "scanned", "waived", "waiver_reason", "waiver_owner", "waiver_ticket",
                  "waiver_expires", "waiver_origin")
CLUSTER_COLUMNS = ("cluster", "cluster_status", "source_host", "hosts", "id", "check", "title", "section", "status",
                   "scored", "automated", "actual", "offending", "offending_count", "reason", "remediation", "run_id",
                   "scanned", "waived", "waiver_reason", "waiver_owner", "waiver_ticket", "waiver_expires",
                   "waiver_origin")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """The cell text for ``value``: booleans as true/false, formula starters quoted with ``'``."""
    text = ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


#: :func:`safe_cell` once per distinct value (``typed``: True and 1 are different cells): a fleet's
#: rows repeat the same titles, paths and verdicts, and results.csv has a cell per host × check × column
_safe_cell = lru_cache(maxsize=1 << 14, typed=True)(safe_cell)


def _write(rows: Iterable[Iterable[Any]]) -> bytes:
    return b"".join(_chunks(rows))


def _chunks(rows: Iterable[Iterable[Any]]) -> Iterator[bytes]:
    """The file in pieces of about 64 KiB, so a 1,000-host results.csv is never whole in memory."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
        if buf.tell() >= 1 << 16:
            yield buf.getvalue().encode("utf-8", "backslashreplace")   # an undecodable byte from a node: \udcXX
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8", "backslashreplace")


def matrix_rows(matrix: Matrix, run: tuple[str, str] = ("", "")) -> Iterator[list[Any]]:
    """The header, then one row per control; ``run`` is (run id, scan timestamp), the last two columns."""
    hosts = matrix.hosts
    yield [*MATRIX_COLUMNS, *(h.name for h in hosts), "majority", "outliers", "benchmark", "run_id", "scanned"]
    for row in matrix.rows:
        majority = "; ".join(f"{g.group}: {g.majority} {g.majority_count}/{g.ran}"
                             for g in row.groups if g.majority is not None)
        outliers = "; ".join(f"{c.host.name}: {c.status}" for c in row.outliers)
        yield [row.id, row.title, row.section, row.target, row.scored, row.automated,
               *(c.status for c in row.cells), majority, outliers, row.benchmark, *run]


def run_columns(data: Report) -> tuple[str, str]:
    """The values of the ``run_id`` and ``scanned`` columns."""
    return data.run_id, data.started


def result_rows(data: Report) -> Iterator[list[Any]]:
    """The header, then one row per host × check (one row for a host that was not assessed)."""
    yield list(RESULT_COLUMNS)
    run_id, scanned = run_columns(data)
    for h in data.hosts:
        host: dict[str, Any] = {"host": h.name, "address": h.address, "roles": ",".join(h.roles),
                                "host_status": h.status, "benchmark": h.benchmark, "run_id": run_id,
                                "scanned": scanned}
        if not h.assessed:
            row = {**dict.fromkeys(RESULT_COLUMNS, ""), **host, "status": NOT_ASSESSED, "reason": h.error, "waived": False}
            yield [row[k] for k in RESULT_COLUMNS]
        for r in h.results:
            row = {"id": r.id, "check": r.check, "title": r.title, "section": r.section, "target": r.target,
                   "status": r.status, "scored": r.scored, "automated": r.automated, "expected": r.expected,
                   "actual": r.actual, "source": r.source, "reason": r.reason, "remediation": r.remediation, **host,
                   "waived": r.waiver is not None}
            w = r.waiver
            row.update({"waiver_reason": w.reason if w else "", "waiver_owner": w.owner if w else "",
                        "waiver_ticket": w.ticket if w else "", "waiver_expires": w.expires if w else "",
                        "waiver_origin": w.origin if w else ""})
            yield [row[k] for k in RESULT_COLUMNS]


def cluster_rows(data: Report) -> Iterator[list[Any]]:
    """The header, then one row per cluster × section-5 check (one row for a cluster not assessed)."""
    yield list(CLUSTER_COLUMNS)
    run_id, scanned = run_columns(data)
    for c in data.clusters:
        head: dict[str, Any] = {"cluster": c.name, "cluster_status": "ok" if c.assessed else NOT_ASSESSED,
                                "source_host": c.source_host or "", "hosts": ",".join(c.hosts), "run_id": run_id,
                                "scanned": scanned}
        if not c.assessed:
            row = {**dict.fromkeys(CLUSTER_COLUMNS, ""), **head, "status": NOT_ASSESSED,
                   "reason": c.status.removeprefix("not assessed: "), "waived": False}
            yield [row[k] for k in CLUSTER_COLUMNS]
        for r in c.results:
            w = r.waiver
            row = {"id": r.id, "check": r.check, "title": r.title, "section": r.section, "status": r.status,
                   "scored": r.scored, "automated": r.automated, "actual": r.actual, "offending": "; ".join(r.offending),
                   "offending_count": r.offending_count, "reason": r.reason, "remediation": r.remediation, **head,
                   "waived": w is not None, "waiver_reason": w.reason if w else "", "waiver_owner": w.owner if w else "",
                   "waiver_ticket": w.ticket if w else "", "waiver_expires": w.expires if w else "",
                   "waiver_origin": w.origin if w else ""}
            yield [row[k] for k in CLUSTER_COLUMNS]


def render(data: Report) -> dict[str, bytes]:
    """The report model → {"matrix.csv": …, "results.csv": …, "clusters.csv": …}."""
    return {"matrix.csv": _write(matrix_rows(build(data), run_columns(data))), "results.csv": _write(result_rows(data)),
            "clusters.csv": _write(cluster_rows(data))}


def render_chunks(data: Report) -> list[tuple[str, Iterator[bytes]]]:
    """:func:`render`'s files, each produced piece by piece as it is written (``report.write``)."""
    return [("matrix.csv", _chunks(matrix_rows(build(data), run_columns(data)))), ("results.csv", _chunks(result_rows(data))),
            ("clusters.csv", _chunks(cluster_rows(data)))]
