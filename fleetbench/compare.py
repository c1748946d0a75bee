"""Two benchmark versions → the controls that changed between them (``fleetbench checks --diff``).

A CIS number may name a different check in another version, a control may change target, scoring,
skip, paths (a distribution's own files), mode, owner, expected value or allow-list. This module only computes the rows; ``cli`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError
from .models import Catalog, Control


@dataclass(frozen=True, slots=True)
class Change:
    """One row of a benchmark diff: what changed in control ``id`` from version a to version b."""

    id: str                               #: CIS number, "4.2.15"
    change: str                           #: "removed", "added", "now a different check", or the field name
    before: str                           #: in version a ("" when added)
    after: str                            #: in version b ("" when removed)


def describe(control: Control) -> dict[str, str]:
    """The facts of a control that a version change can touch, as comparable text."""
    check = control.check
    return {"check": check.id, "title": control.title, "target": control.target,
            "scored": str(control.scored).lower(), "automated": str(control.automated).lower(),
            "skip": control.skip, "paths": " ".join(check.paths), "mode": check.mode or "", "owner": check.owner or "",
            "expects": "; ".join(f"{t.flag or t.config_key} {t.op} {t.value or ''}".strip() for t in check.tests),
            "allowed": ",".join(check.allowed)}


def _list_change(a: Control, b: Control, key: str, before: str, after: str) -> tuple[str, str]:
    """For allow-lists, what was dropped and added rather than two long lists."""
    ta, tb = a.check.tests, b.check.tests
    if key == "expects" and len(ta) == len(tb) == 1 and ta[0].op == tb[0].op == "valid_elements":
        old, new = set((ta[0].value or "").split(",")), set((tb[0].value or "").split(","))
        return (f"{ta[0].flag} allows {len(old)}; dropped: {', '.join(sorted(old - new)) or '-'}",
                f"allows {len(new)}; added: {', '.join(sorted(new - old)) or '-'}")
    return before, after


def _number(cid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in cid.split("."))


def diff(catalog: Catalog, a: str, b: str) -> list[Change]:
    """The changes from benchmark ``a`` to benchmark ``b``, in CIS number order.

    Raises:
        UsageError: when ``b`` is not a benchmark of the catalog (``a`` is checked by the caller's
            ``--benchmark`` handling).
    """
    if b not in catalog.benchmarks:
        raise UsageError("--diff", f"unknown benchmark '{b}' (available: {', '.join(sorted(catalog.benchmarks))})")
    old = {c.id: c for c in catalog.benchmarks[a].controls}
    new = {c.id: c for c in catalog.benchmarks[b].controls}
    rows: list[Change] = []
    for cid in sorted(old.keys() | new.keys(), key=_number):
        if cid not in new:
            rows.append(Change(cid, "removed", old[cid].title, ""))
        elif cid not in old:
            rows.append(Change(cid, "added", "", new[cid].title))
        else:
            before, after = describe(old[cid]), describe(new[cid])
            if before["check"] != after["check"]:
                rows.append(Change(cid, "now a different check", before["title"], after["title"]))
                continue
            for key in before:
                if before[key] != after[key]:
                    rows.append(Change(cid, key, *_list_change(old[cid], new[cid], key, before[key], after[key])))
    return rows
