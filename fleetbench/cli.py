"""Command line: parse arguments, call the API, choose the exit code. No scan logic here.

Exit codes (README, "Exit codes")::

    0  every host assessed, no FAIL
    1  internal error (a bug: please report it)
    2  bad input: inventory, catalog or a flag (one line on stderr, no report written)
    3  at least one FAIL
    4  at least one host not assessed (takes precedence over 3)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from tabulate import tabulate

from . import __version__, compare
from . import script as S
from .bundle import evaluate_bundle, load_bundle, to_bundle
from .catalog import TARGETS, load_catalog
from .connect import Settings
from .errors import InputError, UsageError
from .inventory import load_inventory, shared_endpoints
from .models import Catalog, Host, ScanReport, SSHSettings
from .report import FORMATS, build, check_out_dir, check_writable, console, write_atomic
from .report import write as write_reports
from .runner import ScanOptions, check_paths, cluster_sources, plan_for, probe_command, scan
from .select import AUTO, Selection, candidates, host_targets, require_controls, role_names

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_FAIL, EXIT_NOT_ASSESSED = 0, 1, 2, 3, 4


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
    p.add_argument("--quiet", action="store_true", help="print only the fleet summary table")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--catalog", metavar="DIR", help="catalog folder (default: the checks/ shipped with fleetbench)")
    common.add_argument("-v", "--verbose", action="store_true", help="show expected/actual/source for every result")

    parser = _Parser(prog="fleetbench", description="Agentless CIS Kubernetes Benchmark scans of a fleet over SSH.")
    parser.add_argument("--version", action="version", version=f"fleetbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("scan", parents=[common], help="scan the hosts of an inventory")
    p.add_argument("inventory", nargs="?", help="inventory YAML (not needed with --local)")
    p.add_argument("--benchmark", help="auto (default: chosen per node from the Kubernetes version it runs) "
                                       "or a benchmark id such as cis-1.12, forced for every host")
    p.add_argument("--targets", type=_csv, default=[], help="only these targets: master,controlplane,etcd,node,policies")
    p.add_argument("--check", type=_csv, default=[], help="only these controls: CIS ids, sections (1.2) or check ids")
    p.add_argument("--skip", type=_csv, default=[], help="report these controls as INFO without running them")
    p.add_argument("--limit", type=_csv, default=[], help="only these hosts: names or globs (worker-*)")
    p.add_argument("--concurrency", type=_positive(int), default=50, help="hosts scanned at once (default 50)")
    p.add_argument("--handshakes", type=_positive(int), default=10,
                   help="SSH handshakes in flight at once (default 10, under sshd's MaxStartups)")
    p.add_argument("--connect-timeout", type=_positive(float), default=10.0, help="seconds to establish SSH (default 10)")
    p.add_argument("--timeout", type=_positive(float), default=120.0, help="deadline per host, connect + probe (default 120)")
    p.add_argument("--local", action="store_true", help="scan this machine itself, without SSH (like kube-bench)")
    p.add_argument("--roles", type=_csv, default=["worker"], help="with --local: roles of this machine: control-plane, etcd, worker "
                                                                 "(or master, controlplane, node; default worker)")
    p.add_argument("--insecure-no-host-key-check", action="store_true",
                   help="do not verify host keys (recorded in every report)")
    p.add_argument("--bundle", metavar="FILE", help="also save what was collected (evidence bundle) for `fleetbench evaluate`")
    _output_options(p)

    p = sub.add_parser("evaluate", parents=[common], help="re-evaluate an evidence bundle offline (contacts nothing)")
    p.add_argument("bundle", help="a file written by `fleetbench scan --bundle`")
    p.add_argument("--benchmark", help="auto (default: as the scan chose) or a benchmark id")
    p.add_argument("--targets", type=_csv, default=[])
    p.add_argument("--check", type=_csv, default=[])
    p.add_argument("--skip", type=_csv, default=[])
    _output_options(p)

    p = sub.add_parser("plan", parents=[common], help="print the exact script a scan would run on a host (contacts nothing)")
    p.add_argument("inventory")
    p.add_argument("--host", help="host name (default: every host, one after the other)")
    p.add_argument("--benchmark")
    p.add_argument("--targets", type=_csv, default=[])
    p.add_argument("--check", type=_csv, default=[])
    p.add_argument("--skip", type=_csv, default=[])

    p = sub.add_parser("checks", parents=[common], help="list the controls of a benchmark, or compare two")
    p.add_argument("--benchmark")
    p.add_argument("--targets", type=_csv, default=[])
    p.add_argument("--diff", metavar="B", help="show what changes from --benchmark to benchmark B")

    p = sub.add_parser("inventory", parents=[common], help="show the hosts of an inventory after inheritance")
    p.add_argument("inventory")
    p.add_argument("--limit", type=_csv, default=[])
    return parser


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
    except BrokenPipeError:                 # `fleetbench checks | head -1`: the reader has had enough
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        print("fleetbench: interrupted; no report written", file=sys.stderr)
        return 130


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


def _cmd_scan(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    bench = _benchmark(args, catalog, default=AUTO)
    selection = _selection(args, catalog, bench)
    _check_formats(args)
    if args.local:
        hosts: tuple[Host, ...] = (Host(name="localhost", address="local", roles=role_names(args.roles), groups=(),
                                        ssh=SSHSettings(), paths={}, origin="--local"),)
    else:
        if not args.inventory:
            raise UsageError("scan", "give an inventory file, or --local to scan this machine")
        hosts = load_inventory(args.inventory, args.limit)
        for warning in shared_endpoints(hosts):
            print(f"fleetbench: warning: {warning}", file=sys.stderr)
    check_paths(hosts, catalog)
    require_controls(hosts, catalog, bench, selection)
    _check_destinations(args, bundle=args.bundle)
    options = ScanOptions(benchmark=bench, selection=selection, concurrency=args.concurrency,
                          handshakes=args.handshakes, timeout=args.timeout, local=args.local,
                          inventory=None if args.local else args.inventory, limit=tuple(args.limit),
                          transport=Settings(connect_timeout=args.connect_timeout,
                                             verify_host_keys=not args.insecure_no_host_key_check))
    report = asyncio.run(scan(hosts, catalog, options))
    code = _emit(report, catalog, args)
    if args.bundle:
        path = Path(args.bundle)
        write_atomic(path, (json.dumps(to_bundle(report), indent=1) + "\n").encode())
        _say(f"wrote {path} (evidence bundle: fleetbench evaluate {path})")
    return code


def _check_formats(args: argparse.Namespace) -> None:
    if args.format == ["all"]:
        args.format = list(FORMATS)
    if not args.format:
        raise UsageError("--format", f"no format given (expected one or more of: {', '.join(FORMATS)}, or all)")
    for fmt in args.format:
        if fmt not in FORMATS:
            raise UsageError("--format", f"unknown format '{fmt}' (expected: {', '.join(FORMATS)}, or all)")


def _check_destinations(args: argparse.Namespace, bundle: str | None = None) -> None:
    """Last step before any host is contacted: every file this run will write can be written."""
    check_out_dir(Path(args.out_dir), flat=args.flat)
    if bundle:
        path = Path(bundle)
        if path.is_dir():
            raise UsageError("--bundle", f"'{path}' is a directory (expected a file name)")
        check_writable(path.parent, "--bundle")


def _emit(report: ScanReport, catalog: Catalog, args: argparse.Namespace) -> int:
    """Console report, report files, exit code: the same for `scan` and `evaluate`."""
    sections = {k: v for b in catalog.benchmarks.values() for k, v in b.sections.items()}
    data = build(report, sections=sections)
    color = not args.no_color and sys.stdout.isatty()
    _say(console.render(data, sections, color=color, verbose=args.verbose, per_host=not args.quiet), end="")
    written = write_reports(data, args.format, Path(args.out_dir), flat=args.flat)
    for path in written.removed:
        _say(f"removed {path} (left by an earlier --flat run in another format)")
    where = "" if args.flat else f" ({Path(args.out_dir) / 'latest'} points here)"
    _say(f"reports of run {data.run_id} in {written.folder}/{where}: "
         + ", ".join(p.name for p in written.paths))
    if report.not_assessed() or any(not c.assessed for c in data.clusters):
        return EXIT_NOT_ASSESSED
    return EXIT_FAIL if data.summary.FAIL or any(c.summary["FAIL"] for c in data.clusters) else EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    bundle = load_bundle(args.bundle)
    bench = _benchmark(args, catalog, default=bundle.data["benchmark"])
    if not (args.targets or args.check or args.skip):
        args.targets, args.check, args.skip = (list(bundle.data["options"].get(k, [])) for k in ("targets", "check", "skip"))
    selection = _selection(args, catalog, bench)
    _check_formats(args)
    _check_destinations(args)
    report = evaluate_bundle(bundle, catalog, ScanOptions(benchmark=bench, selection=selection))
    return _emit(report, catalog, args)


def _cmd_plan(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    bench = _benchmark(args, catalog, default=AUTO)
    selection = _selection(args, catalog, bench)
    hosts = load_inventory(args.inventory, check_files=False)       # prints only; contacts nothing
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
    rows = compare.diff(catalog, a, b)
    print(f"{a} → {b}: {len(rows)} change(s). A CIS id may name a different check in another version: "
          "compare results by (benchmark, id).")
    if rows:
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
    print(tabulate(rows, headers=["id", "title", "target", "type", "scored", "kind", "check"]))
    return EXIT_OK


def _cmd_inventory(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    hosts = load_inventory(args.inventory, args.limit, check_files=False)    # prints only; contacts nothing
    check_paths(hosts, catalog)
    rows = [[h.name, h.address, h.ssh.port or "(ssh config)", h.ssh.user or "(ssh config)", ",".join(h.roles),
             ",".join(host_targets(h, catalog)), h.ssh.jump or "", h.ssh.become or "",
             ",".join(f"{k}={v}" for k, v in h.paths.items())] for h in hosts]
    print(tabulate(rows, headers=["host", "address", "port", "user", "roles", "targets", "jump", "become", "paths"]))
    return EXIT_OK


_COMMANDS = {"scan": _cmd_scan, "evaluate": _cmd_evaluate, "plan": _cmd_plan, "checks": _cmd_checks, "inventory": _cmd_inventory}
