"""The history database: open it (checked before any host is contacted), store a run, read runs back.

Why every problem here is an :class:`HistoryError` (an InputError, exit 2) raised by :func:`open_store`:
a scan that would fail to record its run must fail before it contacts a host, with one line that
says which database and what is wrong, and without touching the file. So opening a database does
everything that could fail later: it reads the schema version (a corrupted file fails here), refuses
a newer schema, migrates an older one (each step in a transaction), and tries a write that it rolls
back (a read-only or locked file fails here).

A run is written in ONE transaction after the scan (:meth:`Store.save`): a crash while writing
leaves the database as it was before. Retention (``--keep N``) deletes in that same transaction.

Run groups (issue 18): a shard joins its group before the scan (:meth:`Store.join_group`: the group's
N and fleet recorded, or this shard checked against them), and its run replaces the shard's earlier
run in the group in the save's one transaction. :meth:`Store.group_report` and
:meth:`Store.group_snapshot` put the shards' runs back together as one fleet.

Only SQLAlchemy Core constructs are used (no SQLite-only SQL), so the same queries and the same
migrations serve SQLite files and PostgreSQL servers (psycopg 3). The password of a PostgreSQL URL
is never shown: messages name the database by :func:`describe`, and driver messages are scrubbed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, Table, and_, create_engine, delete, false, insert, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from ..errors import InputError, UsageError
from ..models import ScanReport, Waiver
from ..report import matrix as M
from ..report.model import STATUSES, History, Report, TrendPoint, _evidence_dict, clusters_dict, fleet_scores, from_dict, percent, waiver_lists_dict
from ..shard import Shard, shard_of
from . import diff as D
from . import migrations
from . import schema as S

#: the environment variable that names the database when --db is not given
ENV = "FLEETBENCH_DB"
#: seconds a SQLite connection waits for another writer before giving up ("database is locked")
BUSY_TIMEOUT = 5.0
#: seconds to wait for a PostgreSQL server to answer before giving up
CONNECT_TIMEOUT = 10
#: runs in the fleet-score trend (this one included)
TREND_RUNS = 30


class HistoryError(InputError):
    """The history database cannot be used: one line naming it and what is wrong (exit 2)."""


def default_path(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/fleetbench/history.db``, else ``~/.local/share/fleetbench/history.db``."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fleetbench" / "history.db"


#: URL schemes taken for PostgreSQL; every one is served by psycopg 3 (SQLAlchemy's ``postgresql+psycopg``)
PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def resolve_url(db: str | None, env: Mapping[str, str]) -> str:
    """``--db`` (a path, ``sqlite:///PATH`` or a PostgreSQL URL), else $FLEETBENCH_DB, else the default path → a URL.

    PostgreSQL URLs (``postgresql://``, ``postgres://``, ``postgresql+psycopg://``) come back as
    ``postgresql+psycopg://…``: psycopg 3 is the one driver fleetbench ships with. What the URL leaves
    out (password, host, port, database) libpq takes from ``PGPASSFILE``/``~/.pgpass`` and the PG*
    environment variables, as psql does.
    """
    flag = "--db" if db else ENV
    value = db or env.get(ENV) or str(default_path(env))
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    scheme = value.split("://", 1)[0].lower()
    try:
        url = make_url(value)
    except ArgumentError:
        raise UsageError(flag, "cannot parse the database URL (expected a file path, sqlite:///PATH or "
                               "postgresql://USER@HOST:PORT/DATABASE)") from None
    if scheme in PG_SCHEMES:
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if scheme.startswith(("postgresql", "postgres")):
        raise UsageError(flag, f"unsupported PostgreSQL driver '{scheme}://' (give postgresql://…: fleetbench uses psycopg 3)")
    if scheme != "sqlite":
        raise UsageError(flag, f"unsupported database URL scheme '{scheme}://' (expected a file path, sqlite:///PATH "
                               "or postgresql://USER@HOST:PORT/DATABASE)")
    if not url.database or url.database == ":memory:":
        raise UsageError(flag, "expected sqlite:///PATH with a file path (an in-memory database keeps no history)")
    return value


def describe(url: str) -> str:
    """The database for messages: its file path, or the URL without a password (``postgresql://fb@db:5432/fleet``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    driver = "postgresql" if parsed.drivername == "postgresql+psycopg" else parsed.drivername
    shown = URL.create(driver, username=parsed.username, host=parsed.host, port=parsed.port,
                       database=parsed.database, query=parsed.query)        # no password, not even "***"
    return shown.render_as_string(hide_password=True)


def _driver_message(exc: SQLAlchemyError, secret: str | None) -> str:
    """The driver's own words, on one line, without the password (should a driver ever echo it)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    text = str(orig if orig is not None else exc)
    if secret:
        text = text.replace(secret, "***")
    return " ".join(text.split()) or type(exc).__name__


def _explain(where: str, exc: SQLAlchemyError, secret: str | None = None) -> HistoryError:
    said = _driver_message(exc, secret)
    low = said.lower()
    if "not a database" in low or "malformed" in low or "encrypted" in low:
        what = f"not a usable fleetbench history database (corrupted, or another kind of file: {said}); " \
               "move it away or give another --db"
    elif "readonly" in low or "read-only" in low:
        what = f"the history database cannot be written ({said}): check its permissions, or use --no-db"
    elif "permission denied" in low or "must be owner" in low:
        what = f"this database role may not write the history ({said}): grant it the rights, or use --no-db"
    elif "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        what = f"cannot log in to the database server ({said}): check the user and password " \
               "(URL, PGPASSFILE or ~/.pgpass)"
    elif "does not exist" in low and "database" in low:
        what = f"no such database on the server ({said}): create it first (createdb)"
    elif "connection" in low and ("refused" in low or "failed" in low or "timeout" in low or "timed out" in low):
        what = f"cannot reach the database server ({said})"
    elif "locked" in low or "busy" in low:
        what = f"the history database is locked by another process ({said}); try again when it is done"
    elif "unable to open" in low:
        what = f"cannot open the history database ({said}): check the path and its folder's permissions"
    else:
        what = f"cannot use the history database ({said})"
    return HistoryError(where, what)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One stored run, as ``fleetbench history`` lists it."""

    run_id: str
    started: str
    finished: str
    inventory: str | None
    ran_by: str
    version: str
    hosts: int
    hosts_assessed: int
    counts: Mapping[str, int]             #: status → results
    passed: int                           #: scored, automated PASS (the fleet score's numerator)
    failed: int
    group: str | None = None              #: the run group this run is a shard of (None: a plain run)
    shard: str | None = None              #: "I/N" within ``group``

    @property
    def score(self) -> float | None:
        return self.passed / (self.passed + self.failed) if self.passed + self.failed else None

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "started": self.started, "finished": self.finished, "inventory": self.inventory,
                "ran_by": self.ran_by, "version": self.version, "hosts": self.hosts,
                "hosts_assessed": self.hosts_assessed, "hosts_not_assessed": self.hosts - self.hosts_assessed,
                "summary": dict(self.counts), "passed": self.passed, "failed": self.failed,
                "score": percent(self.score), "run_group": self.group, "shard": self.shard}


def _run_info(row: RowMapping) -> RunInfo:
    return RunInfo(run_id=row["run_id"], started=row["started"], finished=row["finished"], inventory=row["inventory"],
                   ran_by=row["ran_by"], version=row["version"], hosts=row["hosts"], hosts_assessed=row["hosts_assessed"],
                   counts={"PASS": row["pass_count"], "FAIL": row["fail_count"], "WARN": row["warn_count"],
                           "INFO": row["info_count"]},
                   passed=row["scored_pass"], failed=row["scored_fail"],
                   group=row.get("run_group"), shard=f"{row['shard']}/{row['shards']}" if row.get("run_group") else None)


def _same_inventory(inventory: str | None) -> Any:
    """The PLAIN runs of ``inventory``: a shard of a run group is compared with groups, never with a plain run."""
    same = S.runs.c.inventory.is_(None) if inventory is None else S.runs.c.inventory == inventory
    return and_(same, S.runs.c.run_id.not_in(select(S.group_runs.c.run_id)))


def _runs_with_groups() -> Any:
    """``runs`` with each run's group, shard and N (NULL for a plain run)."""
    return (select(S.runs, S.group_runs.c.run_group, S.group_runs.c.shard, S.run_groups.c.shards)
            .select_from(S.runs.outerjoin(S.group_runs, S.group_runs.c.run_id == S.runs.c.run_id)
                         .outerjoin(S.run_groups, S.run_groups.c.name == S.group_runs.c.run_group)))


#: a run group's name: it names report folders and appears in messages
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
#: the reason of a host whose shard never reported (README, "Shards and run groups")
NOT_REPORTED = "not-reported"


def check_group_name(name: str, flag: str = "--run-group") -> str:
    if not GROUP_NAME.match(name):
        raise UsageError(flag, f"expected a name of letters, digits, '.', '_', ':' or '-' (at most 100, "
                               f"starting with a letter or digit), got '{name}'")
    return name


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """This run's place in a run group: ``--run-group NAME`` and ``--shard I/N``."""

    name: str
    shard: Shard


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A stored run group: its N, its fleet, and the run of each shard that reported."""

    name: str
    shards: int
    inventory: str | None
    created: str
    hosts: tuple[Mapping[str, Any], ...]  #: {name, address, roles, shard}, in inventory order
    runs: Mapping[int, RunInfo]           #: shard → its run

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(i for i in range(1, self.shards + 1) if i not in self.runs)

    def describe(self) -> dict[str, Any]:
        """The JSON ``"run_group"`` of the group's report (README, "JSON report")."""
        return {"name": self.name, "shards": self.shards, "created": self.created,
                "reported": [{"shard": i, "run": r.run_id, "ran_by": r.ran_by, "started": r.started}
                             for i, r in sorted(self.runs.items())],
                "missing": list(self.missing)}


def fleet_hosts(hosts: Sequence[Any], count: int) -> list[dict[str, Any]]:
    """The group's host list as recorded: every host of the inventory (after --limit) with its shard."""
    return [{"name": h.name, "address": h.address, "roles": list(h.roles), "shard": shard_of(h.name, count)}
            for h in hosts]


def open_store(url: str, create: bool = True) -> Store:
    """Open (and, with ``create``, make or migrate) the database at ``url``; check it can be written.

    Without ``create`` (history, diff, report), a missing database is an error and nothing is made.
    """
    where = describe(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if path.exists() and not path.is_file():
            raise HistoryError(where, "is not a file (expected a SQLite history database)")
        if not path.exists():
            if not create:
                raise HistoryError(where, "no history database here yet (a scan without --no-db creates it)")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(where, f"cannot create its folder: {exc.strerror or exc}") from None
        # check_same_thread off: the pool hands a connection to one thread at a time, and the scan
        # reads the previous run from a worker thread (Store.prefetch)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False})
    else:
        # connect_timeout: an unreachable server fails the scan before it starts, not after minutes;
        # application_name: the server's pg_stat_activity (and the run lock's message) names fleetbench
        engine = create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT, "application_name": "fleetbench"})
    store = Store(engine, where)
    try:
        store.prepare(migrate=create)
    except BaseException:
        engine.dispose()
        raise
    return store


class Store:
    """A history database, opened and checked by :func:`open_store`."""

    def __init__(self, engine: Engine, where: str) -> None:
        self.engine = engine
        self.where = where
        self._secret = engine.url.password if isinstance(engine.url.password, str) else None
        url = engine.url
        #: the SQLite file (the run lock sits beside it); None for a database server
        self.path: Path | None = Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _explain(self.where, exc, self._secret) from None

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _explain(self.where, exc, self._secret) from None

    # ------------------------------------------------------------------ opening

    def prepare(self, migrate: bool) -> None:
        """Refuse a newer schema; migrate an older one (each step in its transaction); probe a write."""
        with self._connect() as conn:
            version = migrations.current(conn)
            if version is None and conn.dialect.has_table(conn, S.runs.name):
                # another fleetbench may have made the database between the two looks: its first step
                # commits the version and the tables together, so a second look finds the version
                version = migrations.current(conn)
                if version is None:
                    raise HistoryError(self.where, "has fleetbench tables but no schema version: not a database "
                                                   "this fleetbench wrote; move it away or give another --db")
        if version is not None and version > S.SCHEMA_VERSION:
            raise HistoryError(self.where, f"was written by a newer fleetbench (database schema {version}; this "
                                           f"fleetbench knows up to {S.SCHEMA_VERSION}): upgrade fleetbench, or give another --db")
        if not migrate:
            if version is None:
                raise HistoryError(self.where, "holds no fleetbench history yet (a scan without --no-db creates it)")
            if version != S.SCHEMA_VERSION:
                raise HistoryError(self.where, f"has schema {version}, older than this fleetbench's "
                                               f"{S.SCHEMA_VERSION}: run a scan to migrate it first")
            return
        for number, step in migrations.pending(version):
            with self._transaction() as conn:
                # two shards that start together on a new database would both create its tables: on
                # PostgreSQL the second waits here for the first's step, then finds it done
                migrations.lock(conn)
                now = migrations.current(conn)
                if now is None or now < number:
                    migrations.apply(conn, number, step, now)
        self._probe_write()

    def _probe_write(self) -> None:
        """Every write a run makes, tried with no row and rolled back: a read-only file, a locked
        database or a database role without INSERT/UPDATE/DELETE on a table fails now, before the scan."""
        with self._connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(update(S.schema_version).values(version=S.schema_version.c.version))
                for table in S.WRITTEN:
                    first = next(iter(table.primary_key.columns))
                    conn.execute(insert(table).from_select([first.name], select(first).where(false())))
                    conn.execute(delete(table).where(false()))
            finally:
                trans.rollback()

    # ------------------------------------------------------------------ writing

    def save(self, report: Report, waivers: Mapping[tuple[str, int], Waiver], inventory: str | None,
             keep: int | None = None, group: GroupSpec | None = None) -> tuple[str, ...]:
        """Store ``report`` in one transaction; with ``keep``, delete the oldest runs of the same
        inventory beyond ``keep`` in that transaction. Returns the run ids deleted.

        With ``group`` (joined first by :meth:`join_group`), the run becomes that shard's run of the
        group, and the shard's earlier run in the group, if any, is deleted in the same transaction
        (a re-run replaces it): readers see the old run or the new one, never both or neither.

        ``waivers``: (host name, result position) → the waiver that accepted that finding.
        """
        fleet = M.fleet(report)
        s = report.summary
        run_row = {"run_id": report.run_id, "started": report.started, "finished": report.finished,
                   "version": report.version, "report_schema": report.schema, "benchmark": report.benchmark,
                   "catalog_digest": report.catalog_digest, "inventory": inventory,
                   "inventory_given": report.options.get("inventory"), "ran_by": str(report.options.get("ran_by", "")),
                   "options": dict(report.options), "sections": None if report.sections is None else dict(report.sections),
                   "hosts": s.hosts, "hosts_assessed": s.hosts_assessed, "pass_count": s.PASS, "fail_count": s.FAIL,
                   "warn_count": s.WARN, "info_count": s.INFO, "scored_pass": fleet.passed, "scored_fail": fleet.failed,
                   "waivers": waiver_lists_dict(report.waivers), "clusters": clusters_dict(report.clusters), "stored_at": datetime.now(UTC).isoformat()}
        host_rows: list[dict[str, Any]] = []
        result_rows: list[tuple[Any, ...]] = []
        for hpos, h in enumerate(report.hosts):
            d = h.detected
            host_rows.append({
                "run_id": report.run_id, "name": h.name, "position": hpos, "address": h.address, "roles": list(h.roles),
                "status": h.status, "reason": h.error, "benchmark": h.benchmark, "started": h.started,
                "seconds": h.seconds, "known_hosts": h.known_hosts, "accepted_host_key": h.accepted_host_key,
                "distribution": d.distribution if d else None, "kubernetes_version": d.kubernetes_version if d else None,
                "version_source": d.version_source if d else None, "detected_benchmark": d.benchmark if d else None,
                "detected_reason": d.reason if d else None,
                "evidence": _evidence_dict(h.evidence)})
            for pos, r in enumerate(h.results):
                w = waivers.get((h.name, pos))
                result_rows.append((  # in RESULT_COLUMNS order
                    report.run_id, h.name, pos, h.benchmark, r.id, r.check, r.title, r.section, r.target, r.status,
                    r.scored, r.automated, r.expected, r.actual, r.source, r.reason, r.remediation, w is not None,
                    *((w.reason, w.owner, w.ticket, w.expires.isoformat(), w.origin) if w else _NO_WAIVER)))
        with self._transaction() as conn:
            replaced: tuple[str, ...] = ()
            if group is not None:
                where = and_(S.group_runs.c.run_group == group.name, S.group_runs.c.shard == group.shard.index)
                replaced = tuple(conn.execute(select(S.group_runs.c.run_id).where(where)).scalars())
                conn.execute(delete(S.group_runs).where(where))
                _delete_runs(conn, replaced)
            conn.execute(insert(S.runs), [run_row])
            if host_rows:
                conn.execute(insert(S.hosts), host_rows)
            _insert_plain(conn, S.results, RESULT_COLUMNS, result_rows)
            if group is not None:
                conn.execute(insert(S.group_runs).values(run_group=group.name, shard=group.shard.index,
                                                         run_id=report.run_id))
                return replaced
            return self._retain(conn, inventory, keep) if keep is not None else ()

    def join_group(self, group: GroupSpec, inventory: str | None, hosts: list[dict[str, Any]]) -> None:
        """Record the group (its N and its fleet) if it is new, else check this shard agrees with it.

        Called before any host is contacted: a shard whose N or host list disagrees with the group
        is refused (a HistoryError, exit 2). Two shards creating the group at once: one inserts,
        the other's insert fails on the primary key and it compares with what the first recorded.
        """
        row: RowMapping | None = None
        for attempt in (1, 2):
            try:
                with self._transaction() as conn:
                    row = conn.execute(select(S.run_groups).where(S.run_groups.c.name == group.name)).mappings().first()
                    if row is None:
                        conn.execute(insert(S.run_groups).values(name=group.name, shards=group.shard.count,
                                                                 inventory=inventory, created=datetime.now(UTC).isoformat(),
                                                                 hosts=hosts))
                        return
                break
            except HistoryError:
                if attempt == 2:
                    raise
        assert row is not None
        if row["shards"] != group.shard.count:
            raise HistoryError(self.where, f"run group '{group.name}' has {row['shards']} shards (recorded by its first "
                                           f"shard), this scan says --shard {group.shard}: use the same N in every shard "
                                           "of a group, or another --run-group")
        recorded = {h["name"] for h in row["hosts"]}
        mine = {h["name"] for h in hosts}
        if recorded != mine:
            gone, extra = sorted(recorded - mine), sorted(mine - recorded)
            said = "; ".join(part for part in (
                f"{len(gone)} of its hosts are not in this inventory ({_some(gone)})" if gone else "",
                f"{len(extra)} hosts of this inventory are not in the group ({_some(extra)})" if extra else "") if part)
            raise HistoryError(self.where, f"run group '{group.name}' was recorded with {len(recorded)} hosts and this "
                                           f"inventory (after --limit) has {len(mine)}: {said}; every shard of a group "
                                           "must see the same inventory and --limit")

    @staticmethod
    def _retain(conn: Connection, inventory: str | None, keep: int) -> tuple[str, ...]:
        old = tuple(conn.execute(select(S.runs.c.run_id).where(_same_inventory(inventory))
                                 .order_by(S.runs.c.started.desc(), S.runs.c.run_id.desc()).offset(keep)).scalars())
        _delete_runs(conn, old)
        return old

    # ------------------------------------------------------------------ reading

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        """Stored runs, newest first."""
        query = _runs_with_groups().order_by(S.runs.c.started.desc(), S.runs.c.run_id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._connect() as conn:
            return [_run_info(row) for row in conn.execute(query).mappings()]

    def run(self, ref: str) -> RunInfo:
        """A run by id, unique prefix of an id, or ``latest``; a clear error otherwise."""
        with self._connect() as conn:
            if ref == "latest":
                row = conn.execute(select(S.runs).order_by(S.runs.c.started.desc(), S.runs.c.run_id.desc()).limit(1)).mappings().first()
                if row is None:
                    raise HistoryError(self.where, "holds no run yet")
                return _run_info(row)
            rows = conn.execute(select(S.runs).where(S.runs.c.run_id.startswith(ref, autoescape=True)).limit(5)).mappings().all()
        exact = [r for r in rows if r["run_id"] == ref]
        if exact:
            return _run_info(exact[0])
        if not rows or not ref:
            raise UsageError("RUN", f"no run '{ref}' in {self.where} (see `fleetbench history`)")
        if len(rows) > 1:
            raise UsageError("RUN", f"'{ref}' matches several runs ({', '.join(r['run_id'] for r in rows)}): give more characters")
        return _run_info(rows[0])

    def previous(self, inventory: str | None, before: str, exclude: str = "") -> RunInfo | None:
        """The newest run of ``inventory`` that started before ``before`` (ISO 8601)."""
        query = (select(S.runs).where(_same_inventory(inventory), S.runs.c.started < before, S.runs.c.run_id != exclude)
                 .order_by(S.runs.c.started.desc(), S.runs.c.run_id.desc()).limit(1))
        with self._connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _run_info(row)

    def latest(self, inventory: str | None) -> RunInfo | None:
        """The newest run of ``inventory``."""
        query = (select(S.runs).where(_same_inventory(inventory))
                 .order_by(S.runs.c.started.desc(), S.runs.c.run_id.desc()).limit(1))
        with self._connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _run_info(row)

    def trend(self, inventory: str | None, before: str, limit: int) -> list[TrendPoint]:
        """Up to ``limit`` runs of ``inventory`` started before ``before``, oldest first."""
        query = (select(S.runs.c.run_id, S.runs.c.started, S.runs.c.scored_pass, S.runs.c.scored_fail)
                 .where(_same_inventory(inventory), S.runs.c.started < before)
                 .order_by(S.runs.c.started.desc(), S.runs.c.run_id.desc()).limit(limit))
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [TrendPoint(run=r[0], started=r[1], passed=r[2], failed=r[3]) for r in reversed(rows)]

    def snapshot(self, run_id: str) -> D.Snapshot:
        """A stored run as the drift rules see it."""
        with self._connect() as conn:
            started, clusters = conn.execute(select(S.runs.c.started, S.runs.c.clusters)
                                             .where(S.runs.c.run_id == run_id)).one()
            host_rows = conn.execute(select(S.hosts.c.name, S.hosts.c.status, S.hosts.c.reason)
                                     .where(S.hosts.c.run_id == run_id)).all()
            per: dict[str, dict[tuple[str, str], D.Outcome]] = {}
            share = _Sharing()
            for host, bench, cis, status, actual, waived in conn.execute(
                    select(S.results.c.host, S.results.c.benchmark, S.results.c.id, S.results.c.status,
                           S.results.c.actual, S.results.c.waived).where(S.results.c.run_id == run_id)):
                per.setdefault(host, {})[share.key(bench, cis)] = share.outcome(status, actual, bool(waived))
        return D.Snapshot(run_id=run_id, started=started, hosts={
            name: D.HostState(assessed=status == "ok", status=status, reason=reason or "", results=per.get(name, {}))
            for name, status, reason in host_rows}, clusters=cluster_states(clusters or ()))

    def load(self, run_id: str) -> Report:
        """A stored run as the report model, exactly as its scan rendered it (without ``history``)."""
        with self._connect() as conn:
            return from_dict(self._load_dict(conn, run_id))

    @staticmethod
    def _load_dict(conn: Connection, run_id: str) -> dict[str, Any]:
        """A stored run as its report JSON (without ``history``)."""
        run = conn.execute(select(S.runs).where(S.runs.c.run_id == run_id)).mappings().one()
        hosts = conn.execute(select(S.hosts).where(S.hosts.c.run_id == run_id).order_by(S.hosts.c.position)).mappings().all()
        rows = conn.execute(select(S.results).where(S.results.c.run_id == run_id)
                            .order_by(S.results.c.host, S.results.c.position)).mappings().all()
        per: dict[str, list[RowMapping]] = {}
        for r in rows:
            per.setdefault(r["host"], []).append(r)
        host_dicts = []
        for h in hosts:
            results = per.get(h["name"], [])
            counts = Counter(r["status"] for r in results)
            host_dicts.append({
                "name": h["name"], "address": h["address"], "roles": list(h["roles"]), "status": h["status"],
                "error": h["reason"], "benchmark": h["benchmark"], "started": h["started"], "seconds": h["seconds"],
                "known_hosts": h["known_hosts"], "accepted_host_key": h["accepted_host_key"],
                "results": [{"id": r["id"], "check": r["check_id"], "title": r["title"], "section": r["section"],
                             "target": r["target"], "status": r["status"], "scored": r["scored"],
                             "automated": r["automated"], "expected": r["expected"], "actual": r["actual"],
                             "source": r["source"], "reason": r["reason"], "remediation": r["remediation"],
                             "waiver": None if not r["waived"] else {
                                 "reason": r["waiver_reason"], "owner": r["waiver_owner"], "ticket": r["waiver_ticket"],
                                 "expires": r["waiver_expires"], "origin": r["waiver_origin"]}}
                            for r in results],
                "summary": {s: counts.get(s, 0) for s in STATUSES},
                "evidence": h["evidence"],
                "detected": None if h["distribution"] is None else {
                    "distribution": h["distribution"], "kubernetes_version": h["kubernetes_version"],
                    "version_source": h["version_source"], "benchmark": h["detected_benchmark"],
                    "reason": h["detected_reason"]}})
        data = {"tool": "fleetbench", "version": run["version"], "schema": run["report_schema"], "run_id": run["run_id"],
                "started": run["started"], "finished": run["finished"], "benchmark": run["benchmark"],
                "catalog_digest": run["catalog_digest"], "options": run["options"], "hosts": host_dicts,
                "summary": {"PASS": run["pass_count"], "FAIL": run["fail_count"], "WARN": run["warn_count"],
                            "INFO": run["info_count"], "hosts": run["hosts"], "hosts_assessed": run["hosts_assessed"],
                            "hosts_not_assessed": run["hosts"] - run["hosts_assessed"], **fleet_scores(host_dicts)},
                "waivers": run["waivers"], "clusters": run["clusters"], "sections": run["sections"]}
        return data

    # ------------------------------------------------------------------ run groups

    def group(self, name: str) -> GroupInfo:
        """A stored run group by name; a usage error naming --run-group if there is none."""
        with self._connect() as conn:
            row = conn.execute(select(S.run_groups).where(S.run_groups.c.name == name)).mappings().first()
            if row is None:
                raise UsageError("--run-group", f"no run group '{name}' in {self.where} (see `fleetbench history`)")
            runs = conn.execute(_runs_with_groups().where(S.group_runs.c.run_group == name)).mappings().all()
        return GroupInfo(name=row["name"], shards=row["shards"], inventory=row["inventory"], created=row["created"],
                         hosts=tuple(row["hosts"]), runs={r["shard"]: _run_info(r) for r in runs})

    def previous_group(self, group: GroupInfo) -> GroupInfo | None:
        """The newest group of the same inventory created before ``group`` (its baseline)."""
        same = (S.run_groups.c.inventory.is_(None) if group.inventory is None
                else S.run_groups.c.inventory == group.inventory)
        with self._connect() as conn:
            name = conn.execute(select(S.run_groups.c.name)
                                .where(same, S.run_groups.c.created < group.created, S.run_groups.c.name != group.name)
                                .order_by(S.run_groups.c.created.desc()).limit(1)).scalar()
        return None if name is None else self.group(name)

    def latest_group(self) -> GroupInfo:
        with self._connect() as conn:
            name = conn.execute(select(S.run_groups.c.name).order_by(S.run_groups.c.created.desc()).limit(1)).scalar()
        if name is None:
            raise UsageError("--run-group", f"{self.where} holds no run group yet")
        return self.group(name)

    def group_snapshot(self, group: GroupInfo) -> D.Snapshot:
        """The whole group as the drift rules see it: each host from its shard's run; the hosts of a
        shard that never reported are not assessed (status ``not-reported``)."""
        shot = {i: self.snapshot(r.run_id) for i, r in group.runs.items()}
        hosts: dict[str, D.HostState] = {}
        for h in group.hosts:
            got = shot.get(h["shard"])
            state = got.hosts.get(h["name"]) if got is not None else None
            hosts[h["name"]] = state if state is not None else D.HostState(
                assessed=False, status=NOT_REPORTED, reason=_not_reported(h["shard"], group.shards))
        clusters: dict[str, D.HostState] = {}
        for _, got in sorted(shot.items()):  # a cluster from the first shard (by number) that decided it
            for name, state in got.clusters.items():
                if name not in clusters or (not clusters[name].assessed and state.assessed):
                    clusters[name] = state
        started = min((r.started for r in group.runs.values()), default=group.created)
        return D.Snapshot(run_id=group.name, started=started, hosts=hosts, clusters=clusters)

    def group_report(self, group: GroupInfo) -> Report:
        """The whole fleet of a run group as one report: every host of the group exactly once, in
        inventory order, from the latest run of its shard; a shard that never reported leaves its
        hosts not assessed ("shard I/N did not report"). Section 5 of a cluster is taken from the
        first shard (by number) whose run decided it."""
        with self._connect() as conn:
            shards = {i: self._load_dict(conn, r.run_id) for i, r in sorted(group.runs.items())}
        per_host = {h["name"]: h for d in shards.values() for h in d["hosts"]}
        hosts: list[dict[str, Any]] = []
        for h in group.hosts:
            got = per_host.get(h["name"]) if h["shard"] in shards else None
            hosts.append(got if got is not None else {
                "name": h["name"], "address": h["address"], "roles": list(h["roles"]), "status": NOT_REPORTED,
                "error": _not_reported(h["shard"], group.shards), "benchmark": "", "started": group.created,
                "seconds": 0.0, "known_hosts": None, "accepted_host_key": None, "results": [],
                "summary": {k: 0 for k in STATUSES}, "evidence": None, "detected": None})
        clusters: dict[str, Any] = {}
        for d in shards.values():
            for c in d["clusters"] or ():
                if c["name"] not in clusters or (not clusters[c["name"]]["status"] == "ok" and c["status"] == "ok"):
                    clusters[c["name"]] = c
        first = next(iter(shards.values()), None)
        counts = Counter(r["status"] for h in hosts for r in h["results"])
        assessed = sum(1 for h in hosts if h["status"] == "ok")
        options = {k: v for k, v in (first["options"] if first else {}).items() if k not in ("run_group", "shard")}
        data = {"tool": "fleetbench", "version": first["version"] if first else "", "schema": first["schema"] if first else 0,
                "run_id": group.name, "started": min((d["started"] for d in shards.values()), default=group.created),
                "finished": max((d["finished"] for d in shards.values()), default=group.created),
                "benchmark": first["benchmark"] if first else "", "catalog_digest": first["catalog_digest"] if first else "",
                "options": options, "hosts": hosts,
                "summary": {**{k: counts.get(k, 0) for k in STATUSES}, "hosts": len(hosts), "hosts_assessed": assessed,
                            "hosts_not_assessed": len(hosts) - assessed, **fleet_scores(hosts)},
                "waivers": first["waivers"] if first else None, "clusters": list(clusters.values()),
                "sections": first["sections"] if first else None, "run_group": group.describe()}
        return from_dict(data)

    def prefetch(self, inventory: str | None) -> D.Snapshot | None:
        """The newest run of ``inventory`` as a snapshot, read while a scan runs (None on any error:
        :meth:`history` then reads it again and reports the error where the run can handle it)."""
        try:
            prev = self.latest(inventory)
            return None if prev is None else self.snapshot(prev.run_id)
        except HistoryError:
            return None

    def history(self, report: Report, inventory: str | None, current: D.Snapshot,
                known: D.Snapshot | None = None) -> History:
        """The ``history`` part of ``report``: its previous run of the same inventory, the drift since,
        and the score trend over the last runs up to this one (the same whether the run is stored yet or not).

        ``known``: a snapshot read earlier (:meth:`prefetch`), used if it is that previous run.
        """
        prev = self.previous(inventory, report.started, exclude=report.run_id)
        old = None
        if prev is not None:
            old = known if known is not None and known.run_id == prev.run_id else self.snapshot(prev.run_id)
        since = None if old is None else D.diff(old, current)
        fleet = M.fleet(report)
        points = self.trend(inventory, report.started, TREND_RUNS - 1)
        points.append(TrendPoint(run=report.run_id, started=report.started, passed=fleet.passed, failed=fleet.failed))
        return History(previous=None if prev is None else D.RunRef(prev.run_id, prev.started), since_previous=since,
                       trend=tuple(points))


#: the results table's columns in the order :meth:`Store.save` builds its rows
RESULT_COLUMNS = ("run_id", "host", "position", "benchmark", "id", "check_id", "title", "section", "target", "status",
                  "scored", "automated", "expected", "actual", "source", "reason", "remediation", "waived",
                  "waiver_reason", "waiver_owner", "waiver_ticket", "waiver_expires", "waiver_origin")
_NO_WAIVER = (None, None, None, None, None)


def _delete_runs(conn: Connection, run_ids: tuple[str, ...]) -> None:
    if run_ids:
        conn.execute(delete(S.results).where(S.results.c.run_id.in_(run_ids)))
        conn.execute(delete(S.hosts).where(S.hosts.c.run_id.in_(run_ids)))
        conn.execute(delete(S.runs).where(S.runs.c.run_id.in_(run_ids)))


def _not_reported(shard: int, count: int) -> str:
    return f"shard {shard}/{count} did not report"


def _some(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _insert_plain(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert many rows of plain values (str, int, float, bool, None) in one driver executemany.

    Why: SQLAlchemy builds and type-processes each row's parameters in Python, which for a 200-host
    run (26,000 results) cost more than the driver's own work. The statement is still compiled by
    SQLAlchemy for the connection's dialect (its parameter style, its quoting), so this stays
    portable; only tables without JSON columns (which need their bind processing) may use it.
    """
    if not rows:
        return
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
    params: list[Any]
    if not compiled.positional:             # named parameters (psycopg): one dict per row
        params = [dict(zip(columns, row, strict=True)) for row in rows]
    elif tuple(compiled.positiontup or ()) == columns:
        params = rows
    else:
        index = [columns.index(k) for k in compiled.positiontup or ()]
        params = [tuple(row[i] for i in index) for row in rows]
    conn.exec_driver_sql(str(compiled), params)


def waivers_of(scan: ScanReport) -> dict[tuple[str, int], Waiver]:
    """(host name, result position) → the waiver that accepted that finding (``Finding.waiver``)."""
    return {(h.host.name, pos): f.waiver for h in scan.hosts for pos, f in enumerate(h.findings) if f.waiver is not None}


def snapshot_of(report: Report, waivers: Mapping[tuple[str, int], Waiver]) -> D.Snapshot:
    """A fresh (not yet stored) run as the drift rules see it."""
    share = _Sharing()
    return D.Snapshot(run_id=report.run_id, started=report.started, hosts={
        h.name: D.HostState(assessed=h.assessed, status=h.status, reason=h.error or "",
                            results={share.key(h.benchmark, r.id): share.outcome(r.status, r.actual,
                                                                                 (h.name, pos) in waivers)
                                     for pos, r in enumerate(h.results)})
        for h in report.hosts}, clusters=cluster_states(clusters_dict(report.clusters)))


def cluster_states(clusters: Iterable[Mapping[str, Any]]) -> dict[str, D.HostState]:
    """Section 5 of a run (the report's JSON ``"clusters"``, as the runs table stores it) as the drift
    rules see it: per cluster, assessed or not and each control's status, actual value and waiver."""
    states = {}
    for c in clusters:
        ok = c["status"] == "ok"
        states[c["name"]] = D.HostState(
            assessed=ok, status="ok" if ok else "not-assessed", reason="" if ok else str(c["status"]),
            results={("", r["id"]): D.Outcome(r["status"], r["actual"], bool(r.get("waiver"))) for r in c["results"]})
    return states


class _Sharing:
    """One object per distinct (benchmark, id) key and per distinct outcome of a snapshot.

    A fleet's hosts mostly agree (the same controls, mostly the same verdicts), and a scan holds two
    snapshots (this run and the previous one) while it writes its reports: shared, 1,000 hosts cost
    a dictionary each and a few hundred tuples, not 52,000 (README, "Benchmark")."""

    __slots__ = ("_keys", "_outcomes")

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}
        self._outcomes: dict[D.Outcome, D.Outcome] = {}

    def key(self, benchmark: str, cid: str) -> tuple[str, str]:
        key = (benchmark, cid)
        return self._keys.setdefault(key, key)

    def outcome(self, status: str, actual: str, waived: bool) -> D.Outcome:
        outcome = D.Outcome(status, actual, waived)
        return self._outcomes.setdefault(outcome, outcome)

