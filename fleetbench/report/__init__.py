"""Reports: the JSON model every format reads, and atomic writing into --out-dir.

``to_dict`` is the one place the scan result becomes plain data; the console, files and
later formats (HTML, CSV, history) read that dict, so they can never disagree.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import UsageError
from .model import to_dict

FORMATS = ("json",)
__all__ = ["FORMATS", "to_dict", "write_atomic"]


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
