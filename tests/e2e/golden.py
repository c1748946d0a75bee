"""Golden snapshots of the labs' verdicts, control by control.

Each lab module compares its scan's report with ``tests/e2e/golden/<lab>.json``: per host its
status, error and benchmark, and per ``"<benchmark> <control id>"`` the status, actual, source and
reason. That is the product ("verdicts do not move by accident"), so a refactor proves itself by
leaving these files untouched, and an intentional change shows up as a reviewable diff of them.
Run with ``FLEETBENCH_UPDATE_GOLDEN=1`` to rewrite the files instead of comparing.

Values that change from run to run are normalised: process ids (``pid 1234`` → ``pid <pid>``,
``/proc/1234/`` → ``/proc/<pid>/``) and the lab's temporary folder (→ ``<tmp>``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).parent / "golden"
FIELDS = ("status", "actual", "source", "reason")
_PID = re.compile(r"\bpid (\d+)\b")
_PROC = re.compile(r"/proc/\d+(?=/|\b)")


def _norm(text: Any, tmp: str | None) -> Any:
    if not isinstance(text, str):
        return text
    if tmp:
        text = text.replace(tmp, "<tmp>")
    return _PROC.sub("/proc/<pid>", _PID.sub("pid <pid>", text))


def snapshot(hosts: list[dict[str, Any]], tmp: str | None = None) -> dict[str, Any]:
    """The verdict-bearing part of a report's ``hosts`` list, normalised and keyed for diffing."""
    snap: dict[str, Any] = {}
    for h in sorted(hosts, key=lambda h: h["name"]):
        snap[h["name"]] = {
            "status": h["status"], "error": _norm(h["error"], tmp), "benchmark": h["benchmark"],
            "controls": {f"{h['benchmark']} {r['id']}": {k: _norm(r[k], tmp) for k in FIELDS} for r in h["results"]},
        }
    return snap


def _diff(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name in sorted(set(want) | set(got)):
        w, g = want.get(name), got.get(name)
        if w is None or g is None:
            lines.append(f"host {name}: {'only in the scan' if w is None else 'missing from the scan'}")
            continue
        for key in ("status", "error", "benchmark"):
            if w[key] != g[key]:
                lines.append(f"host {name} {key}: golden {w[key]!r} != scan {g[key]!r}")
        for cid in sorted(set(w["controls"]) | set(g["controls"])):
            wc, gc = w["controls"].get(cid), g["controls"].get(cid)
            if wc == gc:
                continue
            if wc is None or gc is None:
                lines.append(f"{name} {cid}: {'only in the scan' if wc is None else 'missing from the scan'}")
                continue
            for k in FIELDS:
                if wc[k] != gc[k]:
                    lines.append(f"{name} {cid} {k}:\n    golden {wc[k]!r}\n    scan   {gc[k]!r}")
    return lines


def check_golden(lab: str, hosts: list[dict[str, Any]], tmp: str | None = None) -> None:
    """Compare a scan with the committed golden file (or rewrite it with FLEETBENCH_UPDATE_GOLDEN=1).

    Raises:
        AssertionError: with a readable list of only the controls that differ.
    """
    path = GOLDEN_DIR / f"{lab}.json"
    got = snapshot(hosts, tmp)
    if os.environ.get("FLEETBENCH_UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run with FLEETBENCH_UPDATE_GOLDEN=1 to create it"
    want = json.loads(path.read_text(encoding="utf-8"))
    diff = _diff(want, got)
    assert not diff, f"{len(diff)} difference(s) from {path.name} (FLEETBENCH_UPDATE_GOLDEN=1 rewrites it):\n" + "\n".join(diff)
