"""``scan --workers N``: the hosts split across N processes, each with its own asyncio loop, merged into one report.

Why processes: one asyncio loop uses one core, and the client's work per host (the SSH handshake's
cryptography, parsing, evaluation) is CPU; a jump host has many cores. Why ``fork``: after the
imports and every input check, a forked child has the catalog, the inventory and the options
already, so nothing is re-imported or re-read (the budget per host is a few milliseconds). At fork
time no thread and no event loop exist: the caller starts its history prefetch thread, the progress
bar and the ``--log-json`` file afterwards.

The split (:func:`split`) keeps together, in one worker:

- the hosts behind one jump chain (``jump:``), so the bastion connection stays shared
  (:class:`fleetbench.connect.Connector` opens one per chain in a process);
- the hosts of one endpoint (address and port), so a key accepted on first contact is recorded once;
- every control-plane host that may answer a cluster's query (section 5): that worker decides the
  cluster, trying the same hosts in the same order as a single process would.

These groups go to the least loaded worker, largest first; each worker scans its hosts in inventory
order. Global limits stay global: ``--concurrency`` and ``--handshakes`` are divided among the
workers (:func:`shares`), and there are never more workers than groups, than ``--concurrency`` or
than ``--handshakes`` (each worker gets at least one of each).

Each worker sends each host's result to the parent as it finishes (progress, ``--log-json``), then
its clusters. The parent alone writes reports, the history database, the bundle and the log, and
puts hosts and clusters back in inventory order: the report is the one a single process makes
(only timings differ). A worker that dies leaves its unreported hosts (and clusters) "not assessed"
with the reason; the rest of the fleet completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import io
import logging
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from typing import Any

from .errors import HostError, HostStatus
from .interrupt import Interrupts
from .models import Catalog, ClusterScan, Host, HostScan, ScanReport
from .runner import ScanOptions, cluster_sources, decided_by, fleet_report, scan, without_queries

log = logging.getLogger(__name__)

HOSTS_PER_WORKER = 50                     #: the default adds a worker per 50 hosts, up to the cores


@dataclass(frozen=True, slots=True)
class Part:
    """One worker's share of the run."""

    index: int                            #: 0-based; "worker process index+1" in messages
    hosts: tuple[Host, ...]               #: in inventory order
    concurrency: int
    handshakes: int


def cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                # not on Linux
        return os.cpu_count() or 1


def default_count(hosts: int) -> int:
    """``--workers`` when not given: one per core, but no more than one per 50 hosts (a small fleet
    gains nothing from a process that costs more to start than it scans)."""
    return max(1, min(cores(), hosts // HOSTS_PER_WORKER))


def shares(total: int, count: int) -> tuple[int, ...]:
    """``total`` divided among ``count`` workers: each gets ``total // count``, the first
    ``total % count`` workers one more (the first are the most loaded); at least 1 each."""
    return tuple(max(1, total // count + (1 if i < total % count else 0)) for i in range(count))


def count_for(hosts: tuple[Host, ...], catalog: Catalog, options: ScanOptions, requested: int | None) -> int:
    """How many workers a scan uses: ``requested`` (else :func:`default_count`), no more than
    :func:`split` makes; 1 means the scan runs in this process, with no child."""
    if options.local:
        return 1
    wanted = requested if requested is not None else default_count(len(hosts))
    if wanted <= 1:
        return 1
    return len(split(hosts, wanted, cluster_sources(hosts, catalog, options), options.concurrency, options.handshakes))


def groups(hosts: tuple[Host, ...], sources: dict[str, list[Host]]) -> list[list[Host]]:
    """The hosts that must share a worker, in inventory order (union-find over the three rules)."""
    parent = list(range(len(hosts)))
    index = {h.name: i for i, h in enumerate(hosts)}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: dict[tuple[str, Any], int] = {}
    for i, h in enumerate(hosts):
        keys: list[tuple[str, Any]] = [("endpoint", (h.address, h.ssh.port))]
        if h.ssh.jump:
            keys.append(("jump", h.ssh.jump))
        for key in keys:
            j = first.setdefault(key, i)
            join(i, j)
    for cands in sources.values():
        for c in cands[1:]:
            join(index[cands[0].name], index[c.name])
    out: dict[int, list[Host]] = {}
    for i, h in enumerate(hosts):
        out.setdefault(root(i), []).append(h)
    return list(out.values())


def split(hosts: tuple[Host, ...], count: int, sources: dict[str, list[Host]],
          concurrency: int, handshakes: int) -> tuple[Part, ...]:
    """Deal the groups to at most ``count`` workers, largest group first to the least loaded one
    (ties: the lower worker); the same inventory always splits the same way."""
    units = groups(hosts, sources)
    count = max(1, min(count, len(units), concurrency, handshakes))
    loads = [0] * count
    members: list[list[int]] = [[] for _ in range(count)]
    order = {h.name: i for i, h in enumerate(hosts)}
    for unit in sorted(units, key=lambda u: (-len(u), order[u[0].name])):
        k = min(range(count), key=lambda w: (loads[w], w))
        loads[k] += len(unit)
        members[k].extend(order[h.name] for h in unit)
    ranked = sorted(range(count), key=lambda w: (-loads[w], w))         # the most loaded first: they get the remainders
    con, hand = shares(concurrency, count), shares(handshakes, count)
    return tuple(Part(i, tuple(hosts[j] for j in sorted(members[w])), con[i], hand[i]) for i, w in enumerate(ranked))


# --------------------------------------------------------------------------- the pipe

class _Shared:
    """Objects parent and workers both hold since the fork (catalog controls, inventory hosts) go
    over the pipe as a reference, not a copy: less to pickle per host, and one copy in the parent."""

    def __init__(self, catalog: Catalog, hosts: tuple[Host, ...]) -> None:
        objects: list[Any] = [*hosts, *(c for b in catalog.benchmarks.values() for c in b.controls)]
        self.by_id = {id(o): o for o in objects}

    def dumps(self, value: Any) -> bytes:
        buf = io.BytesIO()
        by_id = self.by_id

        class _Pickler(pickle.Pickler):
            def persistent_id(self, obj: Any) -> int | None:
                key = id(obj)
                return key if key in by_id and by_id[key] is obj else None

        _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        return buf.getvalue()

    def loads(self, data: bytes) -> Any:
        by_id = self.by_id

        class _Unpickler(pickle.Unpickler):
            def persistent_load(self, pid: Any) -> Any:
                return by_id[pid]

        return _Unpickler(io.BytesIO(data)).load()


# --------------------------------------------------------------------------- parent

@dataclass(slots=True)
class _Worker:
    part: Part
    process: Any                          # multiprocessing.Process (fork context)
    conn: Connection
    ended: bool = False                   #: its clusters arrived: it finished its work
    crash: str = ""                       #: what it said before dying, if anything


def run(hosts: tuple[Host, ...], catalog: Catalog, options: ScanOptions, count: int,
        interrupts: Interrupts | None = None, after_fork: Callable[[], None] | None = None) -> ScanReport:
    """Scan ``hosts`` in ``count`` worker processes (fewer if :func:`split` says so); blocks until done.

    ``options.on_host_done`` is called here, in the parent, for every host once; ``after_fork`` runs
    once the workers exist (the caller's threads start there, never before a fork).
    """
    started = datetime.now(UTC)
    sources = cluster_sources(hosts, catalog, options)
    parts = split(hosts, count, sources, options.concurrency, options.handshakes)
    shared = _Shared(catalog, hosts)
    context = multiprocessing.get_context("fork")
    workers: list[_Worker] = []
    results: dict[str, HostScan] = {}
    clusters: dict[str, ClusterScan] = {}
    try:
        for part in parts:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, name=f"fleetbench-worker-{part.index + 1}",
                                      args=(part, hosts, catalog, options, send, shared, interrupts, os.getpid()))
            process.start()
            send.close()
            workers.append(_Worker(part, process, receive))
            if interrupts is not None:
                interrupts.forward_to(tuple(w.process.pid for w in workers))
        if after_fork is not None:
            after_fork()
        _collect(workers, shared, results, clusters, options)
    finally:
        for w in workers:                 # normally all done; after an error here, none is left behind
            if w.process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.process.pid, signal.SIGKILL)
            w.process.join()
            w.conn.close()
        if interrupts is not None:
            interrupts.forward_to(())
    for w in workers:
        if not w.ended:
            _lost(w, sources, hosts, catalog, options, results, clusters)
    merged = without_queries([results[h.name] for h in hosts], sources)
    return fleet_report(catalog, options, started, merged, [clusters[name] for name in sources])


def _collect(workers: list[_Worker], shared: _Shared, results: dict[str, HostScan],
             clusters: dict[str, ClusterScan], options: ScanOptions) -> None:
    """Read every worker's messages until each has closed its end of the pipe."""
    live = {w.conn: w for w in workers}
    while live:
        for conn in wait(list(live)):
            assert isinstance(conn, Connection)
            w = live[conn]
            try:
                kind, value = shared.loads(conn.recv_bytes())
            except (EOFError, OSError, pickle.UnpicklingError):
                del live[conn]            # it ended (or died mid-message): joined and accounted for by run()
                continue
            if kind == "host":
                results[value.host.name] = value
                if options.on_host_done is not None:
                    options.on_host_done(value)
            elif kind == "end":
                clusters.update((c.name, c) for c in value)
                w.ended = True
            else:
                w.crash = str(value)


def _lost(w: _Worker, sources: dict[str, list[Host]], hosts: tuple[Host, ...], catalog: Catalog,
          options: ScanOptions, results: dict[str, HostScan], clusters: dict[str, ClusterScan]) -> None:
    """A worker that died: its hosts without a result, and its clusters, are "not assessed", with why."""
    code = w.process.exitcode
    how = (f"was killed by signal {-code} ({signal.Signals(-code).name})" if code is not None and code < 0
           else f"exited with status {code}")
    why = f"worker process {w.part.index + 1} (pid {w.process.pid}) {how}" + (f" ({w.crash})" if w.crash else "")
    log.error("%s before it finished its %d host(s)", why, len(w.part.hosts))
    now = datetime.now(UTC)
    for h in w.part.hosts:
        if h.name not in results:
            results[h.name] = HostScan(host=h, benchmark=options.benchmark, started=now, seconds=0.0,
                                       error=HostError(HostStatus.ERROR, f"{why} before scanning this host"))
            if options.on_host_done is not None:
                options.on_host_done(results[h.name])
    for name in decided_by(sources, hosts, w.part.hosts):
        if name not in clusters:
            members = tuple(h.name for h in hosts if h.cluster == name)
            bench = options.benchmark if options.benchmark != "auto" else catalog.default_benchmark()
            clusters[name] = ClusterScan(name, members, f"not assessed: {why} before deciding this cluster", None,
                                         (), bench)


# --------------------------------------------------------------------------- worker

def _child(part: Part, fleet: tuple[Host, ...], catalog: Catalog, options: ScanOptions, conn: Connection,
           shared: _Shared, interrupts: Interrupts | None, parent: int) -> None:
    """A worker process: scan its part with its share of the limits, each host's result sent as it finishes."""
    if interrupts is not None:
        interrupts.in_worker()
    _end_with_parent(parent, part.index)

    def send(kind: str, value: Any) -> None:
        conn.send_bytes(shared.dumps((kind, value)))

    mine = dataclasses.replace(options, concurrency=part.concurrency, handshakes=part.handshakes,
                               on_host_done=lambda result: send("host", result), interrupts=interrupts)
    try:
        report = asyncio.run(scan(part.hosts, catalog, mine, fleet=fleet))
        send("end", report.clusters)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            send("crash", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        conn.close()


def _end_with_parent(parent: int, index: int) -> None:
    """Linux: the kernel kills this worker if the parent dies (SIGKILL included), so no worker
    outlives a run that ended; then check the parent did not die before this line. The worker is
    named ``fleetbench-wN`` (``ps``, ``top``, /proc/PID/comm) so an operator can tell them apart."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG
        libc.prctl(15, f"fleetbench-w{index + 1}".encode()[:15], 0, 0, 0)   # PR_SET_NAME
    if os.getppid() != parent:
        os._exit(1)
