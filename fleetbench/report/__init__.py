"""Reports: the typed model every format reads, and writing a run's files into --out-dir.

:func:`model.build` is the one place the scan result becomes report data; the console and every
file format read that model, so they can never disagree.

Where files go (README, "Run folders"):

- default: ``D/<UTC timestamp>-<run id>/`` gets this run's files, then the symlink ``D/latest`` is
  switched to it atomically (a symlink made under a temporary name, then ``os.replace``), after
  every file is written: ``D/latest/report.html`` is always one whole run, never a mix, and older
  runs stay beside it (the scheduled-audits history builds on these folders);
- ``--flat``: today's fixed names directly in ``D``; the files of formats this run did not write
  that a previous flat run left are removed, so ``D`` never holds a mix of two runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..atomic import commit, discard, stage, symlink_atomic, write_atomic
from ..errors import UsageError
from . import csv, html, junit
from .model import Report, build, from_dict, host_dict, to_dict

__all__ = ["FORMATS", "FILES", "Written", "build", "check_out_dir", "check_writable", "from_dict", "run_folder",
           "to_dict", "write", "write_atomic"]

LATEST = "latest"


def _json(data: Report) -> dict[str, bytes]:
    return {"report.json": b"".join(_json_chunks(data))}


def _json_chunks(data: Report) -> Iterator[bytes]:
    """report.json as UTF-8 pieces of about 64 KiB: the same bytes as ``json.dumps(to_dict(data),
    indent=2, ensure_ascii=False) + "\\n"``, never all of them in memory at once.

    Why not :class:`json.JSONEncoder` with ``indent``: with an indent it runs its pure-Python
    generator, one ``yield`` per token (a third of a second for 200 hosts, the largest share of the
    report files' CPU); :func:`_indented` writes the same bytes a host at a time with the C string
    encoder (``tests/test_report_stream.py`` compares them with ``json.dumps``).
    """
    tree = to_dict(data, hosts=False)
    tree["hosts"] = _HOSTS                              # the hosts are written one by one in its place
    head, tail = _indented(tree, 0).split(_HOSTS_MARK, 1)
    parts: list[str] = [head, "["]
    size = len(head)
    for i, host in enumerate(data.hosts):
        part = ("," if i else "") + "\n    " + _indented(host_dict(host), 2)
        parts.append(part)
        size += len(part)
        if size >= 1 << 16:
            yield "".join(parts).encode()
            parts.clear()
            size = 0
    parts.append(("\n  ]" if data.hosts else "]") + tail + "\n")
    yield "".join(parts).encode()


_encode_str = json.encoder.encode_basestring       # the C encoder of ensure_ascii=False
_HOSTS = object()
#: where the hosts go: a control character never appears raw in JSON text (strings escape them)
_HOSTS_MARK = "\x01hosts\x01"


def _indented(value: Any, level: int) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)`` as it would appear ``level`` levels deep."""
    if isinstance(value, str):
        return _encode_str(value)
    if value is _HOSTS:
        return _HOSTS_MARK
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return json.dumps(value)                    # repr, or Infinity/NaN as json writes them
    inner = "\n" + "  " * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{" + inner + ("," + inner).join(_encode_str(_key(k)) + ": " + _indented(v, level + 1)
                                                for k, v in value.items()) + "\n" + "  " * level + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join(_indented(v, level + 1) for v in value) + "\n" + "  " * level + "]"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key: Any) -> str:
    """A dict key as json writes it (str as is; numbers, booleans and None as their JSON text)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int | float):
        return _indented(key, 0)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _xlsx(data: Report) -> dict[str, bytes]:
    """openpyxl is imported only when a workbook is asked for: it would add a fifth of a second to
    every start of fleetbench (`checks`, `inventory`, a cron scan writing JSON)."""
    from . import xlsx

    return xlsx.render(data)


#: format name → renderer: report model → {file name: bytes}
WRITERS: dict[str, Callable[[Report], dict[str, bytes]]] = {
    "json": _json,
    "html": html.render,
    "csv": csv.render,
    "junit": junit.render,
    "xlsx": _xlsx,
}
FORMATS = tuple(WRITERS)
#: format name → the fixed file names it writes
FILES: dict[str, tuple[str, ...]] = {"json": ("report.json",), "html": ("report.html",),
                                     "csv": ("matrix.csv", "results.csv", "clusters.csv"), "junit": ("junit.xml",),
                                     "xlsx": ("report.xlsx",)}


@dataclass(frozen=True, slots=True)
class Written:
    folder: Path                          #: where this run's files are (the run folder, or D with --flat)
    paths: tuple[Path, ...]
    removed: tuple[Path, ...] = ()        #: --flat: stale files of an earlier run, removed


def run_folder(data: Report) -> str:
    """The run folder's name: ``20261123T044001Z-0a1b2c3d4e5f`` (sorts by time)."""
    moment = datetime.fromisoformat(data.started).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{data.run_id}"


def _rendered(fmt: str, data: Report) -> Iterable[tuple[str, Iterable[bytes]]]:
    """(file name, its bytes in pieces) of one format; report.json, junit.xml and the CSV files are streamed."""
    if fmt == "json":
        return [("report.json", _json_chunks(data))]
    if fmt == "csv":
        return csv.render_chunks(data)
    if fmt == "junit":
        return [("junit.xml", junit.render_chunks(data))]
    return [(name, (payload,)) for name, payload in WRITERS[fmt](data).items()]


def render(data: Report, formats: list[str]) -> dict[str, bytes]:
    rendered: dict[str, bytes] = {}
    for fmt in formats:
        rendered.update(WRITERS[fmt](data))
    return rendered


def write(data: Report, formats: list[str], out_dir: Path, flat: bool = False) -> Written:
    """Render every requested format, one at a time, each into a temporary file; then rename them all.

    Every file is rendered before any is renamed into place, so a rendering error leaves no report
    from this run half-written beside an old one; only one format's output (report.json as it is
    streamed: none) is in memory at a time.
    """
    folder = out_dir if flat else out_dir / run_folder(data)
    made = not folder.exists()
    staged: list[tuple[str, Path]] = []     # one format in memory at a time, all renamed at the end
    try:
        for fmt in formats:
            for name, chunks in _rendered(fmt, data):
                staged.append((stage(folder / name, chunks), folder / name))
    except BaseException:
        for tmp, _ in staged:
            discard(tmp)
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    paths = []
    for tmp, path in staged:
        commit(tmp, path)
        paths.append(path)
    written = {p.name for p in paths}
    if flat:
        stale = [out_dir / name for fmt in FORMATS for name in FILES[fmt] if name not in written]
        removed = [p for p in stale if p.is_file() or p.is_symlink()]
        for p in removed:
            p.unlink(missing_ok=True)
        return Written(folder, tuple(paths), tuple(removed))
    folder.mkdir(parents=True, exist_ok=True)
    _switch_latest(out_dir, folder.name)
    return Written(folder, tuple(paths))


def _switch_latest(out_dir: Path, target: str) -> None:
    """Point ``out_dir/latest`` at ``target`` (relative, so the folder can be moved) atomically."""
    symlink_atomic(target, out_dir / LATEST)


def check_writable(folder: Path, flag: str) -> None:
    """Before any host is contacted: ``folder`` can be created and a file written in it.

    Creates the missing folders and a temporary file, then removes all of them again, so that a
    later refusal (bad input found after this check) leaves nothing behind.
    """
    if folder.exists() and not folder.is_dir():
        raise UsageError(flag, f"'{folder}' exists and is not a directory")
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fleetbench-check.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise UsageError(flag, f"cannot write to '{folder}': {exc.strerror or exc}") from None
    finally:
        for p in created:                   # deepest first; only the empty folders made here
            try:
                p.rmdir()
            except OSError:
                break


def check_out_dir(out_dir: Path, flat: bool = False) -> None:
    """``--out-dir`` is writable; without ``--flat``, its ``latest`` is ours to switch (a symlink)."""
    check_writable(out_dir, "--out-dir")
    latest = out_dir / LATEST
    if not flat and latest.exists() and not latest.is_symlink():
        raise UsageError("--out-dir", f"'{latest}' exists and is not a symlink: fleetbench keeps 'latest' "
                                      "pointing at the newest run folder (move it, or use --flat)")
