"""Evidence bundles: collect once, evaluate many times, offline.

``fleetbench scan --bundle FILE`` saves, per host, every record the probe returned (secrets
redacted), the sha256 of the raw output as received and of each stored record, when it was
collected, and the plan the script was rendered from. ``fleetbench evaluate FILE`` rebuilds
the facts from those records and evaluates them again without touching any host, giving the
same verdicts as the scan (or, with ``--benchmark``, another version's verdicts: a scan with
``--benchmark auto`` collects what every benchmark in the catalog needs).

Format (JSON, ``"kind": "fleetbench-evidence"``)::

    {"kind", "schema": 1, "tool_version", "created", "catalog_digest", "benchmark", "selection",
     "hosts": [{"name", "address", "roles", "groups", "paths", "status", "error",
                "started", "seconds", "collected_at", "stdout_sha256",
                "plan": {"path_vars", "overrides", "stats", "trees", "reads", "dirs", "env_components"},
                "records": [{"type", "args", "payload_b64", "sha256"}]}]}

Redaction changes argv values of secret flags (also in k3s's journal lines), ETCD_* values with
secret names and secret-looking keys in files (``secret:``, ``token:``, ``password:``); no check
reads those values, so the verdicts do not change.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__
from . import facts as F
from . import plan as P
from .errors import HostError, HostStatus, InputError
from .models import Catalog, Host, HostScan, ScanReport, SSHSettings
from .redact import REDACTED, redact_argv, redact_text, redact_value
from .runner import ScanOptions, assess, plan_for
from .script import Record

KIND = "fleetbench-evidence"
SCHEMA = 1
_SECRET_KEY = re.compile(rb"(?im)^(\s*-?\s*(?:secret|token|password|passwd|client-key-data|api-?key)\s*:\s*)(\S.*)$")


class BundleError(InputError):
    """An evidence bundle that cannot be read."""


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
    if rec.type in ("read", "dirfile"):
        return Record(rec.type, rec.args, _SECRET_KEY.sub(lambda m: m.group(1) + REDACTED.encode(), rec.payload))
    return rec


def _plan_dict(plan: P.Plan) -> dict[str, Any]:
    return {"path_vars": [v.name for v in plan.path_vars], "overrides": dict(plan.overrides),
            "stats": list(plan.stats), "trees": list(plan.trees), "reads": list(plan.reads),
            "dirs": list(plan.dirs), "env_components": list(plan.env_components)}


def _plan_from(d: dict[str, Any], catalog: Catalog, where: str) -> P.Plan:
    path_vars = []
    for name in d["path_vars"]:
        var = catalog.path_var(name)
        if var is None:
            raise BundleError(where, f"path variable '{name}' is not in this catalog (was the bundle made with another one?)")
        path_vars.append(var)
    return P.Plan(components=tuple(catalog.components.values()), path_vars=tuple(path_vars),
                  overrides=dict(d["overrides"]), stats=tuple(d["stats"]), trees=tuple(d["trees"]),
                  reads=tuple(d["reads"]), dirs=tuple(d["dirs"]), env_components=tuple(d["env_components"]))


def _covers(have: P.Plan, need: P.Plan, host: str, benchmark: str, where: str) -> None:
    """Refuse to judge from facts that were never collected (they would read as 'absent')."""
    missing = [e for field in ("stats", "trees", "reads", "dirs")
               for e in getattr(need, field) if e not in getattr(have, field)]
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
            "started": h.started.isoformat(), "seconds": h.seconds,
        }
        if h.collected is not None:
            records = [_redact_record(r) for r in h.collected.records]
            entry.update(
                collected_at=h.collected.collected_at.isoformat(), stdout_sha256=h.collected.stdout_sha256,
                plan=_plan_dict(h.collected.plan),
                records=[{"type": r.type, "args": list(r.args), "payload_b64": base64.b64encode(r.payload).decode(),
                          "sha256": hashlib.sha256(r.payload).hexdigest()} for r in records])
        hosts.append(entry)
    return {"kind": KIND, "schema": SCHEMA, "tool_version": report.tool_version,
            "created": report.finished.isoformat(), "catalog_digest": report.catalog_digest,
            "benchmark": report.benchmark, "selection": {k: report.options.get(k, []) for k in ("targets", "check", "skip")},
            "hosts": hosts}


def load_bundle(path: str | Path) -> dict[str, Any]:
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
    if data.get("schema") != SCHEMA:
        raise BundleError(f"{path}:1", f"bundle schema {data.get('schema')!r} is not supported (expected {SCHEMA})")
    for i, h in enumerate(data.get("hosts") or []):
        for rec in h.get("records", []):
            payload = base64.b64decode(rec["payload_b64"])
            if hashlib.sha256(payload).hexdigest() != rec["sha256"]:
                raise BundleError(str(path), f"host #{i + 1} ({h.get('name')}): a '{rec['type']}' record does not "
                                             "match its sha256: the bundle was altered")
    return data


def evaluate_bundle(data: dict[str, Any], catalog: Catalog, options: ScanOptions, where: str) -> ScanReport:
    """Re-evaluate a bundle's hosts: no host is contacted."""
    scans = []
    for h in data["hosts"]:
        host = Host(name=h["name"], address=h["address"], roles=tuple(h["roles"]), groups=tuple(h["groups"]),
                    ssh=SSHSettings(), paths=h["paths"], origin=where)
        started = datetime.fromisoformat(h["started"])
        if h["status"] != "ok":
            scans.append(HostScan(host, options.benchmark, started, h["seconds"],
                                  error=HostError(HostStatus(h["status"]), h["error"])))
            continue
        plan = _plan_from(h["plan"], catalog, where)
        _covers(plan, plan_for(host, catalog, options), h["name"], options.benchmark, where)
        records = [Record(r["type"], tuple(r["args"]), base64.b64decode(r["payload_b64"])) for r in h["records"]]
        facts = F.build(records, plan)
        detection, findings = assess(host, facts, catalog, options)
        scans.append(HostScan(host, detection.benchmark if detection else options.benchmark, started, h["seconds"],
                              findings=findings, facts=facts, detection=detection))
    created = datetime.fromisoformat(data["created"])
    return ScanReport(tool_version=__version__, benchmark=options.benchmark, catalog_digest=catalog.digest,
                      started=min((s.started for s in scans), default=created), finished=created, hosts=tuple(scans),
                      options={**data["selection"], "host_key_checking": True, "local": False,
                               "evaluated_from": where, "collected_with_catalog": data["catalog_digest"]})
