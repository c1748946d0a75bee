"""Files written whole or not at all, and what a second signal must clean up.

Every file fleetbench writes (reports, the ``latest`` link, bundles, the Prometheus textfile, a
known_hosts entry accepted on first contact) goes through :func:`write_atomic`: a temporary file
in the same folder, fsync'ed, then renamed over the target, so a reader sees the old content or the
new one, never half. The temporary names in flight are kept in :data:`_PENDING`, so a second
SIGINT/SIGTERM, which ends the process at once (``interrupt.py``), removes them first
(:func:`remove_pending`) and leaves no partial file behind, wherever it lands; what else must be
undone then (the run lock's holder line) registers with :func:`at_abort`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

_PENDING: set[str] = set()
_AT_ABORT: list[Callable[[], None]] = []


def at_abort(undo: Callable[[], None]) -> None:
    """Run ``undo`` if the process is ended at once (a second signal); :func:`forget_abort` drops it."""
    _AT_ABORT.append(undo)


def forget_abort(undo: Callable[[], None]) -> None:
    if undo in _AT_ABORT:
        _AT_ABORT.remove(undo)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` so readers see the old content or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _PENDING.add(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _PENDING.discard(tmp)


def stage(path: Path, chunks: Iterable[bytes], mode: int = 0o644) -> str:
    """Write ``chunks`` to a temporary file beside ``path`` (fsync'ed) and return its name; the
    caller renames it over ``path`` with :func:`commit` or removes it with :func:`discard`. Until
    then it is pending like :func:`write_atomic`'s, so a second signal removes it. Lets several
    files be written one at a time (one in memory at once) and still appear together or not at all.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _PENDING.add(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        discard(tmp)
        raise
    return tmp


def commit(tmp: str, path: Path) -> None:
    """Rename a :func:`stage`'d file over ``path``."""
    os.replace(tmp, path)
    _PENDING.discard(tmp)


def discard(tmp: str) -> None:
    """Remove a :func:`stage`'d file that will not be committed."""
    Path(tmp).unlink(missing_ok=True)
    _PENDING.discard(tmp)


def symlink_atomic(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` in one step (a new link under a temporary name, renamed over it)."""
    tmp = link.with_name(f".{link.name}.{target}.tmp")
    tmp.unlink(missing_ok=True)
    _PENDING.add(str(tmp))
    try:
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        _PENDING.discard(str(tmp))


def remove_pending() -> None:
    """Remove every temporary file still being written and run the :func:`at_abort` undos (called
    just before an immediate exit)."""
    for tmp in list(_PENDING):
        try:
            os.unlink(tmp)
        except OSError:
            pass
    for undo in list(_AT_ABORT):
        try:
            undo()
        except OSError:
            pass
