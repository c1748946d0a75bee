"""What changed between two runs: pure functions over :class:`Snapshot` values, no I/O.

Why a snapshot type of its own: a run is compared either fresh from a scan (the report model,
before it is stored) or read back from the history database; both become the same small value
(per host: assessed or not, and per (benchmark, CIS id) its status, actual value and whether a
waiver accepted it), so the rules below are written and tested once.

The rules (README, "Drift between runs"):

- a **new failure** is a FAIL, not waived, whose status before was anything but FAIL: another
  status, absent (the host or the control was not in the old run) or not assessed (the host was
  not assessed last time, so nobody knew it passed);
- **resolved**: a FAIL before that is now PASS, WARN or INFO on a host that was assessed both times;
- **changed**: every other status change of a control on a host assessed both times (a FAIL that
  a waiver now accepts is listed here, not as a new failure; so is a control that disappeared);
- **hosts added / removed**: host names only in the new / only in the old run;
- **newly not assessed**: hosts assessed in the old run and not assessed in the new one (their
  results are not "resolved": nobody looked).

Section 5 is decided once per cluster, and each cluster of the new run is compared with the same
cluster of the old one by the same rules (new failure, resolved, changed: a :class:`Change` with its
``cluster`` set). A cluster not assessed in the new run, or one the new run does not hold (a shard
that does not decide it), is not compared: its FAILs are not "resolved".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

FAIL = "FAIL"
ABSENT = "absent"
NOT_ASSESSED = "not assessed"


class Outcome(NamedTuple):
    """One control's verdict on one host, as far as drift is concerned.

    A NamedTuple rather than a frozen dataclass: a 200-host run makes 26,000 of them twice per
    scan, and a tuple is built several times faster (README, "Benchmark"); it is immutable all the same.
    """

    status: str                           #: PASS | FAIL | WARN | INFO
    actual: str
    waived: bool = False


@dataclass(frozen=True, slots=True)
class HostState:
    assessed: bool
    status: str = "ok"                    #: "ok" or why it was not assessed (the host status)
    reason: str = ""
    results: Mapping[tuple[str, str], Outcome] = field(default_factory=dict)  #: (benchmark, id) → outcome


@dataclass(frozen=True, slots=True)
class Snapshot:
    run_id: str
    started: str                          #: ISO 8601
    hosts: Mapping[str, HostState]
    #: section 5, cluster name → its state (results keyed ("", id): section 5 is one list per cluster)
    clusters: Mapping[str, HostState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    host: str                             #: "" for a cluster's change
    id: str
    benchmark: str
    before: str                           #: a status, "absent" or "not assessed"
    after: str
    actual: str                           #: the new actual value ("" when the control is gone)
    cluster: str | None = None            #: set: a section-5 control of this cluster changed

    @property
    def where(self) -> str:
        """The host's name, or ``cluster NAME``: how every report names the place that changed."""
        return self.host if self.cluster is None else f"cluster {self.cluster}"


@dataclass(frozen=True, slots=True)
class NotAssessed:
    host: str
    status: str
    reason: str


@dataclass(frozen=True, slots=True)
class RunRef:
    run: str
    started: str


@dataclass(frozen=True, slots=True)
class Diff:
    old: RunRef
    new: RunRef
    new_failures: tuple[Change, ...]
    resolved: tuple[Change, ...]
    changed: tuple[Change, ...]
    hosts_added: tuple[str, ...]
    hosts_removed: tuple[str, ...]
    newly_not_assessed: tuple[NotAssessed, ...]


def _sort_key(key: tuple[str, str]) -> tuple[str, tuple[int | str, ...]]:
    bench, cis = key
    return bench, tuple(int(p) if p.isdigit() else p for p in cis.split("."))


def diff(old: Snapshot, new: Snapshot) -> Diff:
    """Compare ``new`` with ``old`` (see the module docstring for the rules)."""
    new_failures: list[Change] = []
    resolved: list[Change] = []
    changed: list[Change] = []
    places: list[tuple[str, str | None, HostState, HostState | None]] = [
        (name, None, new.hosts[name], old.hosts.get(name)) for name in sorted(new.hosts)]
    places += [("", name, new.clusters[name], old.clusters.get(name)) for name in sorted(new.clusters)]
    for host, cluster, now, was in places:
        if not now.assessed:
            continue                      # listed as newly not assessed (or added); its old FAILs are not resolved
        keys = now.results.keys() | (was.results.keys() if was and was.assessed else set())
        for key in keys:
            after = now.results.get(key)
            if was is None:
                before = ABSENT
            elif not was.assessed:
                before = NOT_ASSESSED
            else:
                prior = was.results.get(key)
                before = prior.status if prior else ABSENT
            after_status = after.status if after else ABSENT
            if before == after_status:
                continue
            change = Change(host=host, id=key[1], benchmark=key[0], before=before, after=after_status,
                            actual=after.actual if after else "", cluster=cluster)
            if after is not None and after.status == FAIL and not after.waived:
                new_failures.append(change)
            elif before == FAIL and after is not None:
                resolved.append(change)
            elif before in (ABSENT, NOT_ASSESSED) and after is not None:
                continue                  # a first look at a host or control: only its FAILs matter
            else:
                changed.append(change)
    for changes in (new_failures, resolved, changed):     # hosts first, then clusters
        changes.sort(key=lambda c: (c.cluster is not None, c.cluster or c.host, *_sort_key((c.benchmark, c.id))))
    newly = tuple(NotAssessed(host=n, status=h.status, reason=h.reason) for n, h in sorted(new.hosts.items())
                  if not h.assessed and n in old.hosts and old.hosts[n].assessed)
    return Diff(old=RunRef(old.run_id, old.started), new=RunRef(new.run_id, new.started),
                new_failures=tuple(new_failures), resolved=tuple(resolved), changed=tuple(changed),
                hosts_added=tuple(sorted(set(new.hosts) - set(old.hosts))),
                hosts_removed=tuple(sorted(set(old.hosts) - set(new.hosts))), newly_not_assessed=newly)


def first_run(new: Snapshot) -> Diff:
    """The drift of a run with no earlier run to compare with: every unwaived FAIL is new."""
    return diff(Snapshot(run_id="", started="", hosts={}), new)


def new_failure_count(d: Diff | None) -> int | None:
    """New, unwaived FAILs against the baseline; None when nothing was compared (no --fail-on-new).

    The ``--fail-on-new`` exit code and ``--quiet`` (print only when someone must look) both read this.
    """
    return None if d is None else len(d.new_failures)


# --------------------------------------------------------------------------- JSON (README, "Drift between runs")

def _change_dict(c: Change) -> dict[str, str | None]:
    """A host's change as it always was; a cluster's with ``"host": null`` and ``"cluster": NAME``."""
    place: dict[str, str | None] = {"host": c.host} if c.cluster is None else {"host": None, "cluster": c.cluster}
    return {**place, "id": c.id, "benchmark": c.benchmark, "before": c.before, "after": c.after, "actual": c.actual}


def _change_from(c: Mapping[str, Any]) -> Change:
    return Change(host=c.get("host") or "", id=c["id"], benchmark=c["benchmark"], before=c["before"], after=c["after"],
                  actual=c["actual"], cluster=c.get("cluster"))


def to_json(d: Diff) -> dict[str, Any]:
    """The documented JSON of a diff (``fleetbench diff --format json``)."""
    return {"from": {"run": d.old.run or None, "started": d.old.started or None},
            "to": {"run": d.new.run, "started": d.new.started},
            "new_failures": [_change_dict(c) for c in d.new_failures],
            "resolved": [_change_dict(c) for c in d.resolved],
            "changed": [_change_dict(c) for c in d.changed],
            "hosts_added": list(d.hosts_added), "hosts_removed": list(d.hosts_removed),
            "newly_not_assessed": [{"host": n.host, "status": n.status, "reason": n.reason} for n in d.newly_not_assessed]}


def from_json(data: Mapping[str, Any]) -> Diff:
    """:func:`to_json` read back (a stored report's ``history.since_previous``)."""
    return Diff(old=RunRef(data["from"]["run"] or "", data["from"]["started"] or ""),
                new=RunRef(data["to"]["run"], data["to"]["started"]),
                new_failures=tuple(_change_from(c) for c in data["new_failures"]),
                resolved=tuple(_change_from(c) for c in data["resolved"]),
                changed=tuple(_change_from(c) for c in data["changed"]),
                hosts_added=tuple(data["hosts_added"]), hosts_removed=tuple(data["hosts_removed"]),
                newly_not_assessed=tuple(NotAssessed(host=n["host"], status=n["status"], reason=n["reason"])
                                         for n in data["newly_not_assessed"]))
