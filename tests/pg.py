"""A real PostgreSQL server for the tests: Debian's postgresql, an unprivileged cluster in a temporary folder.

Why this shape: the history code must be tested against the server it will meet (psycopg 3, real
roles and privileges, real concurrent transactions), never a mock. PostgreSQL refuses to run as root,
so the cluster belongs to the ``postgres`` system user (created by Debian's package): its data folder
is a fresh temporary folder owned by that user, it listens on 127.83.255.1 on a free port with
password (SCRAM) authentication only, and it is stopped by its PID at the end of the session. The
package's own system cluster is neither needed nor touched.

Roles: ``fleet`` (password ``PASSWORD``) owns every test database; ``reader`` may only SELECT.
Each test that asks for :func:`pg_url` gets a new, empty database.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

ADDRESS = "127.83.255.1"
PASSWORD = "s3cret-Pw.9"                 # searched for in every output: it must never appear
READER_PASSWORD = "r3ader-Pw.7"
_ADMIN_PASSWORD = "adm1n-Pw.5"
_counter = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    port: int
    pid: int

    def url(self, database: str, user: str = "fleet", password: str | None = PASSWORD) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, user="postgres", password=_ADMIN_PASSWORD,
                               dbname="postgres", autocommit=True)


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail(f"PostgreSQL's {name} not found under /usr/lib/postgresql/*/bin: install Debian's postgresql "
                    "package (`make deps` does)")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


def _as_postgres() -> list[str]:
    # setpriv execs the program (no extra process): the PID we keep is the server's own
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    user = pwd.getpwnam("postgres")
    base = Path(tempfile.mkdtemp(prefix="fleetbench-pg-"))
    os.chown(base, user.pw_uid, user.pw_gid)
    data, pwfile = base / "data", base / "pw"
    pwfile.write_text(_ADMIN_PASSWORD + "\n")
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    subprocess.run([*_as_postgres(), _bin("initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = _free_port()
    log = open(base / "server.log", "wb")   # noqa: SIM115 - open for the server's lifetime
    proc = subprocess.Popen([*_as_postgres(), _bin("postgres"), "-D", str(data), "-h", ADDRESS, "-p", str(port),
                             "-k", str(base), "-c", "fsync=off", "-c", "synchronous_commit=off",
                             "-c", "full_page_writes=off", "-c", "max_connections=60"],
                            stdout=log, stderr=subprocess.STDOUT)
    server = Server(ADDRESS, port, proc.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with server.admin() as conn:
                    conn.execute(f"CREATE ROLE fleet LOGIN PASSWORD '{PASSWORD}'")
                    conn.execute(f"CREATE ROLE reader LOGIN PASSWORD '{READER_PASSWORD}'")
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start: {(base / 'server.log').read_text()}") from None
                time.sleep(0.1)
        yield server
    finally:
        os.kill(proc.pid, signal.SIGINT)     # "fast" shutdown: ends the sessions, then the server
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def new_database(server: Server) -> str:
    """A new, empty database owned by ``fleet``, readable by ``reader`` once tables exist; its name."""
    name = f"t{os.getpid()}_{next(_counter)}"
    with server.admin() as conn:
        conn.execute(f"CREATE DATABASE {name} OWNER fleet TEMPLATE template0")
    with psycopg.connect(host=server.host, port=server.port, user="fleet", password=PASSWORD, dbname=name,
                         autocommit=True) as conn:
        conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO reader")
        conn.execute("GRANT USAGE ON SCHEMA public TO reader")
    return name


@pytest.fixture()
def pg_url(pg_server: Server) -> str:
    """The URL (with the password) of a new, empty database on the session's server."""
    return pg_server.url(new_database(pg_server))
