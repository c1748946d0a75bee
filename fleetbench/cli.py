"""Command line: parse arguments, call the API, choose the exit code. No scan logic here.

Exit codes (README, "Exit codes")::

    0  every host assessed, no FAIL
    1  internal error (a bug: please report it)
    2  bad input: inventory, catalog, a flag or an unusable history database (one line on stderr,
       no report written; a database failing only after the scan: reports written, run not recorded)
    3  at least one FAIL that no waiver accepts (--waivers); with --fail-on-new: at least one such
       FAIL the baseline run did not have
    4  at least one host not assessed (takes precedence over 3), an interrupted run (SIGINT/SIGTERM) included
    5  another run holds the lock of the history database (of the out-dir with --no-db); the message
       names its process, host and start
  130  a second SIGINT ended the run at once (143: a second SIGTERM); no partial file is left
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from . import __version__, workers
from . import script as S
from .ansible import parse_role_map
from .catalog import TARGETS, load_catalog
from .connect import Settings
from .errors import HostStatus, InputError, UsageError
from .history import diff as D
from .history import views as V
from .history.advisory import AdvisoryLock
from .history.store import GroupInfo, GroupSpec, HistoryError, RunInfo, Store, check_group_name, fleet_hosts, open_store, resolve_url, snapshot_of, waivers_of
from .interrupt import Interrupts
from .inventory import host_record, load_inventory, shared_endpoints
from .lock import LOCK_NAME, LockHeld, RunLock
from .models import Catalog, Host, HostScan, ScanReport, SSHSettings
from .progress import Progress
from .report import FORMATS, build, check_out_dir, check_writable, console, write_atomic
from .report import write as write_reports
from .report.model import Report
from .runlog import RunLog
from .runner import ScanOptions, check_paths, cluster_sources, plan_for, probe_command, scan
from .select import AUTO, Selection, candidates, host_targets, require_controls, role_names
from .shard import Shard
from .shard import parse as parse_shard
from .shard import select as select_shard
from .sshconfig import resolve, resolve_hops, with_config_file
from .waivers import Rule
from .waivers import apply as apply_waivers
from .waivers import load as load_waivers

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_FAIL, EXIT_NOT_ASSESSED, EXIT_LOCKED = 0, 1, 2, 3, 4, 5


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'") from None
        if not math.isfinite(value) or value <= 0:          # float('nan') <= 0 is False: test finiteness first
            raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'")
        return value
    return parse


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-dir", default="reports",
                   help="where report files go (default ./reports): each run in its own folder "
                        "<UTC time>-<run id>/, with a 'latest' symlink to the newest")
    p.add_argument("--flat", action="store_true",
                   help="write fixed file names directly in --out-dir (removing other formats' files of an earlier run)")
    p.add_argument("--format", type=_csv, default=["json"],
                   help=f"report files to write: {', '.join(FORMATS)}, or all (default json)")
    p.add_argument("--quiet", action="store_true",
                   help="for cron: print nothing at all unless a FAIL no waiver accepts or a host not assessed "
                        "needs someone; then the fleet table and those lines (no progress display)")
    p.add_argument("--waivers", metavar="FILE",
                   help="YAML file of accepted exceptions (controls, scope, reason, owner, ticket, expires): "
                        "waived results keep their status, are marked, and do not fail the run")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours")


def _ssh_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ssh-config", metavar="FILE",
                   help="ssh config read for what the inventory leaves unset, as `ssh -F FILE` (default: the "
                        "inventory's ssh_config, else ~/.ssh/config; 'none' reads no config)")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--catalog", metavar="DIR", help="catalog folder (default: the checks/ shipped with fleetbench)")
    common.add_argument("-v", "--verbose", action="store_true", help="show expected/actual/source for every result")

    roles = _Parser(add_help=False)
    roles.add_argument("--role-map", metavar="GROUP=ROLE", type=_csv, action="extend", default=[],
                       help="Ansible inventories: hosts of GROUP get ROLE (control-plane, etcd, worker), "
                            "besides kubespray's kube_control_plane, kube_node and etcd")
    parser = _Parser(prog="fleetbench", description="Agentless CIS Kubernetes Benchmark scans of a fleet over SSH.")
    parser.add_argument("--version", action="version", version=f"fleetbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("scan", parents=[common, roles], help="scan the hosts of an inventory")
    p.add_argument("inventory", nargs="?", help="inventory: fleetbench YAML, an Ansible INI/YAML inventory or "
                                                "a directory holding one (not needed with --local)")
    p.add_argument("--benchmark", help="auto (default: chosen per node from the Kubernetes version it runs) "
                                       "or a benchmark id such as cis-1.12, forced for every host")
    p.add_argument("--targets", type=_csv, default=[], help="only these targets: master,controlplane,etcd,node,policies")
    p.add_argument("--check", type=_csv, default=[], help="only these controls: CIS ids, sections (1.2) or check ids")
    p.add_argument("--skip", type=_csv, default=[], help="report these controls as INFO without running them")
    p.add_argument("--limit", type=_csv, default=[], help="only these hosts: names or globs (worker-*)")
    p.add_argument("--concurrency", type=_positive(int), default=50, help="hosts scanned at once (default 50)")
    p.add_argument("--handshakes", type=_positive(int), default=10,
                   help="SSH handshakes in flight at once (default 10, under sshd's MaxStartups)")
    p.add_argument("--workers", type=_positive(int), metavar="N",
                   help="processes the hosts are split across, each with its own event loop (default: the cores, "
                        "at most one per 50 hosts; 1: no child process); --concurrency and --handshakes are divided among them")
    p.add_argument("--connect-timeout", type=_positive(float), default=10.0, help="seconds to establish SSH (default 10)")
    p.add_argument("--timeout", type=_positive(float), default=120.0, help="deadline per host, connect + probe (default 120)")
    p.add_argument("--local", action="store_true", help="scan this machine itself, without SSH (like kube-bench)")
    p.add_argument("--roles", type=_csv, default=["worker"], help="with --local: roles of this machine: control-plane, etcd, worker "
                                                                 "(or master, controlplane, node; default worker)")
    p.add_argument("--insecure-no-host-key-check", action="store_true",
                   help="do not verify host keys (recorded in every report)")
    p.add_argument("--accept-new-host-keys", action="store_true",
                   help="first contact: record the key of a host its known_hosts file does not know yet "
                        "(OpenSSH's StrictHostKeyChecking accept-new); a changed key is still refused; "
                        "each accepted key is listed in the report")
    _ssh_config_option(p)
    p.add_argument("--bundle", metavar="FILE", help="also save what was collected (evidence bundle) for `fleetbench evaluate`")
    p.add_argument("--log-json", metavar="FILE",
                   help="append one JSON line per host as it finishes and one per run to FILE (flushed per line)")
    _db_option(p)
    p.add_argument("--no-db", action="store_true", help="do not record this run in the history database")
    p.add_argument("--keep", type=_positive(int), metavar="N",
                   help="keep only the newest N runs of this inventory in the history database (default: all)")
    p.add_argument("--fail-on-new", action="store_true",
                   help="exit 3 only for a FAIL the baseline run did not have (hosts not assessed still exit 4)")
    p.add_argument("--baseline", metavar="RUN", help="with --fail-on-new: compare with this run "
                                                     "(id, unique prefix or latest; default: the previous run of the inventory)")
    p.add_argument("--prometheus", metavar="FILE", help="also write a node_exporter textfile (written atomically)")
    p.add_argument("--shard", metavar="I/N", help="scan only shard I of N: the hosts whose name hashes to I "
                                                  "(README, \"Shards and run groups\"); with the database, give --run-group")
    p.add_argument("--run-group", metavar="NAME", help="record this run as shard I/N of the run group NAME, which joins the "
                                                       "shards' runs (processes, jump hosts) into one fleet run; a re-run "
                                                       "of a shard replaces its run in the group")
    _output_options(p)

    p = sub.add_parser("evaluate", parents=[common], help="re-evaluate an evidence bundle offline (contacts nothing)")
    p.add_argument("bundle", help="a file written by `fleetbench scan --bundle`")
    p.add_argument("--benchmark", help="auto (default: as the scan chose) or a benchmark id")
    p.add_argument("--targets", type=_csv, default=[])
    p.add_argument("--check", type=_csv, default=[])
    p.add_argument("--skip", type=_csv, default=[])
    _output_options(p)

    p = sub.add_parser("plan", parents=[common, roles], help="print the exact script a scan would run on a host (contacts nothing)")
    p.add_argument("inventory")
    p.add_argument("--host", help="host name (default: every host, one after the other)")
    _ssh_config_option(p)
    p.add_argument("--benchmark")
    p.add_argument("--targets", type=_csv, default=[])
    p.add_argument("--check", type=_csv, default=[])
    p.add_argument("--skip", type=_csv, default=[])

    p = sub.add_parser("checks", parents=[common], help="list the controls of a benchmark, or compare two")
    p.add_argument("--benchmark")
    p.add_argument("--targets", type=_csv, default=[])
    p.add_argument("--diff", metavar="B", help="show what changes from --benchmark to benchmark B")

    p = sub.add_parser("inventory", parents=[common, roles], help="show the hosts of an inventory after inheritance")
    p.add_argument("inventory")
    p.add_argument("--limit", type=_csv, default=[])
    _ssh_config_option(p)
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or json: every host as it will be connected to, with where each setting came from")

    p = sub.add_parser("history", help="list the runs of the history database, newest first")
    _db_option(p)
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = sub.add_parser("diff", help="what changed between two stored runs (default: the last two of the same inventory)")
    p.add_argument("old", nargs="?", metavar="OLD", help="run id, unique prefix or latest (default: the run before NEW)")
    p.add_argument("new", nargs="?", metavar="NEW", help="run id, unique prefix or latest (default: the newest run of OLD's inventory)")
    p.add_argument("--run-group", metavar="NAME", action="append", default=[],
                   help="compare run groups instead of runs: once (NAME against the previous group of its inventory) "
                        "or twice (OLD then NEW)")
    _db_option(p)
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = sub.add_parser("report", help="render a stored run, or a whole run group, again (any format, contacts nothing)")
    p.add_argument("run", metavar="RUN", nargs="?", help="run id, unique prefix or latest")
    p.add_argument("--run-group", metavar="NAME", help="render the whole fleet of this run group (every shard's latest run) "
                                                       "instead of one run")
    _db_option(p)
    _output_options(p)
    return parser


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH|URL", help="history database: a file path, sqlite:///PATH or "
                                                    "postgresql://USER@HOST:PORT/DATABASE (default: $FLEETBENCH_DB, "
                                                    "else $XDG_DATA_HOME/fleetbench/history.db)")


def run() -> int:
    """The ``fleetbench`` command (and ``python -m fleetbench``): :func:`main` in a process of its own."""
    _tune_gc()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="fleetbench: %(levelname)s: %(message)s")
    try:
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()                  # here, so that a closed pipe is caught below, not at exit
        return code
    except InputError as exc:
        print(f"fleetbench: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except LockHeld as exc:
        print(f"fleetbench: error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except BrokenPipeError:                 # `fleetbench checks | head -1`: the reader has had enough
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        print("fleetbench: interrupted; no report written", file=sys.stderr)
        return 130


def _tune_gc() -> None:
    """Fewer garbage-collector passes: a scan allocates millions of small, acyclic objects (parsed
    records, results, report rows) that the cycle collector scans again and again for nothing. The
    objects made at start (modules, the catalog) are frozen out of its scans, and generation 0 is
    collected every 50,000 allocations instead of 700 (README "Benchmark": about 15 % of a 200-host
    scan's CPU); cycles are still collected, so memory stays bounded (the 1,000-host run's peak RSS)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def _silence_stdout() -> None:
    """After a closed pipe: send further output (and the flush at exit) to /dev/null, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _say(text: str = "", end: str = "\n") -> None:
    """Print to stdout; a reader that went away (``| head``) silences the rest, never the scan:
    the report files are still written and the exit code still says what was found."""
    try:
        print(text, end=end, flush=True)
    except BrokenPipeError:
        _silence_stdout()


def _benchmark(args: argparse.Namespace, catalog: Catalog, default: str | None = None) -> str:
    bench = args.benchmark or default or catalog.default_benchmark()
    if bench != AUTO and bench not in catalog.benchmarks:
        raise UsageError("--benchmark", f"unknown benchmark '{bench}' "
                                        f"(available: auto, {', '.join(sorted(catalog.benchmarks))})")
    return bench


def _check_targets(args: argparse.Namespace) -> None:
    for t in args.targets:
        if t not in TARGETS:
            raise UsageError("--targets", f"unknown target '{t}' (expected {', '.join(TARGETS)})")


def _selection(args: argparse.Namespace, catalog: Catalog, bench: str) -> Selection:
    _check_targets(args)
    sel = Selection(targets=tuple(args.targets), checks=tuple(args.check), skips=tuple(getattr(args, "skip", [])))
    sel.validate(candidates(catalog, bench))
    return sel


def _waiver_rules(args: argparse.Namespace, catalog: Catalog) -> tuple[Rule, ...] | None:
    """The --waivers file, checked against the catalog (None without the flag)."""
    return load_waivers(args.waivers, catalog) if args.waivers else None


def _cmd_scan(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    bench = _benchmark(args, catalog, default=AUTO)
    selection = _selection(args, catalog, bench)
    _check_formats(args)
    rules = _waiver_rules(args, catalog)
    if args.local and args.workers not in (None, 1):
        raise UsageError("--workers", "--local scans this one machine in one process: drop --workers")
    if args.local:
        hosts: tuple[Host, ...] = (Host(name="localhost", address="local", roles=role_names(args.roles), groups=(),
                                        ssh=SSHSettings(), paths={}, origin="--local"),)
    else:
        if not args.inventory:
            raise UsageError("scan", "give an inventory file, or --local to scan this machine")
        hosts = _resolved(load_inventory(args.inventory, args.limit, role_map=parse_role_map(args.role_map)), args)
        for warning in shared_endpoints(hosts):
            if not args.quiet:              # cron: nothing unless someone must act on the results
                print(f"fleetbench: warning: {warning}", file=sys.stderr)
    fleet = hosts                           # every host of the inventory after --limit: the run group's fleet
    shard = _shard(args)
    if shard is not None:
        hosts = select_shard(hosts, shard)
    check_paths(hosts, catalog)
    require_controls(hosts, catalog, bench, selection)
    _check_destinations(args, bundle=args.bundle, log_json=args.log_json)
    store = _scan_store(args, fleet)        # the database is checked before any host is contacted
    try:
        with Interrupts() as interrupts:
            options = ScanOptions(benchmark=bench, selection=selection, concurrency=args.concurrency,
                                  handshakes=args.handshakes, timeout=args.timeout, local=args.local,
                                  inventory=None if args.local else args.inventory, limit=tuple(args.limit),
                                  transport=Settings(connect_timeout=args.connect_timeout,
                                                     verify_host_keys=not args.insecure_no_host_key_check,
                                                     accept_new_host_keys=args.accept_new_host_keys),
                                  interrupts=interrupts, keep_records=bool(args.bundle))
            with _run_lock(args, store, options.run_id):
                return _scan_locked(args, hosts, catalog, options, rules, interrupts, store)
    finally:
        if store is not None:
            store.close()


def _shard(args: argparse.Namespace) -> Shard | None:
    """--shard I/N (--run-group alone: the group's only shard, 1/1); None: every host."""
    if args.run_group:
        check_group_name(args.run_group)
    if args.shard:
        return parse_shard(args.shard)
    return Shard(1, 1) if args.run_group else None


def _run_lock(args: argparse.Namespace, store: Store | None, run_id: str) -> RunLock | AdvisoryLock:
    """The run lock (README, "The run lock"): a file for SQLite and --no-db; an advisory lock on the
    PostgreSQL server per inventory (per shard of a run group), so that other inventories and other
    shards run at the same time."""
    if store is not None and store.path is None:
        group: GroupSpec | None = getattr(args, "group_spec", None)
        if group is not None:
            return AdvisoryLock(store.engine, f"shard {group.shard} of run group {group.name}", store.where, run_id)
        inventory = "--local" if args.local else str(Path(args.inventory).resolve())
        return AdvisoryLock(store.engine, f"inventory {inventory}", store.where, run_id)
    return RunLock(_lock_path(args, store), run_id)


def _lock_path(args: argparse.Namespace, store: Store | None) -> Path:
    """One run at a time per history database (its file + ".lock"), or per out-dir with --no-db."""
    if store is not None and store.path is not None:
        return store.path.with_name(store.path.name + ".lock")
    return Path(args.out_dir) / LOCK_NAME


def _scan_locked(args: argparse.Namespace, hosts: tuple[Host, ...], catalog: Catalog, options: ScanOptions,
                 rules: tuple[Rule, ...] | None, interrupts: Interrupts, store: Store | None) -> int:
    """The scan proper, under the run lock: progress, --log-json, reports, history, bundle, exit code."""
    log = RunLog(args.log_json, options.run_id) if args.log_json else None
    inventory = None if args.local else str(Path(args.inventory).resolve())
    count = workers.count_for(hosts, catalog, options, args.workers)
    live = _Live()

    def done(result: HostScan) -> None:
        if live.progress is not None:
            live.progress.host_done(result)
        if log is not None:
            log.host(apply_waivers(rules, (result,), date.today()).hosts[0] if rules else result)

    group: GroupSpec | None = getattr(args, "group_spec", None)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:    # its thread starts at submit: after any fork

            def start() -> None:
                # the progress bar (tqdm's monitor thread) and the history prefetch start once the
                # workers exist: a fork copies no thread. The previous run is read while the hosts are
                # scanned (the loop mostly waits on the network), so comparing with it adds little
                # to the run's wall time (README, "Benchmark")
                live.progress = Progress(len(hosts), sys.stderr, enabled=not args.quiet)
                live.prefetch = pool.submit(store.prefetch, inventory) if store is not None and group is None else None

            scanning = dataclasses.replace(options, on_host_done=done)
            if count > 1:
                report = workers.run(hosts, catalog, scanning, count, interrupts, after_fork=start)
            else:
                start()
                report = asyncio.run(scan(hosts, catalog, scanning))
            known = live.prefetch.result() if live.prefetch is not None else None
        if args.shard or group is not None:   # the shard's own reports say which shard of which group they are
            shard = _shard(args)
            report = replace(report, options={**report.options, "shard": str(shard),
                                              "run_group": group.name if group else None})
        live.close()
        if interrupts.signal is not None:
            stopped = sum(1 for h in report.hosts if h.error and h.error.status == HostStatus.INTERRUPTED)
            print(f"fleetbench: interrupted by {interrupts.name}: {stopped} host(s) not scanned (status "
                  "'interrupted'); writing the reports of what finished", file=sys.stderr)
        out = _emit(report, catalog, args, rules, store=store, inventory=inventory, known=known)
        if args.bundle:
            path = Path(args.bundle)
            from .bundle import to_bundle  # only with --bundle
            write_atomic(path, (json.dumps(to_bundle(report), indent=1) + "\n").encode())
            if out.speak:
                _say(f"wrote {path} (evidence bundle: fleetbench evaluate {path})")
        if log is not None:
            log.run(out.data, out.code, interrupts.name)
        return out.code
    finally:
        live.close()
        if log is not None:
            log.close()


@dataclasses.dataclass(slots=True)
class _Live:
    """What a scan starts only after its workers are forked: the progress bar and the history prefetch."""

    progress: Progress | None = None
    prefetch: Future[D.Snapshot | None] | None = None

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()


def _resolved(hosts: tuple[Host, ...], args: argparse.Namespace) -> tuple[Host, ...]:
    """Each host as OpenSSH would reach it (:func:`fleetbench.sshconfig.resolve`), with
    ``--ssh-config`` over the inventory's ``ssh_config``. A config line that cannot be read is
    an input error naming file:line, before any host is contacted."""
    if args.ssh_config and args.ssh_config.lower() != "none" and not Path(args.ssh_config).expanduser().is_file():
        raise UsageError("--ssh-config", f"no such file '{args.ssh_config}'")
    return tuple(resolve(with_config_file(h, args.ssh_config)) for h in hosts)


def _check_formats(args: argparse.Namespace) -> None:
    if args.format == ["all"]:
        args.format = list(FORMATS)
    if not args.format:
        raise UsageError("--format", f"no format given (expected one or more of: {', '.join(FORMATS)}, or all)")
    for fmt in args.format:
        if fmt not in FORMATS:
            raise UsageError("--format", f"unknown format '{fmt}' (expected: {', '.join(FORMATS)}, or all)")


def _check_destinations(args: argparse.Namespace, bundle: str | None = None, log_json: str | None = None) -> None:
    """Last step before any host is contacted: every file this run will write can be written."""
    check_out_dir(Path(args.out_dir), flat=args.flat)
    for flag, given in (("--bundle", bundle), ("--log-json", log_json), ("--prometheus", getattr(args, "prometheus", None))):
        if given:
            path = Path(given)
            if path.is_dir():
                raise UsageError(flag, f"'{path}' is a directory (expected a file name)")
            check_writable(path.parent, flag)


@dataclasses.dataclass(frozen=True, slots=True)
class _Emitted:
    code: int
    data: Report
    speak: bool                           #: False: --quiet and nothing needs anyone (print nothing more)


def _scan_store(args: argparse.Namespace, fleet: tuple[Host, ...] = ()) -> Store | None:
    """The history database of a scan, opened and checked (None with --no-db); --baseline resolved;
    with --run-group, the group joined (or checked against this shard) before any host is contacted."""
    if args.no_db:
        for flag, value in (("--db", args.db), ("--keep", args.keep), ("--fail-on-new", args.fail_on_new),
                            ("--baseline", args.baseline), ("--run-group", args.run_group)):
            if value:
                raise UsageError(flag, "needs the history database: drop --no-db")
        return None
    if args.baseline and not args.fail_on_new:
        raise UsageError("--baseline", "is the baseline of --fail-on-new: add --fail-on-new")
    if args.shard and not args.run_group:
        raise UsageError("--shard", "a shard recorded in the history database belongs to a run group: add "
                                    "--run-group NAME (or --no-db to scan the shard without recording it)")
    if args.keep and args.run_group:
        raise UsageError("--keep", "applies to plain runs; the runs of a run group are kept (a re-run of a shard "
                                   "replaces its run)")
    store = open_store(resolve_url(args.db, os.environ), create=True)
    try:
        args.baseline_run = store.run(args.baseline) if args.baseline else None
        args.group_spec = None
        if args.run_group:
            shard = _shard(args)
            assert shard is not None
            spec = GroupSpec(args.run_group, shard)
            inventory = None if args.local else str(Path(args.inventory).resolve())
            store.join_group(spec, inventory, fleet_hosts(fleet, shard.count))
            args.group_spec = spec
    except BaseException:
        store.close()
        raise
    return store


def _emit(report: ScanReport, catalog: Catalog, args: argparse.Namespace, rules: tuple[Rule, ...] | None,
          store: Store | None = None, inventory: str | None = None, known: D.Snapshot | None = None) -> _Emitted:
    """Waivers, console report, report files, history, exit code: the same for `scan` and `evaluate`.

    The database was checked before the scan; should it fail now all the same, the reports are
    still written, the error is said in one line and the run exits 2 (it is not recorded).
    """
    sections = {k: v for b in catalog.benchmarks.values() for k, v in b.sections.items()}
    outcome = None
    if rules is not None:
        outcome = apply_waivers(rules, report.hosts, date.today(), report.clusters)
        report = dataclasses.replace(report, hosts=outcome.hosts, clusters=outcome.clusters)
    data = build(report, sections=sections, waivers=outcome)
    waivers = waivers_of(report)
    gate: D.Diff | None = None              # what --fail-on-new judges
    failed: HistoryError | None = None
    group: GroupSpec | None = getattr(args, "group_spec", None)
    group_since: D.Diff | None = None       # a shard: its hosts against the previous group
    if store is not None:
        try:
            current = snapshot_of(data, waivers)
            baseline: RunInfo | None = getattr(args, "baseline_run", None)
            if group is None:
                data = replace(data, history=store.history(data, inventory, current, known=known))
                since = data.history.since_previous if data.history else None
            else:                           # a shard: its hosts against the previous group (README, "Run groups")
                prev = store.previous_group(store.group(group.name))
                since = group_since = None if prev is None else D.diff(store.group_snapshot(prev), current)
            if getattr(args, "fail_on_new", False):
                gate = (D.diff(store.snapshot(baseline.run_id), current) if baseline
                        else since or D.first_run(current))
        except HistoryError as exc:
            failed, store = exc, None
    new_failures = D.new_failure_count(gate)
    color = not args.no_color and sys.stdout.isatty()
    speak = not args.quiet or console.should_speak(data, new_failures)
    if args.quiet:
        if speak:
            _say(console.render_quiet(data), end="")
    else:
        _say(console.render(data, sections, color=color, verbose=args.verbose), end="")
    if speak and data.history is not None:
        _say(V.since_line(data.history))
    written = write_reports(data, args.format, Path(args.out_dir), flat=args.flat)
    if speak:
        for path in written.removed:
            _say(f"removed {path} (left by an earlier --flat run in another format)")
        where = "" if args.flat else f" ({Path(args.out_dir) / 'latest'} points here)"
        _say(f"reports of run {data.run_id} in {written.folder}/{where}: "
             + ", ".join(p.name for p in written.paths))
    if store is not None:
        try:
            deleted = store.save(data, waivers, inventory, keep=args.keep, group=group)
            if speak and group is not None:
                _say(f"recorded run {data.run_id} in {store.where} as shard {group.shard} of run group {group.name}"
                     + (f" (replacing run {', '.join(deleted)})" if deleted else ""))
            elif speak:
                _say(f"recorded run {data.run_id} in {store.where}"
                     + (f" (--keep {args.keep}: removed {len(deleted)} older run{'s' if len(deleted) > 1 else ''})"
                        if deleted else ""))
        except HistoryError as exc:
            failed = exc
    if getattr(args, "prometheus", None):
        since = data.history.since_previous if data.history else None
        if store is not None and group is not None:
            since = group_since
        if store is not None and since is None:
            since = D.first_run(snapshot_of(data, waivers))
        from . import prometheus as P  # prometheus_client: only with --prometheus
        P.write(Path(args.prometheus), data, D.new_failure_count(since))
        if speak:
            _say(f"wrote {args.prometheus} (Prometheus textfile)")
    if failed is not None:
        print(f"fleetbench: error: {failed} (the reports were written; run {data.run_id} is not recorded)", file=sys.stderr)
        return _Emitted(EXIT_INPUT, data, True)
    return _Emitted(exit_code(data, new_failures), data, speak)


def exit_code(data: Report, new_failures: int | None = None) -> int:
    """4 if a host or a cluster was not assessed; else 3 for a FAIL no waiver accepts, on a host or a
    cluster (with --fail-on-new: only a new one, of a host or a cluster, counts); else 0."""
    if data.summary.hosts_not_assessed or any(not c.assessed for c in data.clusters):
        return EXIT_NOT_ASSESSED
    if new_failures is not None:
        return EXIT_FAIL if new_failures else EXIT_OK
    failing = any(r.counts_as_fail for h in data.hosts for r in h.results)
    return EXIT_FAIL if failing or any(r.counts_as_fail for c in data.clusters for r in c.results) else EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    from .bundle import evaluate_bundle, load_bundle
    bundle = load_bundle(args.bundle)
    bench = _benchmark(args, catalog, default=bundle.data["benchmark"])
    if not (args.targets or args.check or args.skip):
        args.targets, args.check, args.skip = (list(bundle.data["options"].get(k, [])) for k in ("targets", "check", "skip"))
    selection = _selection(args, catalog, bench)
    _check_formats(args)
    rules = _waiver_rules(args, catalog)
    _check_destinations(args)
    report = evaluate_bundle(bundle, catalog, ScanOptions(benchmark=bench, selection=selection))
    with RunLock(Path(args.out_dir) / LOCK_NAME, report.run_id):
        return _emit(report, catalog, args, rules).code


def _cmd_plan(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    bench = _benchmark(args, catalog, default=AUTO)
    selection = _selection(args, catalog, bench)
    hosts = _resolved(load_inventory(args.inventory, check_files=False,      # prints only; contacts nothing
                                     role_map=parse_role_map(args.role_map)), args)
    check_paths(hosts, catalog)
    sources = {cands[0].name: name for name, cands in
               cluster_sources(hosts, catalog, ScanOptions(benchmark=bench, selection=selection)).items() if cands}
    if args.host:
        hosts = tuple(h for h in hosts if h.name == args.host)
        if not hosts:
            raise UsageError("--host", f"no host named '{args.host}' in {args.inventory}")
    require_controls(hosts, catalog, bench, selection)
    for host in hosts:
        options = ScanOptions(benchmark=bench, selection=selection)
        plan = plan_for(host, catalog, options, kube=host.name in sources)
        query = (f"; it also runs the query of cluster '{sources[host.name]}' (section 5)" if host.name in sources
                 else "")
        print(f"# host {host.name} ({host.address}): probes for {bench} ({', '.join(b.id for b in candidates(catalog, bench))}); "
              f"runs as `{probe_command(host)}` with this script on stdin (nonce is fresh per scan){query}")
        print(S.render(plan, "0" * 16))
    return EXIT_OK


def _cmd_diff(catalog: Catalog, a: str, b: str) -> int:
    from . import compare
    rows = compare.diff(catalog, a, b)
    print(f"{a} → {b}: {len(rows)} change(s). A CIS id may name a different check in another version: "
          "compare results by (benchmark, id).")
    if rows:
        from tabulate import tabulate  # only the listing commands print tables
        print(tabulate([[r.id, r.change, r.before, r.after] for r in rows], headers=["id", "change", a, b],
                       maxcolwidths=[None, None, 50, 50]))
    return EXIT_OK


def _cmd_checks(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    _check_targets(args)
    if AUTO in (args.benchmark, args.diff):
        raise UsageError("--diff" if args.diff == AUTO else "--benchmark",
                         f"{AUTO} chooses per node; give a benchmark id to list its controls")
    if args.diff:
        return _cmd_diff(catalog, _benchmark(args, catalog), args.diff)
    bench = catalog.benchmarks[_benchmark(args, catalog)]
    rows = [[c.id, c.title, c.target, "automated" if c.automated else "manual", "yes" if c.scored else "no",
             "skip" if c.skip else c.check.kind, c.check.id]
            for c in bench.controls if not args.targets or c.target in args.targets]
    print(f"{bench.title} ({bench.id}), Kubernetes {', '.join(bench.kubernetes)}: {len(rows)} controls")
    from tabulate import tabulate  # only the listing commands print tables
    print(tabulate(rows, headers=["id", "title", "target", "type", "scored", "kind", "check"]))
    return EXIT_OK


def _cmd_inventory(args: argparse.Namespace) -> int:
    """Print each host as :func:`fleetbench.sshconfig.resolve` returns it: the values a scan
    connects with (each jump hop as ``ssh -J`` reaches it), the same in both formats."""
    catalog = load_catalog(args.catalog)
    hosts = _resolved(load_inventory(args.inventory, args.limit, check_files=False,    # contacts nothing
                                     role_map=parse_role_map(args.role_map)), args)
    check_paths(hosts, catalog)
    shown = [host_record(h, tuple(f"{hop.user}@{hop.hostname}:{hop.port}" for hop in _hops(h))) for h in hosts]
    if args.format == "json":
        print(json.dumps({"hosts": shown}, indent=1))
        return EXIT_OK
    rows = [[r["name"], r["address"], _unset(r["port"]), _unset(r["user"]), ",".join(r["roles"]),
             ",".join(host_targets(h, catalog)), ",".join(r["jump"]), r["become"] or "",
             ",".join(f"{k}={v}" for k, v in h.paths.items())] for r, h in zip(shown, hosts, strict=True)]
    from tabulate import tabulate  # only the listing commands print tables
    print(tabulate(rows, headers=["host", "address", "port", "user", "roles", "targets", "jump", "become", "paths"]))
    return EXIT_OK


def _hops(host: Host) -> tuple[Any, ...]:
    try:
        return resolve_hops(host)
    except ValueError as exc:                 # a nested jump: refused the same way by a scan
        raise UsageError("inventory", f"host '{host.name}': {exc}") from None


def _unset(value: Any) -> Any:
    return "(default)" if value is None else value


def _read_store(args: argparse.Namespace) -> Store:
    return open_store(resolve_url(args.db, os.environ), create=False)


def _cmd_history(args: argparse.Namespace) -> int:
    store = _read_store(args)
    try:
        runs = store.runs()
    finally:
        store.close()
    if args.format == "json":
        _say(json.dumps([r.to_json() for r in runs], indent=2, ensure_ascii=False))
    elif not runs:
        _say(f"no runs in {store.where} yet")
    else:
        _say(V.runs_table(runs))
    return EXIT_OK


def _cmd_rundiff(args: argparse.Namespace) -> int:
    if args.run_group:
        return _group_diff(args)
    store = _read_store(args)
    try:
        if args.old and args.new:
            old, new = store.run(args.old), store.run(args.new)
        elif args.old:
            old = store.run(args.old)
            latest = store.latest(old.inventory)
            assert latest is not None       # old itself is a run of that inventory
            new = latest
        else:
            new = store.run("latest")
            before = store.previous(new.inventory, new.started, exclude=new.run_id)
            if before is None:
                raise UsageError("diff", f"{store.where} has only one run of {new.inventory or 'the --local scans'}: "
                                         "nothing to compare with yet")
            old = before
        d = D.diff(store.snapshot(old.run_id), store.snapshot(new.run_id))
    finally:
        store.close()
    _say(json.dumps(D.to_json(d), indent=2, ensure_ascii=False) if args.format == "json" else V.diff_table(d))
    return EXIT_OK


def _group_diff(args: argparse.Namespace) -> int:
    """``diff --run-group NEW`` (against the previous group of its inventory) or ``--run-group OLD --run-group NEW``."""
    if args.old or args.new:
        raise UsageError("diff", "give runs (OLD NEW) or --run-group, not both")
    if len(args.run_group) > 2:
        raise UsageError("--run-group", "give it once (NEW against the previous group) or twice (OLD then NEW)")
    store = _read_store(args)
    try:
        groups = [store.group(name) for name in args.run_group]
        new = groups[-1]
        old: GroupInfo | None = groups[0] if len(groups) == 2 else store.previous_group(new)
        if old is None:
            raise UsageError("diff", f"run group '{new.name}' is the first of {new.inventory or 'the --local scans'} "
                                     f"in {store.where}: nothing to compare with yet")
        d = D.diff(store.group_snapshot(old), store.group_snapshot(new))
    finally:
        store.close()
    _say(json.dumps(D.to_json(d), indent=2, ensure_ascii=False) if args.format == "json" else V.diff_table(d, groups=True))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    if bool(args.run) == bool(args.run_group):
        raise UsageError("report", "give a RUN (id, unique prefix or latest) or --run-group NAME")
    _check_formats(args)
    _check_destinations(args)
    store = _read_store(args)
    try:
        if args.run_group:
            group = store.group(args.run_group)
            data = store.group_report(group)
        else:
            info = store.run(args.run)
            data = store.load(info.run_id)
            if info.group is None:          # a shard's run alone has no history of its own (see run groups)
                data = replace(data, history=store.history(data, info.inventory, store.snapshot(info.run_id)))
    finally:
        store.close()
    if not args.quiet:
        color = not args.no_color and sys.stdout.isatty()
        _say(console.render(data, dict(data.sections or {}), color=color, per_host=False), end="")
    written = write_reports(data, args.format, Path(args.out_dir), flat=args.flat)
    what = f"run group {data.run_id}" if args.run_group else f"stored run {data.run_id}"
    _say(f"reports of {what} in {written.folder}/: " + ", ".join(p.name for p in written.paths))
    return EXIT_OK


_COMMANDS = {"scan": _cmd_scan, "evaluate": _cmd_evaluate, "plan": _cmd_plan, "checks": _cmd_checks, "inventory": _cmd_inventory,
             "history": _cmd_history, "diff": _cmd_rundiff, "report": _cmd_report}
