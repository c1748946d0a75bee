"""Versioned schema migrations: a version table and ordered migration functions.

Why not Alembic: Alembic is built around a migration-script folder, an ``env.py`` and an ini file
found at run time, and around autogenerating revisions from model changes. fleetbench ships as a
command that must migrate a user's database by itself, on SQLite and PostgreSQL, with a handful of
linear steps. An ordered list of small functions, each run in its own transaction together with
the version bump, does that in one short module: a step either completes with its version number
or leaves the database as it was. The trade-off is that a step is written by hand (SQLAlchemy Core
DDL, portable), which is what one would review in an Alembic revision anyway.

Rules for a new step (README, "Migration policy"): append ``(N, function)`` with N = the previous
number + 1 and raise ``schema.SCHEMA_VERSION`` to N; never edit a released step; a step only adds
(tables, nullable columns, indexes) or copies data, so an older fleetbench can refuse a newer
database cleanly instead of misreading it. A database whose version is higher than this
fleetbench knows is refused, never touched.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, insert, select, text, update

from . import schema as S


def _v1(conn: Connection) -> None:
    """The first schema: runs, hosts, results (as defined in schema.py at version 1).

    It creates schema.py's tables of version 1, which no later step has changed (version 2 only
    added tables). The step that changes one of them must first freeze a copy of the version-1
    definitions here, so that a new database still goes through every step and ends up exactly
    like a migrated one.
    """
    S.metadata.create_all(conn, tables=list(S.TABLES))


def _v2(conn: Connection) -> None:
    """Run groups (issue 18): ``run_groups`` (a group's N and its fleet) and ``group_runs`` (shard → run).

    Existing runs stay plain runs (no group_runs row): their history and drift are unchanged.
    """
    S.metadata.create_all(conn, tables=list(S.GROUP_TABLES))


#: (version it brings the database to, the step), in order
MIGRATIONS: tuple[tuple[int, Callable[[Connection], None]], ...] = ((1, _v1), (2, _v2))


#: the key of the transaction-level advisory lock a migration step holds on PostgreSQL ("fbschema")
MIGRATION_LOCK = 0x6662736368656D61


def lock(conn: Connection) -> None:
    """Wait for any other fleetbench's migration step to end, and keep others out until this
    transaction ends: runs starting together on a new database must not both create its tables (the
    loser failed with 'table fleetbench_schema already exists', or 'type "run_groups" already
    exists'). The first statement of the step's transaction; the caller reads the version after it.

    PostgreSQL: a transaction-level advisory lock. SQLite: ``BEGIN IMMEDIATE`` takes the file's write
    lock at once (waiting as long as the busy timeout), where the driver would begin the transaction
    only at the first INSERT, after the tables were made."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def current(conn: Connection) -> int | None:
    """The database's schema version; None when the version table is missing (a new database)."""
    if not conn.dialect.has_table(conn, S.schema_version.name):
        return None
    value = conn.execute(select(S.schema_version.c.version)).scalar()
    return 0 if value is None else int(value)


def pending(version: int | None) -> list[tuple[int, Callable[[Connection], None]]]:
    return [(n, step) for n, step in MIGRATIONS if n > (version or 0)]


def apply(conn: Connection, number: int, step: Callable[[Connection], None], version: int | None) -> None:
    """Run one step and record its number; the caller holds the transaction."""
    if version is None:
        S.metadata.create_all(conn, tables=[S.schema_version])
        conn.execute(insert(S.schema_version).values(version=0))
    step(conn)
    conn.execute(update(S.schema_version).values(version=number))
