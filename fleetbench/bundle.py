"""Evidence bundles: collect once, evaluate many times, offline.

``fleetbench scan --bundle FILE`` saves the scan's settings and, per host, every record the probe
returned (secrets redacted), the sha256 of the raw output as received and of each stored record,
and when it was collected. Records name their keys (``records.py``), so no plan is stored:
``fleetbench evaluate FILE`` rebuilds the facts from the records alone and evaluates them again
without touching any host, giving the same verdicts as the scan (or, with ``--benchmark``,
another version's verdicts: a scan with ``--benchmark auto`` collects what every benchmark in the
catalog needs; a benchmark whose facts were not collected is refused, never judged as "absent").

Format (JSON, ``"kind": "fleetbench-evidence"``, ``"schema": 2``)::

    {"kind", "schema": 2, "tool_version", "created", "catalog_digest", "benchmark",
     "options": {"targets", "check", "skip", "host_key_checking", "local", "inventory", "limit",
                 "ran_by", "concurrency", "timeout"},          # the scan's settings, as in its report
     "hosts": [{"name", "address", "roles", "groups", "paths", "status", "error",
                "started", "seconds", "known_hosts", "collected_at", "stdout_sha256",   # the last three when status is "ok"
                "records": [{"type", "args", "payload_b64", "sha256"}]}],
     "clusters": [{"name", "hosts", "status", "source_host", "tried", "benchmark", "collected_at",
                   "records": [...]}]}     # the cluster query's kube/kuberc records (none when not assessed)

``clusters`` (optional: absent in bundles made before section 5 was decided per cluster) keeps each
cluster's query answer once, so ``evaluate`` re-decides section 5 offline; the source host's own
records leave the query out. In the query's JSON, container environment values with secret-looking
names are redacted and ``last-applied-configuration`` annotations dropped (Secrets are never listed).

Schema 1 bundles (records framed by position, with the plan beside them) are refused with a
one-line message: re-collect them. Every field is checked on load (type, base64, sha256, dates);
a bad one is named with its place in the file and what was expected (exit 2).

Redaction changes argv values of secret flags (also in k3s's journal lines), ETCD_* values with
secret names and secret-looking keys in files (``secret:``, ``token:``, ``password:``); no check
reads those values, so the verdicts do not change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__
from . import facts as F
from . import plan as P
from . import records as R
from .connect import HostFailure
from .errors import HostError, HostStatus, InputError
from .models import Catalog, Host, HostScan, Record, ScanReport, SSHSettings
from .redact import REDACTED, redact_argv, redact_text, redact_value
from .runner import AUTO, ScanOptions, assess, assess_cluster, plan_for

KIND = "fleetbench-evidence"
SCHEMA = 2
_SECRET_KEY = re.compile(rb"(?im)^(\s*-?\s*(?:secret|token|password|passwd|client-key-data|api-?key)\s*:\s*)(\S.*)$")


class BundleError(InputError):
    """An evidence bundle that cannot be read."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """A loaded, checked bundle: its JSON as written, and each host's records decoded (in order)."""

    path: str
    data: Mapping[str, Any]
    records: tuple[tuple[Record, ...], ...]  #: per entry of data["hosts"]; empty for a host not assessed
    cluster_records: tuple[tuple[Record, ...], ...] = ()  #: per entry of data["clusters"]


def _redact_record(rec: Record) -> Record:
    if rec.type == "proc":
        argv = tuple(a.decode("utf-8", "surrogateescape") for a in rec.payload.split(b"\0"))
        payload = b"\0".join(a.encode("utf-8", "surrogateescape") for a in redact_argv(argv))
        return Record(rec.type, rec.args, payload)
    if rec.type == "env":
        lines = []
        for line in rec.payload.decode("utf-8", "surrogateescape").splitlines():
            key, eq, value = line.partition("=")
            lines.append(f"{key}{eq}{redact_value(key, value)}" if eq else line)
        return Record(rec.type, rec.args, "\n".join(lines).encode("utf-8", "surrogateescape"))
    if rec.type == "journal":      # k3s's log lines carry its components' arguments
        lines = rec.payload.decode("utf-8", "surrogateescape").split("\n")
        return Record(rec.type, rec.args, "\n".join(redact_text(line) for line in lines).encode("utf-8", "surrogateescape"))
    if rec.type == "kube":
        return Record(rec.type, rec.args, _redact_kube(rec.payload))
    if rec.type in ("read", "dirfile"):
        return Record(rec.type, rec.args, _SECRET_KEY.sub(lambda m: m.group(1) + REDACTED.encode(), rec.payload))
    return rec


_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _redact_kube(payload: bytes) -> bytes:
    """The query's JSON with env values of secret-looking names redacted and last-applied annotations
    (an object's whole manifest, values included) dropped; an answer that is not JSON stays as it is."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return payload
    for item in data.get("items") or () if isinstance(data, dict) else ():
        if not isinstance(item, dict):
            continue
        notes = (item.get("metadata") or {}).get("annotations")
        if isinstance(notes, dict):
            notes.pop(_LAST_APPLIED, None)
        spec = item.get("spec")
        if not isinstance(spec, dict):
            continue
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in spec.get(key) or ():
                for env in (c.get("env") or ()) if isinstance(c, dict) else ():
                    if isinstance(env, dict) and isinstance(env.get("value"), str):
                        env["value"] = redact_value(str(env.get("name", "")), env["value"])
    return json.dumps(data, separators=(",", ":")).encode()


def _records_json(records: tuple[Record, ...] | list[Record]) -> list[dict[str, Any]]:
    redacted = [_redact_record(r) for r in records]
    return [{"type": r.type, "args": list(r.args), "payload_b64": base64.b64encode(r.payload).decode(),
             "sha256": hashlib.sha256(r.payload).hexdigest()} for r in redacted]


def _covers(records: tuple[Record, ...], need: P.Plan, host: str, benchmark: str, where: str) -> None:
    """Refuse to judge from facts that were never collected (they would read as 'absent')."""
    missing = R.missing(records, need)
    if missing:
        raise BundleError(where, f"host {host}: the bundle lacks what {benchmark} needs ({', '.join(missing[:3])}); "
                                 "scan with --benchmark auto to collect for every benchmark")


def to_bundle(report: ScanReport) -> dict[str, Any]:
    hosts = []
    for h in report.hosts:
        entry: dict[str, Any] = {
            "name": h.host.name, "address": h.host.address, "roles": list(h.host.roles),
            "groups": list(h.host.groups), "paths": dict(h.host.paths),
            "status": h.error.status.value if h.error else "ok", "error": h.error.reason if h.error else None,
            "started": h.started.isoformat(), "seconds": h.seconds, "known_hosts": h.known_hosts,
        }
        if h.collected is not None:
            entry.update(collected_at=h.collected.collected_at.isoformat(), stdout_sha256=h.collected.stdout_sha256,
                         records=_records_json(h.collected.records))
        hosts.append(entry)
    clusters = [{"name": c.name, "hosts": list(c.hosts), "status": c.status, "source_host": c.source_host,
                 "tried": list(c.tried), "benchmark": c.benchmark,
                 "collected_at": c.collected_at.isoformat() if c.collected_at else None,
                 "records": _records_json(c.records)} for c in report.clusters]
    return {"kind": KIND, "schema": SCHEMA, "tool_version": report.tool_version,
            "created": report.finished.isoformat(), "catalog_digest": report.catalog_digest,
            "benchmark": report.benchmark, "options": dict(report.options), "hosts": hosts, "clusters": clusters}


# --------------------------------------------------------------------------- validation on load

_Check = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_date(v: Any) -> bool:
    try:
        return isinstance(v, str) and datetime.fromisoformat(v) is not None
    except ValueError:
        return False


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_sha256(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None


_TOP: dict[str, tuple[_Check, str]] = {
    "tool_version": (_is_str, "text"), "created": (_is_date, "an ISO 8601 date"),
    "catalog_digest": (_is_str, "text"), "benchmark": (_is_str, "a benchmark id"),
    "options": (lambda v: isinstance(v, dict) and all(_is_strs(v.get(k, [])) for k in ("targets", "check", "skip")),
                "an object (targets, check, skip: lists of text)"),
    "hosts": (lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v), "a list of objects"),
}
_HOST: dict[str, tuple[_Check, str]] = {
    "name": (_is_str, "text"), "address": (_is_str, "text"), "roles": (_is_strs, "a list of text"),
    "groups": (_is_strs, "a list of text"),
    "paths": (lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()), "an object of text"),
    "status": (lambda v: v in set(HostStatus), f"one of {', '.join(HostStatus)}"),
    "error": (lambda v: v is None or isinstance(v, str), "text or null"),
    "started": (_is_date, "an ISO 8601 date"), "seconds": (_is_number, "a number"),
    "known_hosts": (lambda v: v is None or isinstance(v, str), "text or null"),
}
_COLLECTED: dict[str, tuple[_Check, str]] = {
    "collected_at": (_is_date, "an ISO 8601 date"), "stdout_sha256": (_is_sha256, "a sha256 (64 hex digits)"),
    "records": (lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v), "a list of objects"),
}
_RECORD: dict[str, tuple[_Check, str]] = {
    "type": (_is_str, "text"), "args": (_is_strs, "a list of text"), "payload_b64": (_is_str, "base64 text"),
    "sha256": (_is_sha256, "a sha256 (64 hex digits)"),
}


def _fields(obj: dict[str, Any], spec: dict[str, tuple[_Check, str]], at: str, where: str) -> None:
    for key, (ok, expected) in spec.items():
        if key not in obj:
            raise BundleError(where, f"{at}{key}: missing (expected {expected})")
        if not ok(obj[key]):
            raise BundleError(where, f"{at}{key}: expected {expected}, found {json.dumps(obj[key])[:60]}")


_CLUSTER: dict[str, tuple[_Check, str]] = {
    "name": (_is_str, "text"), "hosts": (_is_strs, "a list of text"), "status": (_is_str, "text"),
    "source_host": (lambda v: v is None or isinstance(v, str), "text or null"), "tried": (_is_strs, "a list of text"),
    "benchmark": (_is_str, "a benchmark id"),
    "collected_at": (lambda v: v is None or _is_date(v), "an ISO 8601 date or null"),
    "records": (lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v), "a list of objects"),
}


def _decode(recs: list[dict[str, Any]], at: str, who: str, where: str) -> tuple[Record, ...]:
    records = []
    for j, rec in enumerate(recs):
        rat = f"{at}records[{j}]."
        _fields(rec, _RECORD, rat, where)
        try:
            payload = base64.b64decode(rec["payload_b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BundleError(where, f"{rat}payload_b64: expected base64 text") from None
        if hashlib.sha256(payload).hexdigest() != rec["sha256"]:
            raise BundleError(where, f"{who}: a '{rec['type']}' record does not match its sha256: the bundle was altered")
        records.append(Record(rec["type"], tuple(rec["args"]), payload))
    return tuple(records)


def _validate_clusters(data: dict[str, Any], where: str) -> tuple[tuple[Record, ...], ...]:
    clusters = data.get("clusters", [])
    if not isinstance(clusters, list) or not all(isinstance(c, dict) for c in clusters):
        raise BundleError(where, "clusters: expected a list of objects")
    out = []
    for i, c in enumerate(clusters):
        _fields(c, _CLUSTER, f"clusters[{i}].", where)
        out.append(_decode(c["records"], f"clusters[{i}].", f"cluster #{i + 1} ({c['name']})", where))
    return tuple(out)


def _validate(data: dict[str, Any], where: str) -> tuple[tuple[Record, ...], ...]:
    """Check every field a bundle must have; return each host's records, decoded and verified."""
    _fields(data, _TOP, "", where)
    decoded: list[tuple[Record, ...]] = []
    for i, h in enumerate(data["hosts"]):
        at = f"hosts[{i}]."
        _fields(h, _HOST, at, where)
        records: tuple[Record, ...] = ()
        if h["status"] == "ok":
            _fields(h, _COLLECTED, at, where)
            records = _decode(h["records"], at, f"host #{i + 1} ({h['name']})", where)
        decoded.append(records)
    return tuple(decoded)


def load_bundle(path: str | Path) -> Bundle:
    """Read and check a bundle.

    Raises:
        BundleError: unreadable, not a bundle, schema 1, or a field that is missing or malformed.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BundleError(str(path), f"cannot read file ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        raise BundleError(f"{path}:{line}", f"not a JSON evidence bundle ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise BundleError(f"{path}:1", f"not a fleetbench evidence bundle (expected \"kind\": \"{KIND}\")")
    if data.get("schema") == 1:
        raise BundleError(f"{path}:1", "bundle schema 1 (records framed by position, with the plan) is no longer "
                                       "read; re-collect with fleetbench scan --bundle")
    if data.get("schema") != SCHEMA:
        raise BundleError(f"{path}:1", f"bundle schema {data.get('schema')!r} is not supported (expected {SCHEMA})")
    return Bundle(str(path), data, _validate(data, str(path)), _validate_clusters(data, str(path)))


def evaluate_bundle(bundle: Bundle, catalog: Catalog, options: ScanOptions) -> ScanReport:
    """Re-evaluate a bundle's hosts: no host is contacted.

    The report's options are the scan's own (host-key checking, --local, inventory, --limit, who ran
    it), with the selection this evaluation applied and where the verdicts were evaluated from.
    """
    data, where = bundle.data, bundle.path
    scans = []
    for h, records in zip(data["hosts"], bundle.records, strict=True):
        host = Host(name=h["name"], address=h["address"], roles=tuple(h["roles"]), groups=tuple(h["groups"]),
                    ssh=SSHSettings(), paths=h["paths"], origin=where)
        started = datetime.fromisoformat(h["started"])
        known_hosts = h["known_hosts"]             # what the scan checked this host's key against
        if h["status"] != "ok":
            scans.append(HostScan(host, options.benchmark, started, h["seconds"], known_hosts=known_hosts,
                                  error=HostError(HostStatus(h["status"]), h["error"] or "")))
            continue
        _covers(records, plan_for(host, catalog, options), h["name"], options.benchmark, where)
        facts = F.build(records, catalog.components.values())
        try:
            detection, findings = assess(host, facts, catalog, options)
        except HostFailure as exc:            # e.g. no Kubernetes component for its roles
            scans.append(HostScan(host, options.benchmark, started, h["seconds"], known_hosts=known_hosts,
                                  error=exc.error))
            continue
        scans.append(HostScan(host, detection.benchmark if detection else options.benchmark, started, h["seconds"],
                              findings=findings, facts=facts, detection=detection, known_hosts=known_hosts))
    created = datetime.fromisoformat(data["created"])
    sel = options.selection
    clusters = []
    for c, records in zip(data.get("clusters", []), bundle.cluster_records, strict=True):
        bench = c["benchmark"] if options.benchmark == AUTO else options.benchmark
        at = datetime.fromisoformat(c["collected_at"]) if c["collected_at"] else None
        query = F.build(records, ()).kube if records else None
        if bench not in catalog.benchmarks:
            raise BundleError(where, f"cluster {c['name']}: benchmark {bench!r} is not in the catalog")
        why = "" if c["status"] == "ok" else c["status"].removeprefix("not assessed: ")
        clusters.append(assess_cluster(c["name"], tuple(c["hosts"]), tuple(c["tried"]), c["source_host"], query,
                                       records, bench, catalog, options, why, at))
    return ScanReport(tool_version=__version__, benchmark=options.benchmark, catalog_digest=catalog.digest,
                      started=min((s.started for s in scans), default=created), finished=created, hosts=tuple(scans),
                      clusters=tuple(clusters),
                      options={**data["options"], "targets": list(sel.targets), "check": list(sel.checks),
                               "skip": list(sel.skips), "evaluated_from": where,
                               "collected_with_catalog": data["catalog_digest"]})
