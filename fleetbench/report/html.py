"""HTML report (``--format html`` → report.html): one self-contained file for auditors.

Why one file: it is mailed, attached to tickets and archived, and opened on machines with no
network. Everything is inlined (CSS, the small sorting/filtering script); the page makes no request
of any kind, and its Content-Security-Policy forbids any (``default-src 'none'``; the one script is
allowed by its sha256 hash, so no injected handler could run even if escaping failed).

Rendering: Jinja2 templates from the top-level ``templates/`` folder (found next to the source tree,
as ``checks/`` is), with autoescaping on, because node data (file names, argv values, config values)
is untrusted, and StrictUndefined, so a template typo fails loudly instead of printing nothing.
The compiled template is cached (:func:`bytecode_cache`): compiling it was a sixth of a 200-host
scan's fixed cost on the jump host (README, "Benchmark").

Content (README, "HTML report"): summary (fleet score, coverage, counts by status / role / section, scan
metadata, hosts), the node × check matrix (:mod:`fleetbench.report.matrix`), per-check details
(the baseline evidence per role group, and a row only for hosts that differ from it, which keeps
500 hosts × 130 checks to a few MB) and per-host details (verdicts, FAILs, outliers, evidence).
It reads the typed report model only: section titles come with the model, never from the catalog
on disk (a report re-rendered later must show the titles of the catalog it was scanned with).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined
from jinja2.bccache import Bucket
from markupsafe import Markup

from . import fleetdata
from . import matrix as M
from .model import History, HostReport, Report, Result, TrendPoint

#: host columns per printed matrix table: what an A4 landscape page holds at 9 pt
PRINT_HOSTS = 12
#: up to this many hosts every cell and detail is static HTML; above, the compact page (fleetdata)
STATIC_HOSTS = 50
#: host columns per page of the compact matrix, and hosts per page of its host list (fleet.js)
PAGE_HOSTS = 100
#: rows of the "needs attention" tables of the compact page
ATTENTION = 25
#: status → the CSS class of a matrix cell (short: a 500 × 130 matrix has 65,000 cells)
CELL_CLASS = {"PASS": "p", "FAIL": "f", "WARN": "w", "INFO": "i", M.NOT_APPLICABLE: "n", M.NOT_ASSESSED: "x"}


def templates_root() -> Path:
    """The ``templates/`` folder next to the source tree (the repository layout)."""
    return Path(__file__).resolve().parent.parent.parent / "templates"


def when(iso: str) -> str:
    """An ISO 8601 timestamp of the report, for people: 2026-11-23 04:35:56 UTC."""
    moment = datetime.fromisoformat(iso)
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname() or ''}".rstrip()


class _Cache(FileSystemBytecodeCache):
    """Jinja's file cache of compiled templates, which never fails a report: a file it cannot read
    or write is compiled again (Jinja itself drops a stale one: its key holds the source's checksum
    and the Python version)."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - a cut or corrupt file (pickle, marshal) means: compile again
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def bytecode_cache(env: dict[str, str] | os._Environ[str] = os.environ) -> _Cache | None:
    """``$XDG_CACHE_HOME/fleetbench/templates`` (else ``~/.cache/fleetbench/templates``), made
    mode 0700, for the compiled templates; None (compile every time) if it cannot be made, or is not
    a folder of this user's that no one else may write: what it holds is run as code."""
    try:
        base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = Path(base) / "fleetbench" / "templates"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.lstat()
    except (OSError, RuntimeError, KeyError):   # no home folder, a read-only one
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return _Cache(str(folder))


@functools.cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(templates_root()), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      bytecode_cache=bytecode_cache())
    env.filters["when"] = when
    env.globals.update(STATUSES=M.STATUSES, NOT_ASSESSED=M.NOT_ASSESSED, NOT_APPLICABLE=M.NOT_APPLICABLE,
                       CELL_CLASS=CELL_CLASS, PRINT_HOSTS=PRINT_HOSTS, PAGE_HOSTS=PAGE_HOSTS,
                       ATTENTION=ATTENTION)
    return env


def _asset(name: str) -> str:
    """A static file of templates/ (CSS, JS), inlined verbatim."""
    source, _, _ = environment().loader.get_source(environment(), name)  # type: ignore[union-attr]
    return source


@dataclass(frozen=True, slots=True)
class HostView:
    """What the per-host part of the report shows about one host."""

    host: HostReport
    group: str
    tally: M.Tally
    ids: dict[str, list[str]]                                        #: status → control ids
    outliers: list[tuple[M.Row, M.GroupRow, M.Cell]] = field(default_factory=list)

    @property
    def fails(self) -> list[Result]:
        return [r for r in self.host.results if r.status == "FAIL"]


def host_views(matrix: M.Matrix) -> list[HostView]:
    """Per host, in matrix column order: its tally, its verdicts' ids, its outlier cells."""
    views = {h.name: HostView(h, M.group_name(h), M.tally(h.name, [h]),
                              {s: [r.id for r in h.results if r.status == s] for s in M.STATUSES})
             for h in matrix.hosts}
    for row in matrix.rows:
        for g in row.groups:
            for cell in g.outliers:
                views[cell.host.name].outliers.append((row, g, cell))
    return list(views.values())


@dataclass(frozen=True, slots=True)
class TrendView:
    """The fleet-score trend as coordinates of an inline SVG (no script, prints as vector graphics).

    x: the runs in order, evenly spaced; y: the score from 0 % (bottom) to 100 % (top). A run with
    nothing scored has no point (and breaks the line), rather than a made-up value.
    """

    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    points: list[tuple[float, float, TrendPoint]]
    lines: list[str]                                                 #: polyline "x,y x,y" runs without gaps


def trend_view(history: History | None) -> TrendView | None:
    if history is None or not history.trend:
        return None
    width, height, left, top, right, bottom = 640, 180, 44, 10, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(history.trend)
    step = plot_w / (n - 1) if n > 1 else 0.0
    points: list[tuple[float, float, TrendPoint]] = []
    lines: list[str] = []
    current: list[str] = []
    for i, p in enumerate(history.trend):
        score = p.score
        if score is None:
            if current:
                lines.append(" ".join(current))
            current = []
            continue
        x = round(left + (i * step if n > 1 else plot_w / 2), 1)
        y = round(top + (1 - score) * plot_h, 1)
        points.append((x, y, p))
        current.append(f"{x},{y}")
    if current:
        lines.append(" ".join(current))
    return TrendView(width=width, height=height, left=left, top=top, plot_w=plot_w, plot_h=plot_h, points=points,
                     lines=lines)


def attention(matrix: M.Matrix, blob: dict[str, Any]) -> tuple[list[list[Any]], list[M.Row]]:
    """The first screen of a large fleet: the assessed hosts with the most outliers (verdicts other
    than their role group's majority), then the most FAILs; and the checks with the most FAILs."""
    assessed = [(i, h) for i, h in enumerate(blob["hosts"]) if M.assessed(matrix.hosts[i])]
    worst = sorted((x for x in assessed if x[1][10] or x[1][11]), key=lambda x: (-x[1][11], -x[1][10], x[0]))
    rows = sorted((r for r in matrix.rows if r.count("FAIL")), key=lambda r: -r.count("FAIL"))
    return [h for _, h in worst[:ATTENTION]], rows[:ATTENTION]


def render_html(data: Report, compact: bool | None = None) -> str:
    """The report model → the text of report.html. ``compact``: the page of a large fleet (the
    default above :data:`STATIC_HOSTS` hosts): static summary, the bulk as data drawn by fleet.js."""
    matrix = M.build(data)
    compact = len(matrix.hosts) > STATIC_HOSTS if compact is None else compact
    script = _asset("report.js") + (_asset("fleet.js") if compact else "")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    blob = fleetdata.build(data, matrix) if compact else None
    worst, failing = attention(matrix, blob) if blob is not None else ([], [])
    return environment().get_template("report.html.j2").render(
        compact=compact,
        blob=Markup(fleetdata.dumps(blob)) if blob is not None else "",
        worst=worst,
        failing=failing,
        strings=blob["s"] if blob is not None else [],
        data=data,
        options=data.options,
        scope=data.scope,
        seconds=(datetime.fromisoformat(data.finished) - datetime.fromisoformat(data.started)).total_seconds(),
        sections=dict(data.sections or {}),
        matrix=matrix,
        fleet=M.fleet(data),
        groups=M.by_group(matrix),
        hosts=host_views(matrix) if not compact else   # the compact page: not-assessed hosts only, fleet.js the rest
        [HostView(h, M.group_name(h), M.tally(h.name, [h]), {}) for h in matrix.hosts if not M.assessed(h)],
        by_section=M.by_section(data),
        not_assessed=[h for h in data.hosts if not M.assessed(h)],
        known_hosts=sorted({h.known_hosts for h in data.hosts if h.known_hosts}),
        benchmarks=sorted(Counter(h.benchmark for h in data.hosts if M.assessed(h)).items(),
                          key=lambda item: M.natural_key(item[0])),
        css=Markup(_asset("report.css")),
        script=Markup(script),
        script_hash=f"sha256-{digest}",
        history=data.history,
        trend=trend_view(data.history),
    )


def render(data: Report, compact: bool | None = None) -> dict[str, bytes]:
    """The report model → {"report.html": …}."""
    return {"report.html": render_html(data, compact).encode("utf-8", "backslashreplace")}
