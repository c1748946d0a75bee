"""Waivers (``--waivers FILE``): accepted exceptions, each with a reason, an owner, a ticket and an end.

Why a module of its own: applying waivers must give the same answer for a live scan and for a
re-evaluated bundle, and be testable without a network, so :func:`apply` is a pure function of the
findings, the hosts and today's date. Loading (:func:`load`) checks the whole file before any host
is contacted, and every error names ``file:line`` (exit 2).

File format (README, "Waivers")::

    waivers:
      - controls: [1.2.1, "4.2.*", kubelet-anonymous-auth]   # CIS ids, sections, globs or check ids
        hosts: [worker-*]            # optional: host names or globs (absent: every host)
        roles: [worker]              # optional: inventory roles (aliases such as node accepted)
        groups: [legacy]             # optional: inventory groups
        clusters: [prod-*]           # optional: cluster names or globs (a host's cluster, or section 5's)
        benchmarks: [cis-1.12]       # optional: benchmark ids or globs
        reason: the legacy CNI needs it until the migration
        owner: platform-team
        ticket: OPS-1234
        expires: 2027-01-31          # required: the last day the waiver applies

Rules: a waiver applies to a FAIL or WARN result whose control matches one of ``controls`` (the
``--check`` matching rules, :func:`fleetbench.select.matches`) on a host within every scope key it
gives. The result keeps its status and gets :attr:`Finding.waiver`; the exit code ignores it. A
PASS or INFO result is never marked (a waiver whose controls now pass shows up as unused, so it
can be removed), and a host that was not assessed has no results to waive. A waiver whose
``expires`` is before today no longer applies and is listed as expired; one that matched nothing is
listed as unused; one that ends within :data:`EXPIRING_DAYS` days is listed as expiring.

Section 5 is decided once per cluster, so its results are waived per cluster: a rule covers a
cluster's section-5 result when the control matches, the cluster is within ``clusters`` (if given)
and the cluster's benchmark within ``benchmarks`` (if given), and the rule gives no host scope
(``hosts``, ``roles``, ``groups``: those pick hosts, and a cluster is not one). On a host,
``clusters`` means the cluster the host belongs to.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from . import yamlsrc
from .errors import InputError
from .models import ROLE_ALIASES, ROLES, Catalog, ClusterFinding, ClusterScan, Finding, Host, HostScan, Status, Waiver
from .select import matches

EXPIRING_DAYS = 14                        #: a waiver ending within this many days is listed as expiring
#: the statuses a waiver can mark: PASS needs no exception, INFO was skipped on request
WAIVABLE = (Status.FAIL, Status.WARN)
_KEYS = ("controls", "hosts", "roles", "groups", "clusters", "benchmarks", "reason", "owner", "ticket", "expires")
_REQUIRED = ("controls", "reason", "owner", "ticket", "expires")


class WaiverError(InputError):
    """The waiver file is malformed (``file:line: what was expected``; exit 2)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of a waiver file: which results (controls × scope) it accepts, and the waiver."""

    controls: tuple[str, ...]
    waiver: Waiver
    hosts: tuple[str, ...] = ()           #: names or globs; () = every host
    roles: tuple[str, ...] = ()           #: canonical role names
    groups: tuple[str, ...] = ()
    benchmarks: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()        #: cluster names or globs; () = every cluster

    def covers_host(self, host: Host, benchmark: str) -> bool:
        """Whether ``host`` (assessed against ``benchmark``) is inside every scope this rule gives."""
        return ((not self.hosts or any(fnmatch.fnmatchcase(host.name, p) for p in self.hosts))
                and (not self.roles or any(r in host.roles for r in self.roles))
                and (not self.groups or any(g in host.groups for g in self.groups))
                and self._in_cluster(host.cluster) and self._in_benchmark(benchmark))

    def covers(self, host: Host, benchmark: str, finding: Finding) -> bool:
        return finding.status in WAIVABLE and matches(finding.control, self.controls) and self.covers_host(host, benchmark)

    def covers_cluster(self, cluster: ClusterScan, finding: ClusterFinding) -> bool:
        """Whether this rule accepts ``finding`` of ``cluster``'s section 5 (no host scope: see the module)."""
        return (finding.status in WAIVABLE and matches(finding.control, self.controls)
                and not (self.hosts or self.roles or self.groups)
                and self._in_cluster(cluster.name) and self._in_benchmark(cluster.benchmark))

    def _in_cluster(self, name: str) -> bool:
        return not self.clusters or any(fnmatch.fnmatchcase(name, p) for p in self.clusters)

    def _in_benchmark(self, benchmark: str) -> bool:
        return not self.benchmarks or any(fnmatch.fnmatchcase(benchmark, p) for p in self.benchmarks)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying the waivers did: the hosts and clusters with waived findings marked, and the lists to show."""

    hosts: tuple[HostScan, ...]
    clusters: tuple[ClusterScan, ...] = ()
    expired: tuple[Waiver, ...] = ()      #: ended before today: applied to nothing
    unused: tuple[Waiver, ...] = ()       #: in force, but matched no result
    expiring: tuple[Waiver, ...] = ()     #: in force and ending within EXPIRING_DAYS days
    waived: int = 0                       #: results marked waived


def apply(rules: Iterable[Rule], hosts: Iterable[HostScan], today: date, clusters: Iterable[ClusterScan] = ()
          ) -> Outcome:
    """Mark the findings the rules in force cover, the hosts' and the clusters' (the first matching
    rule wins). Pure: no I/O.

    A rule in force is one with ``expires >= today`` (``expires`` is the last day it applies).
    """
    rules = tuple(rules)
    active = [r for r in rules if r.waiver.expires >= today]
    used: set[int] = set()
    out: list[HostScan] = []
    waived = 0
    for scan in hosts:
        findings = []
        for f in scan.findings:
            rule = next((r for r in active if r.covers(scan.host, scan.benchmark, f)), None)
            if rule is None:
                findings.append(f if f.waiver is None else dataclasses.replace(f, waiver=None))
                continue
            used.add(id(rule))
            waived += 1
            findings.append(dataclasses.replace(f, waiver=rule.waiver))
        out.append(dataclasses.replace(scan, findings=tuple(findings)))
    decided: list[ClusterScan] = []
    for cluster in clusters:
        marked = []
        for cf in cluster.findings:
            rule = next((r for r in active if r.covers_cluster(cluster, cf)), None)
            if rule is not None:
                used.add(id(rule))
                waived += 1
            marked.append(dataclasses.replace(cf, waiver=None if rule is None else rule.waiver))
        decided.append(dataclasses.replace(cluster, findings=tuple(marked)))
    soon = today + timedelta(days=EXPIRING_DAYS)
    return Outcome(hosts=tuple(out), clusters=tuple(decided),
                   expired=tuple(r.waiver for r in rules if r.waiver.expires < today),
                   unused=tuple(r.waiver for r in active if id(r) not in used),
                   expiring=tuple(r.waiver for r in active if r.waiver.expires <= soon),
                   waived=waived)


# --------------------------------------------------------------------------- loading

def load(path: str | Path, catalog: Catalog | None = None) -> tuple[Rule, ...]:
    """Read and check a waiver file; with ``catalog``, every ``controls`` pattern must match a control.

    Raises:
        WaiverError: ``file:line: what was expected`` for the first problem found.
    """
    path = Path(path)
    doc = yamlsrc.load(path, WaiverError)
    if not isinstance(doc, yamlsrc.LDict) or "waivers" not in doc:
        raise WaiverError(f"{path}:{getattr(doc, 'line', 1)}", "expected a mapping with the key 'waivers' "
                                                              "(a list of waivers)")
    extra = [k for k in doc if k != "waivers"]
    if extra:
        raise WaiverError(f"{path}:{doc.line_of(extra[0])}", f"unknown key '{extra[0]}' (expected only 'waivers')")
    entries = doc["waivers"]
    if not isinstance(entries, yamlsrc.LList):
        raise WaiverError(f"{path}:{doc.line_of('waivers')}", "'waivers' must be a list of waivers")
    rules = []
    for index, entry in enumerate(entries):
        where = f"{path}:{entries.line_of(index)}"
        if not isinstance(entry, yamlsrc.LDict):
            raise WaiverError(where, f"waiver {index + 1}: expected a mapping with the keys {', '.join(_REQUIRED)}")
        rules.append(_rule(path, entry, catalog))
    return tuple(rules)


def _rule(path: Path, entry: yamlsrc.LDict, catalog: Catalog | None) -> Rule:
    def at(key: str) -> str:
        return f"{path}:{entry.line_of(key)}"

    for key in entry:
        if key not in _KEYS:
            raise WaiverError(at(key), f"unknown key '{key}' (expected: {', '.join(_KEYS)})")
    for key in _REQUIRED:
        if key not in entry:
            raise WaiverError(f"{path}:{entry.line}", f"missing key '{key}' (every waiver needs {', '.join(_REQUIRED)})")
    texts = {k: _text(entry, k, at(k)) for k in ("reason", "owner", "ticket")}
    controls = _names(entry, "controls", at("controls"), required=True)
    if catalog is not None:
        known = [c for b in catalog.benchmarks.values() for c in b.controls]
        for p in controls:
            if not any(matches(c, (p,)) for c in known):
                raise WaiverError(at("controls"), f"'{p}' matches no control of the catalog "
                                                  "(give CIS ids such as 4.2.1, sections such as 1.2, globs or check ids)")
    roles = []
    for name in _names(entry, "roles", at("roles")):
        role = ROLE_ALIASES.get(name, name)
        if role not in ROLES:
            raise WaiverError(at("roles"), f"unknown role '{name}' (expected: {', '.join(ROLES)}, "
                                           f"or the aliases {', '.join(ROLE_ALIASES)})")
        roles.append(role)
    waiver = Waiver(reason=texts["reason"], owner=texts["owner"], ticket=texts["ticket"],
                    expires=_date(entry["expires"], at("expires")), origin=f"{path}:{entry.line}")
    return Rule(controls=controls, waiver=waiver, hosts=_names(entry, "hosts", at("hosts")), roles=tuple(roles),
                groups=_names(entry, "groups", at("groups")), benchmarks=_names(entry, "benchmarks", at("benchmarks")),
                clusters=_names(entry, "clusters", at("clusters")))


def _text(entry: yamlsrc.LDict, key: str, where: str) -> str:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise WaiverError(where, f"'{key}' must be a non-empty text, got {_shown(value)}")
    return str(value).strip()


def _names(entry: yamlsrc.LDict, key: str, where: str, required: bool = False) -> tuple[str, ...]:
    """A list of names (a single name is accepted as a list of one); YAML numbers such as 1.2 as written."""
    if key not in entry:
        return ()
    value = entry[key]
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        if isinstance(item, float):         # YAML reads 1.10 as the number 1.1: the name would be lost
            raise WaiverError(where, f"'{key}': {item} is a number in YAML; quote it (\"{item}\") so it stays as written")
        if isinstance(item, bool) or not isinstance(item, (str, int)) or not str(item).strip():
            raise WaiverError(where, f"'{key}' must be a name or a list of names, got {_shown(item)}")
        names.append(str(item).strip())
    if required and not names:
        raise WaiverError(where, f"'{key}' must name at least one control")
    return tuple(names)


def _date(value: Any, where: str) -> date:
    """``expires``: a YAML date (``2027-01-31``) or an ISO 8601 date string; nothing else."""
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise WaiverError(where, f"'expires' must be a date such as 2027-01-31, got {_shown(value)}")


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
