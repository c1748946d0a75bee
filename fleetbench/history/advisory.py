"""The run lock of a PostgreSQL history database: a session-level advisory lock, held while a scan runs.

Why not a file, as for SQLite: the database lives on a server, its writers on several jump hosts;
no file is shared by them. PostgreSQL's advisory locks are: ``pg_try_advisory_lock(key)`` is granted
to one session at a time, never waits, and the server drops it when that session ends, however the
process holding it died (kill -9, a crashed jump host: its TCP session times out). So there is no
stale lock to take over.

The key is what must not run twice at once (README, "The run lock"): one inventory (plain runs), or
one shard of one run group (so different shards of a group run at the same time, from several jump
hosts, while the same shard twice is refused with exit 5). The key text is hashed into the
64-bit number advisory locks take.

The holder names itself in its session's ``application_name`` (``fleetbench run RUN pid PID on HOST``),
which the refused run reads from ``pg_stat_activity`` for its message.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from types import TracebackType

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ..lock import Holder, LockHeld

#: the application_name of the holder's session: 63 bytes at most on the server
_NAME = re.compile(r"^fleetbench run (?P<run>\S*) pid (?P<pid>\d+) on (?P<host>\S+)$")


def key_of(what: str) -> int:
    """The advisory lock's bigint (signed 64-bit) for ``what``."""
    return int.from_bytes(hashlib.sha256(f"fleetbench run lock\0{what}".encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    """``with AdvisoryLock(engine, what, where, run_id):`` holds the lock; :class:`LockHeld` (exit 5) if taken."""

    def __init__(self, engine: Engine, what: str, where: str, run_id: str = "") -> None:
        self.engine = engine
        self.what = what
        self.where = where
        self.run_id = run_id
        self._conn: Connection | None = None

    def acquire(self) -> None:
        conn = self.engine.connect()
        try:
            name = f"fleetbench run {self.run_id or '-'} pid {os.getpid()} on {socket.gethostname()}"[:63]
            conn.execute(text("SELECT set_config('application_name', :n, false)"), {"n": name})
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key_of(self.what)}).scalar()
            conn.commit()                   # the lock is the session's: it outlives this transaction
            if not got:
                raise LockHeld(f"the run lock of {self.what} in {self.where}", self._holder(conn))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _holder(self, conn: Connection) -> Holder | None:
        """Who holds the lock, from pg_stat_activity (None if this role may not see it)."""
        key = key_of(self.what) & 0xFFFFFFFFFFFFFFFF
        try:
            row = conn.execute(text(
                "SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"),
                {"hi": key >> 32, "lo": key & 0xFFFFFFFF}).first()
        except SQLAlchemyError:
            return None
        match = _NAME.match(row[0] or "") if row is not None else None
        if row is None or match is None:
            return None
        return Holder(pid=int(match["pid"]), host=match["host"], started=row[1].isoformat(timespec="seconds") if row[1] else "",
                      run_id="" if match["run"] == "-" else match["run"])

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key_of(self.what)})
                conn.commit()
            except SQLAlchemyError:
                pass                        # the session ends below: the server drops the lock with it
            finally:
                conn.close()

    def __enter__(self) -> AdvisoryLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
