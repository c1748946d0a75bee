"""Reports: the JSON model every format reads, and atomic writing into --out-dir.

``to_dict`` is the one place the scan result becomes plain data; the console, files and
later formats (HTML, CSV, history) read that dict, so they can never disagree.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError
from . import csv, html, junit
from .model import to_dict

__all__ = ["FORMATS", "to_dict", "write", "write_atomic"]


def _json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


#: format name → (file names it writes, renderer: report dict → {file name: bytes})
WRITERS: dict[str, Callable[[dict[str, Any]], dict[str, bytes]]] = {
    "json": lambda data: {"report.json": _json(data)},
    "html": html.render,
    "csv": csv.render,
    "junit": junit.render,
}
FORMATS = tuple(WRITERS)


def write(data: dict[str, Any], formats: list[str], out_dir: Path) -> list[Path]:
    """Render every requested format first, then write each file atomically.

    Rendering everything before writing anything means a rendering error leaves no report
    from this run half-written beside an old one.
    """
    rendered: dict[str, bytes] = {}
    for fmt in formats:
        rendered.update(WRITERS[fmt](data))
    paths = []
    for name, payload in rendered.items():
        path = out_dir / name
        write_atomic(path, payload)
        paths.append(path)
    return paths


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so readers see the old content or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError("--out-dir", f"'{out_dir}' exists and is not a directory")
