"""The per-host pipeline and the fan-out over hosts. A host's failure is a value.

Per host: select controls → plan → render ONE script → connect → run it once → parse →
facts → findings. Every exception on the way becomes a :class:`HostError` on that host's
:class:`HostScan`; the fleet always completes. Two semaphores bound the load: hosts in flight
(``--concurrency``) and SSH handshakes in flight (``--handshakes``, kept under a bastion sshd's
``MaxStartups`` of 10), and every host has a deadline (``--timeout``) covering connect and probe.

Interrupted runs (``ScanOptions.interrupts``, see :mod:`fleetbench.interrupt`): at the first
SIGINT/SIGTERM no further host is started and the hosts in flight are cancelled; each of them, and
each host never started, is a value too: "not assessed", status ``interrupted``. The report of
what finished is returned as usual. ``ScanOptions.on_host_done`` is called with each host's result
as it finishes (progress display, ``--log-json``), interrupted hosts included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncssh

from . import __version__, cluster, detect, presence
from . import facts as F
from . import plan as P
from . import script as S
from .connect import Batch, Connector, HostFailure, Settings, run_script
from .errors import BatchError, HostError, HostStatus, InventoryError
from .evaluate import evaluate
from .interrupt import Interrupts
from .models import Catalog, ClusterScan, Collected, Control, Detection, Finding, Host, HostFacts, HostScan, KubeQuery, Record, ScanReport, new_run_id
from .records import MAX_KUBE_BYTES, KubeKind
from .select import AUTO, Selection, candidates, host_targets

log = logging.getLogger(__name__)

__all__ = ["AUTO", "ScanOptions", "Selection", "assess", "assess_cluster", "check_paths", "cluster_sources", "plan_for",
           "decided_by", "fleet_report", "probe_command", "scan", "scan_host", "without_queries"]

POLICIES = "policies"                     #: the benchmark target of section 5: decided per cluster, not per host
KUBE_TYPES = frozenset(KubeKind.types)


@dataclass(frozen=True, slots=True)
class ScanOptions:
    benchmark: str                        #: a benchmark id, or "auto": chosen per node from what it runs
    selection: Selection = field(default_factory=Selection)
    concurrency: int = 50
    handshakes: int = 10
    timeout: float = 120.0                #: per host, connect + probe
    transport: Settings = field(default_factory=Settings)
    local: bool = False                   #: run the probe on this machine, no SSH
    inventory: str | None = None          #: the inventory path as given (None with --local)
    limit: tuple[str, ...] = ()           #: --limit: host names or globs the scan was limited to
    run_id: str = field(default_factory=new_run_id)    #: known from the start: for the lock, the log lines
    on_host_done: Callable[[HostScan], None] | None = None   #: called as each host finishes
    interrupts: Interrupts | None = None  #: the first signal it receives stops the scan
    keep_records: bool = True             #: keep every host's parsed probe output (for a bundle); False
    #: keeps only the digest (and a cluster source's query records), and of the facts only what the
    #: reports show (:func:`evidence_only`): at 1,000 hosts they were a third of the process's memory,
    #: and nothing but ``--bundle`` reads them after evaluation


def check_paths(hosts: tuple[Host, ...], catalog: Catalog) -> None:
    """Inventory ``paths:`` keys must name catalog path variables (typos would do nothing)."""
    for host in hosts:
        for name in host.paths:
            if catalog.path_var(name) is None:
                known = sorted(f"{c}.{p}" for c, comp in catalog.components.items() for p in comp.paths)
                raise InventoryError(host.origin, f"host '{host.name}': unknown path variable '{name}' in paths "
                                                  f"(expected one of: {', '.join(known)})")


async def scan(hosts: tuple[Host, ...], catalog: Catalog, options: ScanOptions,
               fleet: tuple[Host, ...] | None = None) -> ScanReport:
    """Scan every host; never raises for a host's failure.

    ``fleet``: the whole run's hosts when ``hosts`` is one worker's part of it (``--workers``,
    :mod:`fleetbench.workers`). Section 5 is then decided here only for the clusters whose source
    candidates this part holds (the split keeps them together), with every member of the fleet listed.
    """
    started = datetime.now(UTC)
    connector = Connector(options.transport, asyncio.Semaphore(options.handshakes))
    in_flight = asyncio.Semaphore(options.concurrency)
    stopping = False

    sources = decided_by(cluster_sources(fleet or hosts, catalog, options), fleet or hosts, hosts)
    first = {cands[0].name for cands in sources.values() if cands}

    async def one(host: Host) -> HostScan:
        started = datetime.now(UTC)
        t0 = time.monotonic()
        began = False
        try:
            async with in_flight:
                if stopping:
                    raise asyncio.CancelledError
                began = True
                result = await scan_host(host, catalog, options, connector, kube=host.name in first)
        except asyncio.CancelledError:
            if not stopping:
                raise
            what = "while it was scanned" if began else "before it was started"
            signal = options.interrupts.name if options.interrupts else "a signal"
            result = HostScan(host=host, benchmark=options.benchmark, started=started,
                              seconds=round(time.monotonic() - t0, 3),
                              error=HostError(HostStatus.INTERRUPTED, f"interrupted ({signal}) {what}"))
        except Exception as exc:  # noqa: BLE001 - scan_host contains its own; this is the last line of defence
            result = _internal_error(host, options, started, exc)
        if options.on_host_done is not None:
            options.on_host_done(result)
        return result

    tasks = [asyncio.create_task(one(h)) for h in hosts]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        nonlocal stopping
        stopping = True
        for task in tasks:
            task.cancel()

    if options.interrupts is not None:
        options.interrupts.on_first(lambda: _wake(loop, stop))
    try:
        results = list(await asyncio.gather(*tasks))
        clusters = await asyncio.gather(*(_cluster(name, fleet or hosts, cands, results, catalog, options, connector)
                                          for name, cands in sources.items()))
    finally:
        if options.interrupts is not None:
            options.interrupts.on_first(None)
        await connector.close()
    return fleet_report(catalog, options, started, without_queries(results, sources), clusters)


def decided_by(sources: dict[str, list[Host]], fleet: tuple[Host, ...], part: tuple[Host, ...]) -> dict[str, list[Host]]:
    """The clusters of ``sources`` that the scan of ``part`` (of ``fleet``) decides: those whose
    first candidate it scans; a cluster without candidates, by the part holding its first member."""
    if part is fleet:
        return sources
    mine = {h.name for h in part}
    first_member: dict[str, str] = {}
    for h in fleet:
        first_member.setdefault(h.cluster, h.name)
    return {name: cands for name, cands in sources.items()
            if (cands[0].name if cands else first_member.get(name)) in mine}


def without_queries(results: list[HostScan], sources: dict[str, list[Host]]) -> list[HostScan]:
    """The cluster query's records travel with the cluster (the answer it used), not with its first
    source host: they are taken off that host's collected records."""
    first = {cands[0].name for cands in sources.values() if cands}
    return [_without_query(r) if r.host.name in first else r for r in results]


def fleet_report(catalog: Catalog, options: ScanOptions, started: datetime, results: list[HostScan],
                 clusters: list[ClusterScan] | tuple[ClusterScan, ...]) -> ScanReport:
    """The run's report; ``options`` are the run's own (with --workers: the global limits, not a worker's share)."""
    return ScanReport(run_id=options.run_id, tool_version=__version__, benchmark=options.benchmark, catalog_digest=catalog.digest,
                      started=started, finished=datetime.now(UTC), hosts=tuple(results), clusters=tuple(clusters),
                      options={"targets": list(options.selection.targets), "check": list(options.selection.checks),
                               "skip": list(options.selection.skips), "host_key_checking": options.transport.verify_host_keys,
                               "accept_new_host_keys": options.transport.accept_new_host_keys,
                               "local": options.local, "concurrency": options.concurrency, "timeout": options.timeout,
                               "inventory": options.inventory, "limit": list(options.limit), "ran_by": ran_by()})


def _wake(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """From a signal handler: run ``callback`` in the event loop (safe from any point of the main thread)."""
    loop.call_soon_threadsafe(callback)


def ran_by() -> str:
    """Who ran the scan, from where: ``user@jump-host``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


_PLANS: dict[tuple[object, ...], P.Plan] = {}


def plan_for(host: Host, catalog: Catalog, options: ScanOptions, kube: bool = False) -> P.Plan:
    """One plan covering every candidate benchmark, so one round trip serves whichever applies;
    with ``kube``, the host also runs its cluster's query (it is the cluster's source host).

    Hosts with the same roles and path overrides share one plan (a plan is a frozen value): building it
    walks every control of every benchmark, which cost more client CPU per host than the SSH session."""
    targets = host_targets(host, catalog)
    key = (catalog.digest, catalog.root, options.benchmark, options.selection, targets, tuple(sorted(host.paths.items())))
    plan = _PLANS.get(key)
    if plan is None:
        controls = [c for b in candidates(catalog, options.benchmark)
                    for c, skipped in options.selection.controls(b, targets) if not skipped]
        plan = P.build(controls, catalog, host.paths)
        if len(_PLANS) >= 256:
            _PLANS.clear()
        _PLANS[key] = plan
    return dataclasses.replace(plan, kube=_kube_target(host)) if kube else plan


def _kube_target(host: Host) -> P.KubeTarget:
    return P.KubeTarget(kubectl=host.kubectl, kubeconfig=host.kubeconfig)


def cluster_sources(hosts: tuple[Host, ...], catalog: Catalog, options: ScanOptions) -> dict[str, list[Host]]:
    """Cluster name → the control-plane hosts that may answer for it, in the order they are tried
    (``cluster_source: true`` first, then inventory order). When section 5 is selected for some
    host, every cluster with a host in the inventory is a key (an empty list: none can answer)."""
    out: dict[str, list[Host]] = {}
    benches = candidates(catalog, options.benchmark)
    for host in hosts:
        cands = out.setdefault(host.cluster, [])
        targets = host_targets(host, catalog)
        if POLICIES in targets and any(c.target == POLICIES and not skipped for b in benches
                                       for c, skipped in options.selection.controls(b, targets)):
            cands.append(host)
    if not any(out.values()):             # section 5 selected nowhere (--targets node, --check 1.2): no clusters
        return {}
    return {name: sorted(cands, key=lambda h: not h.cluster_source) for name, cands in out.items()}


async def scan_host(host: Host, catalog: Catalog, options: ScanOptions, connector: Connector,
                    kube: bool = False) -> HostScan:
    """Every per-host step, from planning to verdicts, inside one ``try``: the result is a value."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    deadline = host.ssh.timeout or options.timeout
    batch: Batch | None = None
    try:
        plan = plan_for(host, catalog, options, kube)
        nonce = S.new_nonce()
        source = S.render(plan, nonce)
        async with asyncio.timeout(deadline):
            batch = await (_run_local(host, source, options) if options.local
                           else _run_remote(host, source, options, connector, MAX_KUBE_BYTES if kube else 0))
        records = S.parse(batch.stdout, nonce)
        host_facts = F.build(records, catalog.components.values())
        kept = tuple(records) if options.keep_records else tuple(r for r in records if r.type in KUBE_TYPES)
        raw = Collected(hashlib.sha256(batch.stdout).hexdigest(), datetime.now(UTC), kept)
        detection, findings = assess(host, host_facts, catalog, options)
        if not options.keep_records:
            host_facts = evidence_only(host_facts)
    except HostFailure as exc:
        error = exc.error
    except TimeoutError:
        error = HostError(HostStatus.TIMEOUT, f"host did not finish within its deadline ({deadline:g}s, --timeout)")
    except BatchError as exc:
        error = HostError(HostStatus.ERROR, _batch_reason(str(exc), batch))
    except Exception as exc:  # noqa: BLE001 - a bug must not take the fleet down; logged with its traceback
        return _internal_error(host, options, started, exc, round(time.monotonic() - t0, 3),
                               _known_hosts(host, options, connector))
    else:
        return HostScan(host=host, benchmark=detection.benchmark if detection else options.benchmark,
                        started=started, seconds=round(time.monotonic() - t0, 3), findings=findings,
                        facts=host_facts, detection=detection, collected=raw,
                        known_hosts=_known_hosts(host, options, connector),
                        accepted_host_key=connector.accepted_for(host))
    return HostScan(host=host, benchmark=options.benchmark, started=started,
                    seconds=round(time.monotonic() - t0, 3), error=error,
                    known_hosts=_known_hosts(host, options, connector),
                    accepted_host_key=connector.accepted_for(host))


def evidence_only(facts: HostFacts) -> HostFacts:
    """What of a host's facts outlives its evaluation: the evidence the reports show (hostname, user,
    processes, paths) and a cluster source's query. File stats and contents, the largest part, are
    read by the checks alone."""
    return HostFacts(hostname=facts.hostname, uid=facts.uid, processes=facts.processes, paths=facts.paths,
                     stats={}, trees={}, contents={}, kube=facts.kube)


def _known_hosts(host: Host, options: ScanOptions, connector: Connector) -> str | None:
    """The known_hosts file(s) this host's key was checked against (None: not checked, or --local)."""
    return None if options.local else connector.known_hosts_label(host)


def _internal_error(host: Host, options: ScanOptions, started: datetime, exc: Exception,
                    seconds: float = 0.0, known_hosts: str | None = None) -> HostScan:
    """A bug met on one host: logged with its traceback, and that host is "not assessed"."""
    log.error("internal error while scanning %s", host.name, exc_info=exc)
    return HostScan(host=host, benchmark=options.benchmark, started=started, seconds=seconds, known_hosts=known_hosts,
                    error=HostError(HostStatus.ERROR, f"internal error: {type(exc).__name__}: {exc}"))


def assess(host: Host, facts: HostFacts, catalog: Catalog,
           options: ScanOptions) -> tuple[Detection | None, tuple[Finding, ...]]:
    """Pick the benchmark (auto) and evaluate its controls for this host. Pure: no I/O.

    Raises:
        HostFailure: ``no-kubernetes``, when none of the components the host's roles require was
            found (``presence.py``): its verdicts would be PASSes for files that do not exist.
    """
    targets = host_targets(host, catalog)
    needed = _required(catalog, options.benchmark, targets)
    if presence.no_kubernetes(facts, catalog, needed):
        labels = ", ".join(catalog.components[c].label for c in needed)
        raise HostFailure(HostStatus.NO_KUBERNETES,
                          f"no Kubernetes component found for roles {', '.join(host.roles)} (looked for {labels}: "
                          "no process, static-pod manifest, systemd unit, kubeconfig or config file)")
    detection = detect.choose(catalog, facts) if options.benchmark == AUTO else None
    bench = catalog.benchmarks[detection.benchmark if detection else options.benchmark]
    chosen = options.selection.controls(bench, host_targets(host, catalog))
    return detection, tuple(evaluate(c, facts, catalog, skipped) for c, skipped in chosen if c.target != POLICIES)


_REQUIRED: dict[tuple[object, ...], tuple[str, ...]] = {}


def _required(catalog: Catalog, benchmark: str, targets: tuple[str, ...]) -> tuple[str, ...]:
    """:func:`presence.required`, once per catalog, benchmark choice and role set (not once per host:
    it walks every control of every candidate benchmark, as much CPU as evaluating the host)."""
    key = (catalog.digest, catalog.root, benchmark, targets)
    needed = _REQUIRED.get(key)
    if needed is None:
        if len(_REQUIRED) >= 256:
            _REQUIRED.clear()
        needed = _REQUIRED[key] = presence.required(candidates(catalog, benchmark), targets)
    return needed


# --------------------------------------------------------------------------- clusters

def _without_query(scan: HostScan) -> HostScan:
    if scan.collected is None:
        return scan
    kept = tuple(r for r in scan.collected.records if r.type not in KUBE_TYPES)
    return dataclasses.replace(scan, collected=dataclasses.replace(scan.collected, records=kept))


def _cluster_controls(catalog: Catalog, benchmark: str, options: ScanOptions) -> list[tuple[Control, bool]]:
    return [(c, s) for c, s in options.selection.controls(catalog.benchmarks[benchmark], (POLICIES,))]


def assess_cluster(name: str, hosts: tuple[str, ...], tried: tuple[str, ...], source: str | None,
                   query: KubeQuery | None, records: tuple[Record, ...], benchmark: str, catalog: Catalog,
                   options: ScanOptions, why: str = "", collected_at: datetime | None = None) -> ClusterScan:
    """A cluster's section 5 from its query's answer (pure: the scan and ``evaluate`` share it)."""
    def not_assessed(reason: str) -> ClusterScan:
        return ClusterScan(name, hosts, "not assessed: " + reason, None, tried, benchmark, records=records,
                           collected_at=collected_at)
    if query is None or source is None:
        return not_assessed(why or "no control-plane host of this cluster answered")
    if query.state != "ok":
        return not_assessed(cluster.not_assessed_reason(query, source))
    try:
        findings = cluster.evaluate(_cluster_controls(catalog, benchmark, options), query, source)
    except ValueError as exc:
        return not_assessed(f"{exc} (from {source})")
    return ClusterScan(name, hosts, "ok", source, tried, benchmark, findings, records, collected_at)


def _cluster_benchmark(scans: list[HostScan], catalog: Catalog, options: ScanOptions) -> str:
    if options.benchmark != AUTO:
        return options.benchmark
    return next((s.detection.benchmark for s in scans if s.detection is not None), catalog.default_benchmark())


async def _cluster(name: str, hosts: tuple[Host, ...], cands: list[Host], results: list[HostScan], catalog: Catalog,
                   options: ScanOptions, connector: Connector) -> ClusterScan:
    """The cluster's section 5: the first candidate's query (in its node probe), else the next
    candidates' in turn, each in a round trip of its own that runs only the query."""
    members = tuple(h.name for h in hosts if h.cluster == name)
    scans = {s.host.name: s for s in results}
    benchmark = _cluster_benchmark([scans[c.name] for c in cands if c.name in scans], catalog, options)
    if not cands:
        return ClusterScan(name, members, "not assessed: no control-plane host of this cluster in the inventory",
                           None, (), benchmark)
    tried: list[str] = []
    failures: list[str] = []
    last: ClusterScan | None = None
    for i, host in enumerate(cands):
        tried.append(host.name)
        scan = scans[host.name]
        if i == 0:
            if scan.error is not None:
                failures.append(f"{host.name}: {scan.error.reason}")
                continue
            query = scan.facts.kube if scan.facts else None
            records = tuple(r for r in scan.collected.records if r.type in KUBE_TYPES) if scan.collected else ()
            at = scan.collected.collected_at if scan.collected else None
        else:
            if scan.error is not None and scan.error.status in (HostStatus.UNREACHABLE, HostStatus.TIMEOUT,
                                                                HostStatus.INTERRUPTED):
                failures.append(f"{host.name}: {scan.error.reason}")
                continue
            if options.interrupts is not None and options.interrupts.signal is not None:
                failures.append(f"{host.name}: not tried, the run was interrupted ({options.interrupts.name})")
                continue                      # after SIGINT/SIGTERM no new connection is started
            try:
                query, records, at = await _query_only(host, options, connector)
            except HostFailure as exc:
                failures.append(f"{host.name}: {exc.error.reason}")
                continue
            except (TimeoutError, BatchError) as exc:
                failures.append(f"{host.name}: {exc or 'timed out'}")
                continue
        if query is None:
            failures.append(f"{host.name}: the probe returned no answer to the cluster query")
            continue
        result = assess_cluster(name, members, tuple(tried), host.name, query, records, benchmark, catalog, options,
                                collected_at=at)
        if result.assessed or len(cands) == 1:
            return result
        failures.append(f"{host.name}: {result.status.removeprefix('not assessed: ')}")
        last = result
    status = "not assessed: no control-plane host answered the cluster query (" + "; ".join(failures) + ")"
    if len(cands) > 1 and last is not None:   # the last answer's records stay, as evidence of why
        return dataclasses.replace(last, status=status)
    return ClusterScan(name, members, status, None, tuple(tried), benchmark)


async def _query_only(host: Host, options: ScanOptions,
                      connector: Connector) -> tuple[KubeQuery | None, tuple[Record, ...], datetime]:
    """A second round trip, only when the source host could not answer: the query and nothing else."""
    plan = P.Plan(components=(), path_vars=(), overrides={}, stats=(), trees=(), reads=(), dirs=(), env_components=(),
                  kube=_kube_target(host))
    nonce = S.new_nonce()
    source = S.render(plan, nonce)
    async with asyncio.timeout(host.ssh.timeout or options.timeout):
        batch = await (_run_local(host, source, options) if options.local
                       else _run_remote(host, source, options, connector, MAX_KUBE_BYTES))
    records = tuple(r for r in S.parse(batch.stdout, nonce) if r.type in KUBE_TYPES)
    return F.build(records, ()).kube, records, datetime.now(UTC)


def probe_command(host: Host) -> str:
    """What runs on the host: ``sh -s``, behind the configured become command."""
    return f"{host.ssh.become} sh -s" if host.ssh.become else "sh -s"


async def _run_remote(host: Host, source: str, options: ScanOptions, connector: Connector, extra: int = 0) -> Batch:
    """``extra``: more output allowed (the cluster query's cap, on a source host)."""
    conn = await connector.connect(host)            # bounded by --handshakes inside the connector
    async with conn:
        try:
            batch = await run_script(conn, probe_command(host), source, options.transport.max_output + extra)
        except asyncssh.DisconnectError as exc:
            raise HostFailure(HostStatus.UNREACHABLE, f"connection lost while the probe ran: {exc.reason}") from None
        except (OSError, EOFError) as exc:
            raise HostFailure(HostStatus.UNREACHABLE, f"connection lost while the probe ran: {exc}") from None
    return _checked(batch)


async def _run_local(host: Host, source: str, options: ScanOptions) -> Batch:
    argv = [*(host.ssh.become or "").split(), "sh", "-s"]
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await proc.communicate(source.encode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return _checked(Batch(out, err, proc.returncode))


def _checked(batch: Batch) -> Batch:
    """Recognise a refused ``sudo`` before the output parser calls it garbled."""
    err = batch.stderr.decode("utf-8", "replace").strip()
    if batch.exit_status not in (0, None) and b"@@" not in batch.stdout:
        first = err.splitlines()[0] if err else f"exit status {batch.exit_status}"
        if "sudo" in err or "password" in err.lower():
            raise HostFailure(HostStatus.ERROR, f"sudo refused: {first} (configure NOPASSWD for 'sh' or connect as root)")
        raise HostFailure(HostStatus.ERROR, f"the probe could not start: {first}")
    return batch


def _batch_reason(message: str, batch: Batch | None) -> str:
    return message if batch is None or not batch.stderr else f"{message}; stderr: {batch.stderr[:200].decode('utf-8', 'replace')}"
