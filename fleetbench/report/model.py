"""The report model: ScanReport → frozen, typed values that every report format reads.

Why typed: the console, JSON, CSV, XLSX, JUnit and HTML renderers used to index ``dict[str, Any]``,
so a renamed key was a silent blank cell in one format. Now they read attributes of the frozen
dataclasses below, which ``mypy --strict`` checks, and only :func:`to_dict` knows the JSON shape.

The JSON (README, "JSON report", schema 2: section 5 moved from each host's results to the
top-level ``clusters`` list) is the contract: :func:`build` produces exactly what
the documented JSON holds (secrets redacted, node bytes that are not UTF-8 shown as ``\\xe9``), and
:func:`from_dict` reads a written report.json back into the same model, so a stored report can be
rendered again by the same code (``to_dict(from_dict(d)) == d``). Built once per run; nothing in
the report layer loads the catalog: section titles travel in :attr:`Report.sections`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from ..history import diff as D
from ..models import ClusterFinding, ClusterScan, Finding, HostFacts, HostScan, ScanReport, Waiver
from ..redact import redact_argv, redact_text, redact_value
from ..waivers import Outcome

SCHEMA_VERSION = 2
STATUSES: tuple[str, ...] = ("PASS", "FAIL", "WARN", "INFO")


@dataclass(frozen=True, slots=True)
class WaiverNote:
    """A waiver as reports show it (JSON ``"waiver"`` of a result, and the lists of ``"waivers"``)."""

    reason: str
    owner: str
    ticket: str
    expires: str                          #: ISO date, the last day it applies
    origin: str                           #: "waivers.yaml:12"

    def describe(self) -> str:
        """``reason, owner, ticket, until 2027-01-31``: the console and report wording."""
        return f"{self.reason}, {self.owner}, {self.ticket}, until {self.expires}"


@dataclass(frozen=True, slots=True)
class WaiverLists:
    """The waiver file's state at this run: what no longer applies, what matched nothing, what ends soon."""

    expired: tuple[WaiverNote, ...] = ()
    unused: tuple[WaiverNote, ...] = ()
    expiring: tuple[WaiverNote, ...] = ()


@dataclass(frozen=True, slots=True)
class Result:
    """One control's verdict on one host, with its (redacted) evidence."""

    id: str
    check: str
    title: str
    section: str
    target: str
    status: str                           #: PASS | FAIL | WARN | INFO
    scored: bool
    automated: bool
    expected: str
    actual: str
    source: str
    reason: str
    remediation: str
    waiver: WaiverNote | None = None      #: set: an accepted exception; the status stays, the exit code ignores it

    @property
    def counts_as_fail(self) -> bool:
        """A FAIL that nobody accepted: what fails the run (exit 3)."""
        return self.status == "FAIL" and self.waiver is None


@dataclass(frozen=True, slots=True)
class ClusterResult:
    """One section-5 control's verdict on one cluster, naming the objects that break it."""

    id: str
    check: str
    title: str
    status: str
    scored: bool
    automated: bool
    actual: str
    offending: tuple[str, ...]            #: "Kind/namespace/name" ("Kind/name" when cluster-scoped), first 20
    offending_count: int
    reason: str
    remediation: str
    waiver: WaiverNote | None = None      #: set: an accepted exception (``--waivers``); the status stays

    @property
    def section(self) -> str:
        return self.id.rsplit(".", 1)[0]

    @property
    def counts_as_fail(self) -> bool:
        """A FAIL that nobody accepted: what fails the run (exit 3)."""
        return self.status == "FAIL" and self.waiver is None


@dataclass(frozen=True, slots=True)
class ClusterReport:
    """Section 5 of one cluster: "ok" with its results, or "not assessed: <reason>"."""

    name: str
    status: str
    source_host: str | None
    hosts: tuple[str, ...]
    results: tuple[ClusterResult, ...]

    @property
    def assessed(self) -> bool:
        return self.status == "ok"

    @property
    def summary(self) -> dict[str, int]:
        return {s: sum(1 for r in self.results if r.status == s) for s in STATUSES}


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    argv: tuple[str, ...]                 #: secret flag values redacted
    source: str                           #: where argv was read: /proc/<pid>/cmdline or a journal line
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PathSeen:
    path: str | None
    source: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """The processes and paths found on a host, for the auditor's drill-down."""

    hostname: str
    uid: int | None
    processes: Mapping[str, Process]
    paths: Mapping[str, PathSeen]


@dataclass(frozen=True, slots=True)
class Detected:
    distribution: str
    kubernetes_version: str | None
    version_source: str
    benchmark: str
    reason: str


@dataclass(frozen=True, slots=True)
class HostReport:
    """One host of the report: its verdicts, or why it was not assessed."""

    name: str
    address: str
    roles: tuple[str, ...]
    status: str                           #: "ok", or the HostStatus of a host that was not assessed
    error: str | None
    benchmark: str
    started: str                          #: ISO 8601
    seconds: float
    results: tuple[Result, ...]
    summary: Mapping[str, int]            #: status → count
    evidence: Evidence | None
    detected: Detected | None
    known_hosts: str | None = None        #: the known_hosts file its host key was checked against
    accepted_host_key: str | None = None  #: the key recorded on first contact (--accept-new-host-keys)

    @property
    def assessed(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class Summary:
    PASS: int
    FAIL: int
    WARN: int
    INFO: int
    hosts: int
    hosts_assessed: int
    hosts_not_assessed: int
    waived: int = 0                       #: results marked waived (any status)
    FAIL_waived: int = 0                  #: FAIL results marked waived: FAIL - FAIL_waived fail the run
    score: float | None = None            #: percent PASS / (PASS + FAIL), scored automated results of assessed hosts
    score_waived: float | None = None     #: the same with waived FAILs left out; None: nothing scored

    def count(self, status: str) -> int:
        return int(getattr(self, status))


@dataclass(frozen=True, slots=True)
class Scope:
    """What the scan was asked to cover (from the options): every report states it (coverage)."""

    inventory: str | None
    limit: tuple[str, ...]
    targets: tuple[str, ...]
    check: tuple[str, ...]
    skip: tuple[str, ...]
    local: bool

    @property
    def limited(self) -> bool:
        """True when the scan covered less than every control of every inventory host."""
        return bool(self.limit or self.targets or self.check or self.skip)

    def describe(self) -> str:
        """What limited the scan, in words: "--limit worker-*; --check 4.2" ('' when nothing)."""
        parts = [f"{flag} {','.join(values)}" for flag, values in
                 (("--limit", self.limit), ("--targets", self.targets), ("--check", self.check),
                  ("--skip", self.skip)) if values]
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One run of the fleet-score trend: PASS / (PASS + FAIL) over scored, automated results."""

    run: str
    started: str
    passed: int
    failed: int

    @property
    def score(self) -> float | None:
        return self.passed / (self.passed + self.failed) if self.passed + self.failed else None


@dataclass(frozen=True, slots=True)
class History:
    """What the history database says about this run (JSON ``"history"``; README, "History database").

    Filled by the scan when a database is in use, and by ``fleetbench report RUN``; None otherwise.
    """

    previous: D.RunRef | None             #: the previous run of the same inventory, if any
    since_previous: D.Diff | None         #: this run against ``previous`` (None without one)
    trend: tuple[TrendPoint, ...]         #: up to 30 runs of the same inventory, oldest first, this one last


@dataclass(frozen=True, slots=True)
class Report:
    """A whole scan (or re-evaluation), as every report format shows it."""

    tool: str
    version: str
    schema: int
    run_id: str
    started: str                          #: ISO 8601
    finished: str
    benchmark: str
    catalog_digest: str
    options: Mapping[str, Any]            #: as recorded by the runner (JSON "options")
    hosts: tuple[HostReport, ...]
    summary: Summary
    sections: Mapping[str, str] | None = None   #: "4.2" → title, for every benchmark of the catalog
    waivers: WaiverLists | None = None    #: None: the run had no --waivers file
    history: History | None = None        #: previous run, drift and score trend (history database in use)
    clusters: tuple[ClusterReport, ...] = ()    #: section 5, once per cluster
    run_group: Mapping[str, Any] | None = None  #: JSON "run_group": this run's shard of a group, or a whole group

    @property
    def group_text(self) -> str | None:
        """``shard 1/2 of run group nightly`` or ``run group nightly of 2 shards: shard 2/2 did not report``."""
        g = self.run_group
        if g is None:
            return None
        n = g["shards"]
        if "shard" in g:
            return f"shard {g['shard']}/{n}" + (f" of run group {g['name']}" if g.get("name") else "")
        missing = g.get("missing") or []
        return (f"run group {g['name']} of {n} shard{'s' if n != 1 else ''}: "
                + ("every shard reported" if not missing else
                   ", ".join(f"shard {i}/{n}" for i in missing) + " did not report"))

    @property
    def scope(self) -> Scope:
        o = self.options

        def names(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in o.get(key) or ())

        inventory = o.get("inventory")
        return Scope(inventory=None if inventory is None else str(inventory), limit=names("limit"),
                     targets=names("targets"), check=names("check"), skip=names("skip"),
                     local=bool(o.get("local", False)))

    @property
    def host_key_checking(self) -> bool:
        return bool(self.options.get("host_key_checking", True))

    def section_title(self, section: str) -> str:
        return (self.sections or {}).get(section, "")


# --------------------------------------------------------------------------- ScanReport → model

def _waiver(w: Waiver | None) -> dict[str, Any] | None:
    if w is None:
        return None
    return {"reason": w.reason, "owner": w.owner, "ticket": w.ticket, "expires": w.expires.isoformat(), "origin": w.origin}


def _finding(f: Finding) -> dict[str, Any]:
    c = f.control
    return {
        "id": c.id, "check": c.check.id, "title": c.title, "section": c.section, "target": c.target,
        "status": f.status.value, "scored": c.scored, "automated": c.automated,
        "expected": f.expected, "actual": _redacted(f.actual), "source": _redacted(f.source),
        "reason": _redacted(f.reason), "remediation": f.remediation, "waiver": _waiver(f.waiver),
    }


#: :func:`redact_text` of a finding's texts, once per distinct text: a fleet's hosts mostly share them
#: (evaluate interns them), so 1,000 hosts cost one redaction and hold one copy of each
_redacted = lru_cache(maxsize=1 << 14)(redact_text)


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
        "known_hosts": h.known_hosts, "accepted_host_key": h.accepted_host_key,
        "results": [_finding(f) for f in h.findings],
        "summary": h.summary(),
        "evidence": _evidence(h.facts),
        "detected": None if h.detection is None else {
            "distribution": h.detection.distribution, "kubernetes_version": h.detection.version,
            "version_source": h.detection.version_source, "benchmark": h.detection.benchmark,
            "reason": h.detection.reason},
    }


def _cluster_finding(f: ClusterFinding) -> dict[str, Any]:
    c = f.control
    return {"id": c.id, "check": c.check.id, "title": c.title, "status": f.status.value, "scored": c.scored,
            "automated": c.automated, "actual": redact_text(f.actual), "offending": list(f.offending),
            "offending_count": f.offending_count, "reason": redact_text(f.reason), "remediation": f.remediation,
            "waiver": _waiver(f.waiver)}


def _cluster(c: ClusterScan) -> dict[str, Any]:
    return {"name": c.name, "status": redact_text(c.status), "source_host": c.source_host, "hosts": list(c.hosts),
            "results": [_cluster_finding(f) for f in c.findings]}


def _raw(report: ScanReport, sections: Mapping[str, str] | None, waivers: Outcome | None,
         hosts: tuple[HostReport, ...]) -> dict[str, Any]:
    """The JSON of the report but its hosts (``"hosts": []``), which :func:`build` makes one by one."""
    data: dict[str, Any] = {
        "tool": "fleetbench", "version": report.tool_version, "schema": SCHEMA_VERSION, "run_id": report.run_id,
        "started": report.started.isoformat(), "finished": report.finished.isoformat(),
        "benchmark": report.benchmark, "catalog_digest": report.catalog_digest,
        "options": dict(report.options),
        "hosts": [],
        "clusters": [_cluster(c) for c in report.clusters],
        "summary": {**report.summary(),
                    "hosts": len(hosts), "hosts_assessed": sum(1 for h in hosts if h.assessed),
                    "hosts_not_assessed": sum(1 for h in hosts if not h.assessed),
                    **_scores((h.assessed, r.status, r.scored, r.automated, r.waiver is not None)
                              for h in hosts for r in h.results)},
        "waivers": None if waivers is None else {
            "expired": [_waiver(w) for w in waivers.expired], "unused": [_waiver(w) for w in waivers.unused],
            "expiring": [_waiver(w) for w in waivers.expiring]},
    }
    if sections is not None:
        data["sections"] = dict(sections)
    return _printable(data)  # type: ignore[no-any-return]


def build(report: ScanReport, sections: Mapping[str, str] | None = None, waivers: Outcome | None = None) -> Report:
    """The model of ``report``: redacted and printable. ``sections`` ("4.2" → title) titles the
    sections in the console and HTML, and is written to the JSON as ``"sections"``; ``waivers`` (the
    outcome of :func:`fleetbench.waivers.apply`, whose hosts ``report`` holds) gives ``"waivers"``.

    Each host goes through its JSON form (:func:`_host`, then :func:`_host_from`) on its own, so
    the model is what the JSON says and only one host's dictionaries exist at a time (at 1,000 hosts
    the whole tree was the largest block of the run's peak memory)."""
    hosts = tuple(_host_from(_printable(_host(h))) for h in report.hosts)
    return replace(from_dict(_raw(report, sections, waivers, hosts)), hosts=hosts)


def _printable(value: Any) -> Any:
    """Node bytes that are not UTF-8 (kept exact in facts with surrogateescape) become visible
    ``\\xe9`` escapes here, so every report and the console can encode them. Runs over every value
    of the report: plain ASCII text (nearly all of it) and scalars return at once."""
    kind = type(value)
    if kind is str and value.isascii():   # no surrogate can hide in ASCII: already printable
        return value
    if kind is int or kind is bool or value is None:
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


# --------------------------------------------------------------------------- JSON ↔ model

def _waiver_from(w: Mapping[str, Any] | None) -> WaiverNote | None:
    if w is None:
        return None
    return WaiverNote(reason=w["reason"], owner=w["owner"], ticket=w["ticket"], expires=w["expires"], origin=w["origin"])


def _waivers_from(w: Mapping[str, Any] | None) -> WaiverLists | None:
    if w is None:
        return None
    return WaiverLists(**{k: tuple(n for n in (_waiver_from(x) for x in w.get(k) or ()) if n is not None)
                          for k in ("expired", "unused", "expiring")})


def _result_from(r: Mapping[str, Any]) -> Result:
    return Result(id=r["id"], check=r["check"], title=r["title"], section=r["section"], target=r["target"],
                  status=r["status"], scored=bool(r["scored"]), automated=bool(r["automated"]),
                  expected=r["expected"], actual=r["actual"], source=r["source"], reason=r.get("reason") or "",
                  remediation=r["remediation"], waiver=_waiver_from(r.get("waiver")))


def _evidence_from(e: Mapping[str, Any] | None) -> Evidence | None:
    if e is None:
        return None
    return Evidence(
        hostname=e["hostname"], uid=e.get("uid"),
        processes={name: Process(pid=p["pid"], argv=tuple(p["argv"]), source=p.get("source", f"/proc/{p['pid']}/cmdline"),
                                 env=dict(p.get("env") or {}))
                   for name, p in (e.get("processes") or {}).items()},
        paths={name: PathSeen(path=p["path"], source=p["source"]) for name, p in (e.get("paths") or {}).items()})


def _host_from(h: Mapping[str, Any]) -> HostReport:
    d = h.get("detected")
    return HostReport(
        name=h["name"], address=h["address"], roles=tuple(h["roles"]), status=h["status"], error=h.get("error"),
        benchmark=h["benchmark"], started=h["started"], seconds=float(h["seconds"]),
        results=tuple(_result_from(r) for r in h["results"]), summary=dict(h["summary"]),
        evidence=_evidence_from(h.get("evidence")),
        detected=None if d is None else Detected(distribution=d["distribution"],
                                                 kubernetes_version=d["kubernetes_version"],
                                                 version_source=d["version_source"], benchmark=d["benchmark"],
                                                 reason=d["reason"]),
        known_hosts=h.get("known_hosts"), accepted_host_key=h.get("accepted_host_key"))


def _history_from(h: Mapping[str, Any] | None) -> History | None:
    if h is None:
        return None
    prev = h.get("previous")
    since = h.get("since_previous")
    return History(previous=None if prev is None else D.RunRef(prev["run"], prev["started"]),
                   since_previous=None if since is None else D.from_json(since),
                   trend=tuple(TrendPoint(run=p["run"], started=p["started"], passed=int(p["passed"]),
                                          failed=int(p["failed"])) for p in h.get("trend") or ()))


def _history_dict(h: History) -> dict[str, Any]:
    return {"previous": None if h.previous is None else {"run": h.previous.run, "started": h.previous.started},
            "since_previous": None if h.since_previous is None else D.to_json(h.since_previous),
            "trend": [{"run": p.run, "started": p.started, "passed": p.passed, "failed": p.failed, "score": percent(p.score)}
                      for p in h.trend]}


def _cluster_from(c: Mapping[str, Any]) -> ClusterReport:
    return ClusterReport(name=c["name"], status=c["status"], source_host=c.get("source_host"), hosts=tuple(c["hosts"]),
                         results=tuple(ClusterResult(
                             id=r["id"], check=r["check"], title=r["title"], status=r["status"],
                             scored=bool(r["scored"]), automated=bool(r["automated"]), actual=r["actual"],
                             offending=tuple(r["offending"]), offending_count=int(r["offending_count"]),
                             reason=r.get("reason") or "", remediation=r["remediation"],
                             waiver=_waiver_from(r.get("waiver"))) for r in c["results"]))


def from_dict(data: Mapping[str, Any]) -> Report:
    """A report.json (schema 1 or 2) as the model; fields added since (run_id, known_hosts, clusters, waivers
    and the summary's waived/score keys) may be absent."""
    s = data["summary"]
    score, score_waived = s.get("score"), s.get("score_waived")
    return Report(tool=data["tool"], version=data["version"], schema=int(data["schema"]),
                  run_id=data.get("run_id", ""), started=data["started"], finished=data["finished"],
                  benchmark=data["benchmark"], catalog_digest=data["catalog_digest"],
                  options=dict(data.get("options") or {}), hosts=tuple(_host_from(h) for h in data["hosts"]),
                  summary=Summary(**{k: int(s[k]) for k in (*STATUSES, "hosts", "hosts_assessed",
                                                            "hosts_not_assessed")},
                                  waived=int(s.get("waived", 0)), FAIL_waived=int(s.get("FAIL_waived", 0)),
                                  score=None if score is None else float(score),
                                  score_waived=None if score_waived is None else float(score_waived)),
                  sections=None if data.get("sections") is None else dict(data["sections"]),
                  waivers=_waivers_from(data.get("waivers")),
                  history=_history_from(data.get("history")),
                  clusters=tuple(_cluster_from(c) for c in data.get("clusters") or ()),
                  run_group=data.get("run_group") or shard_of_options(data.get("options") or {}))


def shard_of_options(options: Mapping[str, Any]) -> dict[str, Any] | None:
    """A shard's own report: its ``run_group`` from the options its scan recorded (``shard``: "I/N",
    ``run_group``: the group's name or None)."""
    shard = options.get("shard")
    if not isinstance(shard, str) or "/" not in shard:
        return None
    index, count = shard.split("/", 1)
    return {"name": options.get("run_group"), "shards": int(count), "shard": int(index)}


def _result_dict(r: Result) -> dict[str, Any]:
    return {"id": r.id, "check": r.check, "title": r.title, "section": r.section, "target": r.target,
            "status": r.status, "scored": r.scored, "automated": r.automated, "expected": r.expected,
            "actual": r.actual, "source": r.source, "reason": r.reason, "remediation": r.remediation,
            "waiver": _waiver_dict(r.waiver)}


def percent(ratio: float | None) -> float | None:
    """A score as every report and JSON shows it: percent, two decimals (None: nothing scored)."""
    return None if ratio is None else round(100 * ratio, 2)


def clusters_dict(clusters: tuple[ClusterReport, ...]) -> list[dict[str, Any]]:
    """The JSON ``"clusters"`` of a report (section 5, once per cluster)."""
    return [{"name": c.name, "status": c.status, "source_host": c.source_host, "hosts": list(c.hosts),
             "results": [{"id": r.id, "check": r.check, "title": r.title, "status": r.status,
                          "scored": r.scored, "automated": r.automated, "actual": r.actual,
                          "offending": list(r.offending), "offending_count": r.offending_count,
                          "reason": r.reason, "remediation": r.remediation, "waiver": _waiver_dict(r.waiver)}
                         for r in c.results]}
            for c in clusters]


def waiver_lists_dict(lists: WaiverLists | None) -> dict[str, Any] | None:
    """The JSON ``"waivers"`` of a report (None: the run had no --waivers file)."""
    if lists is None:
        return None
    return {k: [_waiver_dict(w) for w in getattr(lists, k)] for k in ("expired", "unused", "expiring")}


def fleet_scores(hosts: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary's waiver counts and scores, from hosts in their JSON form."""
    return _scores((h["status"] == "ok", r["status"], r["scored"], r["automated"], bool(r["waiver"]))
                   for h in hosts for r in h["results"])


def _scores(results: Iterable[tuple[bool, str, bool, bool, bool]]) -> dict[str, Any]:
    """The summary's ``waived``, ``FAIL_waived``, ``score`` and ``score_waived`` from each result's
    (host assessed, status, scored, automated, waived). The fleet score, in percent (see
    report.matrix), is PASS / (PASS + FAIL) over the scored, automated results of assessed hosts;
    ``score_waived`` leaves FAILs under a waiver out of the count."""
    waived = fail_waived = passed = failed = failed_unwaived = 0
    for assessed, status, scored, automated, has_waiver in results:
        if has_waiver:
            waived += 1
            fail_waived += status == "FAIL"
        if assessed and scored and automated:
            passed += status == "PASS"
            failed += status == "FAIL"
            failed_unwaived += status == "FAIL" and not has_waiver
    return {"waived": waived, "FAIL_waived": fail_waived, "score": _percent_of(passed, failed),
            "score_waived": _percent_of(passed, failed_unwaived)}


def _percent_of(passed: int, failed: int) -> float | None:
    return round(100 * passed / (passed + failed), 2) if passed + failed else None


def _waiver_dict(w: WaiverNote | None) -> dict[str, Any] | None:
    return None if w is None else {"reason": w.reason, "owner": w.owner, "ticket": w.ticket, "expires": w.expires,
                                   "origin": w.origin}


def _evidence_dict(e: Evidence | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"hostname": e.hostname, "uid": e.uid,
            "processes": {name: {"pid": p.pid, "argv": list(p.argv), "source": p.source, "env": dict(p.env)}
                          for name, p in e.processes.items()},
            "paths": {name: {"path": p.path, "source": p.source} for name, p in e.paths.items()}}


def host_dict(h: HostReport) -> dict[str, Any]:
    d = h.detected
    return {"name": h.name, "address": h.address, "roles": list(h.roles), "status": h.status, "error": h.error,
            "benchmark": h.benchmark, "started": h.started, "seconds": h.seconds,
            "results": [_result_dict(r) for r in h.results], "summary": dict(h.summary),
            "evidence": _evidence_dict(h.evidence),
            "detected": None if d is None else {
                "distribution": d.distribution, "kubernetes_version": d.kubernetes_version,
                "version_source": d.version_source, "benchmark": d.benchmark, "reason": d.reason},
            "known_hosts": h.known_hosts, "accepted_host_key": h.accepted_host_key}


def to_dict(report: Report, hosts: bool = True) -> dict[str, Any]:
    """The documented JSON (README, "JSON report") of the model; ``hosts=False`` leaves the
    ``"hosts"`` list empty, for a writer that streams it host by host."""
    s = report.summary
    data: dict[str, Any] = {
        "tool": report.tool, "version": report.version, "schema": report.schema, "run_id": report.run_id,
        "started": report.started, "finished": report.finished, "benchmark": report.benchmark,
        "catalog_digest": report.catalog_digest, "options": dict(report.options),
        "hosts": [host_dict(h) for h in report.hosts] if hosts else [],
        "clusters": clusters_dict(report.clusters),
        "summary": {"PASS": s.PASS, "FAIL": s.FAIL, "WARN": s.WARN, "INFO": s.INFO, "hosts": s.hosts,
                    "hosts_assessed": s.hosts_assessed, "hosts_not_assessed": s.hosts_not_assessed,
                    "waived": s.waived, "FAIL_waived": s.FAIL_waived, "score": s.score, "score_waived": s.score_waived},
        "waivers": waiver_lists_dict(report.waivers),
    }
    if report.sections is not None:
        data["sections"] = dict(report.sections)
    if report.history is not None:
        data["history"] = _history_dict(report.history)
    if report.run_group is not None:
        data["run_group"] = dict(report.run_group)
    return data
