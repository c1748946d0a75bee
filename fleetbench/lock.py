"""The run lock: one fleetbench run at a time per out-dir (and, later, per history database).

Why: a nightly cron job that overruns meets the next night's run; two runs writing the same
folders (and database) would interleave. The second run exits 5 and says who holds the lock.

How: ``fcntl.flock`` on the lock file is the lock itself (the kernel drops it when the holder
dies, however it dies), and the holder writes ``{"pid", "host", "started", "run_id"}`` into the
file, for the message and for one case flock cannot settle: a file on NFS, where the lock of a
client that crashed may not be visible or may linger. So, when the flock is granted:

- the file is empty: the lock is free;
- it names a process on THIS host: that process no longer holds the lock (dead, or its PID reused
  after a crash): it is stale and taken over, with a warning;
- it names another host: that host's process may still be running (its PID means nothing here),
  so it is never taken over: exit 5, naming it; remove the file once that host's run is known dead.

On release the file is emptied, not removed: removing it would let a run that opened the old file
and a run that creates a new one both hold "the" lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .atomic import at_abort, forget_abort
from .errors import FleetbenchError

log = logging.getLogger(__name__)

LOCK_NAME = ".fleetbench.lock"            #: the lock file's name inside --out-dir


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or held) a lock, as written in the lock file."""

    pid: int
    host: str
    started: str                          #: ISO 8601, UTC
    run_id: str = ""

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}, started {self.started}" + (f" (run {self.run_id})" if self.run_id else "")


class LockHeld(FleetbenchError):
    """Another run holds the lock (exit 5)."""

    def __init__(self, path: Path | str, holder: Holder | None) -> None:
        who = holder.describe() if holder else "a process that has not written its name yet"
        super().__init__(f"another fleetbench run holds {path}: {who}")
        self.path = path
        self.holder = holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:               # exists, another user's
        return True
    return True


def _parse(text: str) -> Holder | None:
    try:
        data: Any = json.loads(text)
        return Holder(pid=int(data["pid"]), host=str(data["host"]), started=str(data["started"]),
                      run_id=str(data.get("run_id", "")))
    except (ValueError, KeyError, TypeError):
        return None


class RunLock:
    """``with RunLock(path, run_id):`` holds the lock for the block; :class:`LockHeld` if another run has it."""

    def __init__(self, path: str | Path, run_id: str = "") -> None:
        self.path = Path(path)
        self.run_id = run_id
        self._fh: IO[str] | None = None
        self.took_over: Holder | None = None   #: set when a stale lock of this host was taken over

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockHeld`; never waits."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")   # noqa: SIM115 - held until release()
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                fh.seek(0)
                raise LockHeld(self.path, _parse(fh.read())) from None
            fh.seek(0)
            text = fh.read()
            previous = _parse(text) if text.strip() else None
            here = socket.gethostname()
            if previous is not None:
                if previous.host != here:
                    raise LockHeld(self.path, previous)
                if previous.pid != os.getpid():
                    state = "still running, but not holding the lock" if _alive(previous.pid) else "no longer running"
                    log.warning("taking over the stale lock %s of %s (%s)", self.path, previous.describe(), state)
                    self.took_over = previous
            holder = Holder(pid=os.getpid(), host=here, started=datetime.now(UTC).isoformat(timespec="seconds"),
                            run_id=self.run_id)
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({"pid": holder.pid, "host": holder.host, "started": holder.started,
                                 "run_id": holder.run_id}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        except BaseException:
            fh.close()                    # closing drops the flock if it was taken
            raise
        self._fh = fh
        at_abort(self._empty_now)

    def _empty_now(self) -> None:
        """On an immediate exit (second signal): empty the holder line; the kernel drops the flock."""
        if self._fh is not None:
            os.ftruncate(self._fh.fileno(), 0)

    def release(self) -> None:
        """Empty the file (the lock is free) and drop the flock; safe to call twice."""
        forget_abort(self._empty_now)
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.seek(0)
            fh.truncate()
            fh.flush()
        finally:
            fh.close()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
