"""The compact data of a large fleet's report.html: the matrix and the drill-down as one JSON blob.

Why: above :data:`fleetbench.report.html.STATIC_HOSTS` hosts the page no longer writes every
matrix cell, per-check deviation and per-host detail as HTML (5,000 hosts × 130 checks would be
about 40 MiB of tags, and minutes of Jinja2 work). The summary stays static HTML; the bulk goes
here, dictionary-encoded, and ``templates/fleet.js`` renders it on demand. Most hosts share most
values, so every string is stored once (``s``) and referenced by its index, every distinct piece of
evidence (status, actual, source, reason, remediation, waiver) once (``r``), and a matrix row is one
character per host.

Shape (all indexes are into the lists of the blob; -1: none):

- ``s``: strings; ``w``: waivers as [describe, origin]; ``r``: results as
  [status, actual, source, reason, remediation, waiver];
- ``groups``: role groups, [name, first host, host count] in matrix column order;
- ``clusters``: cluster names; a host in none is in cluster -1;
- ``hosts``: per host in matrix column order: [name, address, roles, benchmark, group, cluster,
  known_hosts, accepted_host_key, detected, seconds, FAILs, outliers, evidence, assessed (1 or 0)];
  evidence: [hostname, [[component, pid, [argv…], [[key, value]…]]…], [[variable, path, from]…]] or -1;
- ``rows``: per check: [key, id, title, section, benchmark, target, scored, automated, expected,
  check, cells, [[majority, count, ran, baseline, baseline count] or -1 per group], [[host, result]…]];
  cells: one character per host: ``p f w i`` (upper case: an outlier), ``n`` (did not run it),
  ``x`` (host not assessed); the last list: the deviations (every host whose evidence is not its
  group's baseline, see :mod:`fleetbench.report.matrix`).

Escaping: the blob sits in ``<script type="application/json">``, so :func:`dumps` writes ``<``,
``>`` and ``&`` as ``\\u003c`` etc.: no node value can close the element or open a comment; the
script inserts every value with ``textContent``.
"""

from __future__ import annotations

import json
from typing import Any

from . import matrix as M
from .model import Evidence, Report, Result

#: matrix status → cell character (upper case marks an outlier)
CODE = {"PASS": "p", "FAIL": "f", "WARN": "w", "INFO": "i", M.NOT_APPLICABLE: "n", M.NOT_ASSESSED: "x"}


class _Interner:
    """Values stored once, referenced by index."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._index: dict[Any, int] = {}

    def __call__(self, value: Any) -> int:
        if value is None:
            return -1
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.items)
            self.items.append(value)
        return found


def build(data: Report, matrix: M.Matrix) -> dict[str, Any]:
    """The blob of ``data`` (its matrix already built): see the module docstring."""
    s = _Interner()
    waivers = _Interner()
    results = _Interner()

    def result(r: Result) -> int:
        w = -1 if r.waiver is None else waivers((r.waiver.describe(), r.waiver.origin))
        return results((CODE[r.status], s(r.actual), s(r.source), s(r.reason), s(r.remediation), w))

    hosts = matrix.hosts
    index = {h.name: i for i, h in enumerate(hosts)}
    cluster_names = [c.name for c in data.clusters]
    cluster_of = {name: i for i, c in enumerate(data.clusters) for name in c.hosts}
    fails = [0] * len(hosts)
    outliers = [0] * len(hosts)
    rows: list[list[Any]] = []
    for row in matrix.rows:
        chars: list[str] = []
        groups: list[Any] = []
        deviations: list[list[int]] = []
        for g in row.groups:
            for c in g.cells:
                code = CODE[c.status]
                if c.outlier:
                    outliers[index[c.host.name]] += 1
                    code = code.upper()
                if c.status == "FAIL":
                    fails[index[c.host.name]] += 1
                chars.append(code)
            if g.baseline is None or g.majority is None:
                groups.append(-1)
            else:
                groups.append([CODE[g.majority], g.majority_count, g.ran, result(g.baseline), g.baseline_count])
            deviations.extend([index[c.host.name], result(c.result)] for c in g.deviations if c.result is not None)
        rows.append([row.key, row.id, s(row.title), row.section, s(row.benchmark), s(row.target), int(row.scored),
                     int(row.automated), s(row.expected), s(row.check), "".join(chars), groups, deviations])
    starts: list[list[Any]] = []
    first = 0
    for name, members in matrix.groups:
        starts.append([name, first, len(members)])
        first += len(members)
    group_of = {h.name: gi for gi, (_, members) in enumerate(matrix.groups) for h in members}
    host_rows = [[h.name, h.address, s(", ".join(h.roles)), s(h.benchmark), group_of[h.name], cluster_of.get(h.name, -1),
                  s(h.known_hosts), s(h.accepted_host_key), s(_detected(h.detected)), round(h.seconds, 2),
                  fails[i], outliers[i], _evidence(h.evidence, s), int(M.assessed(h))]
                 for i, h in enumerate(hosts)]
    return {"s": s.items, "w": [list(w) for w in waivers.items], "r": [list(r) for r in results.items],
            "groups": starts, "clusters": cluster_names, "hosts": host_rows, "rows": rows}


def _detected(d: Any) -> str | None:
    if d is None:
        return None
    return f"{d.distribution} {d.kubernetes_version or '(version unknown)'} from {d.version_source}: {d.reason}"


def _evidence(e: Evidence | None, s: _Interner) -> Any:
    if e is None:
        return -1
    return [s(e.hostname),
            [[s(name), p.pid, [s(a) for a in p.argv], [[s(k), s(v)] for k, v in p.env.items()]]
             for name, p in e.processes.items()],
            [[s(name), s(p.path), s(p.source)] for name, p in e.paths.items()]]


def dumps(blob: dict[str, Any]) -> str:
    """JSON that is safe as the text of a <script> element: no ``<``, ``>`` or ``&`` appears raw."""
    text = json.dumps(blob, ensure_ascii=False, separators=(",", ":"), check_circular=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
