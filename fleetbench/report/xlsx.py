"""XLSX workbook (``--format xlsx`` → report.xlsx), for auditors who work in a spreadsheet.

Why a workbook beside the CSVs: a CSV opened in Excel turns ``--flag=value`` into a formula unless
it is quoted (so results.csv prefixes such cells with ``'``), and turns check ids such as ``1.2.10``
into numbers or dates. In a workbook every cell has a type: here EVERY value is a text cell (type
``s``, number format ``@``), so nothing is ever a formula, a number or a date, and values are shown
exactly as found, with no quote in front.

Sheets (README, "XLSX report"):

- ``scan``: the run id, timestamps, benchmark, catalog digest and every scan option, including
  the coverage (inventory, ``--limit``, ``--targets``, ``--check``, ``--skip``); with ``--waivers``,
  the waived counts, the score with and without waivers and the expired / unused / expiring waivers;
- ``results``: the columns of results.csv (with the ``waived`` / ``waiver_*`` columns) (:data:`fleetbench.report.csv.RESULT_COLUMNS`), one row
  per host × check; a host that was not assessed gets one row saying so;
- ``clusters``: the columns of clusters.csv (:data:`fleetbench.report.csv.CLUSTER_COLUMNS`), section 5
  once per cluster: one row per cluster × check, a cluster not assessed gets one row saying so;
- ``matrix <role group>``: one sheet per role group (``matrix worker``…): the columns of
  matrix.csv for that group's hosts and the group's majority and outliers, one row per control
  that some host of the group ran (every control, when no host of the group was assessed).

Every sheet has its header row frozen and an autofilter; status cells are coloured as in
report.html. Characters a workbook cannot hold (control characters from node data) are written
as ``\\xNN``, as in junit.xml; so is a carriage return, which XML would read back as a line feed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from . import matrix as M
from .csv import MATRIX_COLUMNS, cluster_rows, result_rows, run_columns
from .model import Report

#: status → fill colour (the report.html palette, lightened for print)
FILLS = {"PASS": "C6EFCE", "FAIL": "FFC7CE", "WARN": "FFEB9C", "INFO": "DDEBF7", M.NOT_ASSESSED: "D9D9D9"}
_ILLEGAL = re.compile(r"[\x00-\x08\x0b-\x1f]")   # what XML cannot hold, and CR (read back as LF)
_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")
_FILLS = {status: PatternFill("solid", fgColor=colour) for status, colour in FILLS.items()}
_BOLD = Font(bold=True)


def text(value: Any) -> str:
    """The cell text of a value: booleans as true/false, None as empty, control characters as \\xNN."""
    s = ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)
    return _ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def _sheet(wb: Workbook, title: str, rows: Iterable[Iterable[Any]], status_columns: Iterable[str] = ()) -> None:
    """One sheet, streamed (write-only mode: a 500-host fleet has a million cells)."""
    ws = wb.create_sheet(_SHEET_NAME.sub("_", title)[:31])
    table = [[text(v) for v in row] for row in rows]
    if not table:
        return
    widths = [6] * max(len(r) for r in table)
    for row in table:
        for c, value in enumerate(row):
            widths[c] = max(widths[c], min(len(value), 60) + 2)
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(widths))}{len(table)}"
    wanted = set(status_columns)
    coloured = {c for c, name in enumerate(table[0]) if name in wanted}
    for r, row in enumerate(table):
        cells = []
        for c, value in enumerate(row):
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"             # a text cell, even for "=cmd|' /C calc'!A0" or "1.2.10"
            cell.number_format = "@"
            if r == 0:
                cell.font = _BOLD
            elif c in coloured:
                fill = _FILLS.get(value if value in _FILLS else value.split(" ")[0])   # "PASS 3/4": its majority
                if fill is not None:
                    cell.fill = fill
            cells.append(cell)
        ws.append(cells)


def _scan_rows(data: Report) -> Iterable[list[Any]]:
    yield ["field", "value"]
    run_id, scanned = run_columns(data)
    yield from (["run_id", run_id], ["scanned", scanned], ["finished", data.finished],
                ["fleetbench", data.version], ["report schema", data.schema], ["benchmark", data.benchmark],
                ["catalog digest", data.catalog_digest])
    for key, value in data.options.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        yield [key, value]
    s = data.summary
    yield from (["hosts", s.hosts], ["hosts assessed", s.hosts_assessed], ["hosts not assessed", s.hosts_not_assessed])
    if data.waivers is not None:
        yield from (["results waived", s.waived], ["FAIL waived", s.FAIL_waived],
                    ["score without waivers", s.score], ["score with waivers", s.score_waived])
        for kind in ("expired", "unused", "expiring"):
            for w in getattr(data.waivers, kind):
                yield [f"waiver {kind}", f"{w.origin}: {w.describe()}"]


def _group_rows(matrix: M.Matrix, index: int, run: tuple[str, str]) -> Iterable[list[Any]]:
    name, hosts = matrix.groups[index]
    yield [*MATRIX_COLUMNS, *(h.name for h in hosts), "majority", "outliers", "benchmark", "run_id", "scanned"]
    for row in matrix.rows:
        g = row.groups[index]
        if g.ran == 0 and g.not_assessed < len(g.cells):    # no host of the group runs it (one that was not
            continue                                        # assessed says so on the controls the others ran)
        majority = f"{g.majority} {g.majority_count}/{g.ran}" if g.majority else (
            M.NOT_ASSESSED if g.not_assessed == len(g.cells) else "")
        yield [row.id, row.title, row.section, row.target, row.scored, row.automated,
               *(c.status for c in g.cells), majority, "; ".join(f"{c.host.name}: {c.status}" for c in g.outliers),
               row.benchmark, *run]


def render(data: Report) -> dict[str, bytes]:
    """The report model → {"report.xlsx": …}."""
    wb = Workbook(write_only=True)
    _sheet(wb, "scan", _scan_rows(data))
    _sheet(wb, "results", result_rows(data), status_columns=("status",))
    _sheet(wb, "clusters", cluster_rows(data), status_columns=("status",))
    matrix = M.build(data)
    for index, (name, hosts) in enumerate(matrix.groups):
        _sheet(wb, f"matrix {name}", _group_rows(matrix, index, run_columns(data)),
               status_columns=(*(h.name for h in hosts), "majority"))
    buf = io.BytesIO()
    wb.save(buf)
    return {"report.xlsx": buf.getvalue()}
