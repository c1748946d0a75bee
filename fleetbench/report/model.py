"""ScanReport → the documented JSON model (see README, "JSON report"). Secrets are redacted here."""

from __future__ import annotations

from typing import Any, Mapping

from ..models import Finding, HostFacts, HostScan, ScanReport
from ..redact import redact_argv, redact_text, redact_value

SCHEMA_VERSION = 1


def _finding(f: Finding) -> dict[str, Any]:
    c = f.control
    return {
        "id": c.id, "check": c.check.id, "title": c.title, "section": c.section, "target": c.target,
        "status": f.status.value, "scored": c.scored, "automated": c.automated,
        "expected": f.expected, "actual": redact_text(f.actual), "source": redact_text(f.source),
        "reason": redact_text(f.reason), "remediation": f.remediation,
    }


def _evidence(facts: HostFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    return {
        "hostname": facts.hostname,
        "uid": facts.uid,
        "processes": {name: {"pid": p.pid, "argv": list(redact_argv(p.argv)),
                             "source": p.origin or f"/proc/{p.pid}/cmdline",
                             "env": {k: redact_value(k, v) for k, v in p.env.items()}}
                      for name, p in facts.processes.items()},
        "paths": {name: {"path": rp.path, "source": rp.source} for name, rp in facts.paths.items()},
    }


def _host(h: HostScan) -> dict[str, Any]:
    return {
        "name": h.host.name, "address": h.host.address, "roles": list(h.host.roles),
        "status": h.error.status.value if h.error else "ok",
        "error": redact_text(h.error.reason) if h.error else None,
        "benchmark": h.benchmark, "started": h.started.isoformat(), "seconds": h.seconds,
        "known_hosts": h.known_hosts,
        "results": [_finding(f) for f in h.findings],
        "summary": h.summary(),
        "evidence": _evidence(h.facts),
        "detected": None if h.detection is None else {
            "distribution": h.detection.distribution, "kubernetes_version": h.detection.version,
            "version_source": h.detection.version_source, "benchmark": h.detection.benchmark,
            "reason": h.detection.reason},
    }


def to_dict(report: ScanReport, sections: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The report as plain data. ``sections`` (the benchmark's "4.2" → title mapping), when given,
    is added as ``"sections"`` so the HTML report can title its sections without the catalog."""
    hosts = [_host(h) for h in report.hosts]
    data: dict[str, Any] = {
        "tool": "fleetbench", "version": report.tool_version, "schema": SCHEMA_VERSION,
        "started": report.started.isoformat(), "finished": report.finished.isoformat(),
        "benchmark": report.benchmark, "catalog_digest": report.catalog_digest,
        "options": dict(report.options),
        "hosts": hosts,
        "summary": {**report.summary(),
                    "hosts": len(hosts), "hosts_assessed": sum(1 for h in hosts if h["status"] == "ok"),
                    "hosts_not_assessed": sum(1 for h in hosts if h["status"] != "ok")},
    }
    if sections is not None:
        data["sections"] = dict(sections)
    return _printable(data)


def _printable(value: Any) -> Any:
    """Node bytes that are not UTF-8 (kept exact in facts with surrogateescape) become visible
    ``\\xe9`` escapes here, so every report and the console can encode them."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value
