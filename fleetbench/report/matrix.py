"""The fleet view that the HTML and CSV reports share: node × check matrix, majorities, outliers.

Why a module of its own: report.html and matrix.csv must agree on what a role's majority is and
which cells are outliers, and the summary's score and coverage must be computed one way only. It
reads the typed report model (:mod:`fleetbench.report.model`) and nothing else.

Definitions (README, "HTML report"):

- **row**: one control of one benchmark version. Hosts are assessed against their own benchmark
  (``--benchmark auto``), and a CIS number can name another recommendation in another version
  (5.2.9 in cis-1.11 and cis-1.12), so a fleet on several versions gets one row per (benchmark, id),
  versions of a control next to each other; a host's cells in another version's rows are n/a.
- **role group**: the hosts with the same set of roles (``control-plane,etcd``, ``worker``), in
  the order their first host appears in the report.
- **cell**: one check on one host: its status (PASS / FAIL / WARN / INFO), :data:`NOT_ASSESSED`
  when the host was not assessed (every cell of that host: never blank, never a pass), or
  :data:`NOT_APPLICABLE` when the host was assessed but did not run the check (its roles do not
  select it, or the row is another benchmark version's).
- **majority**: per check and role group, the most common status among the group's assessed hosts
  that ran the check. A tie goes to the better verdict (PASS, INFO, WARN, FAIL), so the hosts
  with the worse verdict are the ones flagged: with two workers, one passing and one failing,
  the failing one is the outlier.
- **outlier**: a cell whose status differs from its group's majority.
- **baseline**: the most common evidence (expected, actual, source, reason, remediation) among
  the hosts with the majority status; a host whose evidence differs from it is a **deviation**
  (an outlier, or the same verdict from other evidence, e.g. another path). Every host's evidence
  is therefore either its group's baseline or listed on its own.
- **fleet score**: PASS / (PASS + FAIL) over the scored, automated results of assessed hosts; the
  score "with waivers" leaves the waived FAILs out (JSON ``summary.score`` / ``summary.score_waived``).
- A waived result (``--waivers``) keeps its status everywhere here (majority, outliers); its waiver is
  part of its evidence, so the drill-down lists it apart from the baseline, with the reason.
- **coverage**: hosts assessed / hosts in the report, and checks decided (host × check results
  with a PASS or FAIL verdict) / checks selected (every result of an assessed host).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from .model import HostReport, Report, Result

STATUSES = ("PASS", "FAIL", "WARN", "INFO")
NOT_ASSESSED = "not assessed"
NOT_APPLICABLE = "n/a"
_BETTER_FIRST = {"PASS": 0, "INFO": 1, "WARN": 2, "FAIL": 3}
_EVIDENCE = ("status", "expected", "actual", "source", "reason", "remediation", "waiver")   # a waived result is listed apart


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key for CIS numbers and benchmark ids: 1.2.10 after 1.2.9, cis-1.10 after cis-1.9."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in text.split("."))


def group_name(host: HostReport) -> str:
    """The role group of a host: its roles, sorted, comma-separated."""
    return ",".join(sorted(host.roles)) or "(no role)"


def assessed(host: HostReport) -> bool:
    return host.assessed


@dataclass(frozen=True, slots=True, eq=False)
class Cell:
    """One check on one host (compared by identity: two hosts can share a status and a result)."""

    host: HostReport
    status: str                           #: PASS..INFO, NOT_ASSESSED or NOT_APPLICABLE
    result: Result | None         #: the host's result for the check, when it ran
    outlier: bool = False


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One check across the hosts of one role group."""

    group: str
    cells: tuple[Cell, ...]
    majority: str | None                  #: None when no assessed host of the group ran the check
    majority_count: int                   #: hosts with the majority status
    ran: int                              #: assessed hosts of the group that ran the check
    baseline: Result | None       #: the majority hosts' most common evidence
    baseline_count: int                   #: hosts whose evidence is exactly the baseline
    deviations: tuple[Cell, ...]          #: hosts that ran the check with other evidence

    @property
    def outliers(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.outlier)

    @property
    def baseline_cells(self) -> tuple[Cell, ...]:
        """The hosts whose evidence is exactly the baseline."""
        return tuple(c for c in self.cells if c.result is not None and c not in self.deviations)

    @property
    def not_assessed(self) -> int:
        return sum(1 for c in self.cells if c.status == NOT_ASSESSED)


@dataclass(frozen=True, slots=True)
class Row:
    """One control (CIS id of one benchmark) across the fleet."""

    key: str                              #: the id, or "id@benchmark" when the fleet mixes benchmarks
    benchmark: str
    id: str
    check: str
    title: str
    section: str
    target: str
    scored: bool
    automated: bool
    expected: str
    groups: tuple[GroupRow, ...]

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(c for g in self.groups for c in g.cells)

    @property
    def outliers(self) -> tuple[Cell, ...]:
        return tuple(c for g in self.groups for c in g.outliers)

    def count(self, status: str) -> int:
        return sum(1 for c in self.cells if c.status == status)


@dataclass(frozen=True, slots=True)
class Matrix:
    groups: tuple[tuple[str, tuple[HostReport, ...]], ...]   #: role group → its hosts, column order
    rows: tuple[Row, ...]                                        #: one per (benchmark, id), in CIS order
    benchmarks: tuple[str, ...]                                  #: of the assessed hosts, in version order

    @property
    def hosts(self) -> tuple[HostReport, ...]:
        return tuple(h for _, hosts in self.groups for h in hosts)

    def key(self, benchmark: str, control_id: str) -> str:
        """The row key of a control: its id, qualified with the benchmark in a mixed fleet."""
        return _key(len(self.benchmarks) > 1, benchmark, control_id)


def _key(mixed: bool, benchmark: str, control_id: str) -> str:
    return f"{control_id}@{benchmark}" if mixed else control_id


#: a result's evidence as one tuple (attrgetter: this runs once per result and group of a 650,000-cell matrix)
_evidence: Callable[[Result], tuple[object, ...]] = attrgetter(*_EVIDENCE)


def _group_row(group: str, hosts: tuple[HostReport, ...], benchmark: str, control_id: str,
               by_host: dict[str, dict[str, Result]]) -> GroupRow:
    found = [(h, by_host[h.name].get(control_id) if h.benchmark == benchmark else None) for h in hosts]
    ran = [(h, r) for h, r in found if r is not None]
    majority: str | None = None
    if ran:
        counts = Counter(r.status for _, r in ran)
        majority = min(counts, key=lambda s: (-counts[s], _BETTER_FIRST.get(s, 9), s))
    cells = tuple(
        Cell(h, NOT_ASSESSED, None) if not assessed(h)
        else Cell(h, NOT_APPLICABLE, None) if r is None
        else Cell(h, r.status, r, outlier=r.status != majority)
        for h, r in found)
    baseline: Result | None = None
    baseline_count = 0
    deviations: tuple[Cell, ...] = ()
    if ran:
        signatures = Counter(_evidence(r) for _, r in ran if r.status == majority)
        signature, baseline_count = signatures.most_common(1)[0]
        baseline = next(r for _, r in ran if _evidence(r) == signature)
        deviations = tuple(c for c in cells if c.result is not None and _evidence(c.result) != signature)
    return GroupRow(group=group, cells=cells, majority=majority,
                    majority_count=sum(1 for _, r in ran if r.status == majority), ran=len(ran),
                    baseline=baseline, baseline_count=baseline_count, deviations=deviations)


def build(data: Report) -> Matrix:
    """The node × check matrix of a report: hosts grouped by role, one row per (benchmark, id)."""
    grouped: dict[str, list[HostReport]] = {}
    for host in data.hosts:
        grouped.setdefault(group_name(host), []).append(host)
    groups = tuple((name, tuple(hosts)) for name, hosts in grouped.items())
    by_host = {h.name: {r.id: r for r in h.results} for h in data.hosts}
    first: dict[tuple[str, str], Result] = {}
    for host in data.hosts:
        for r in host.results:
            first.setdefault((host.benchmark, r.id), r)
    benchmarks = tuple(sorted({b for b, _ in first}, key=natural_key))
    rows = tuple(
        Row(key=_key(len(benchmarks) > 1, bench, cid), benchmark=bench, id=cid, check=r.check, title=r.title,
            section=r.section, target=r.target, scored=r.scored, automated=r.automated,
            expected=r.expected, groups=tuple(_group_row(name, hosts, bench, cid, by_host) for name, hosts in groups))
        for (bench, cid), r in sorted(first.items(), key=lambda item: (natural_key(item[0][1]), natural_key(item[0][0]))))
    return Matrix(groups=groups, rows=rows, benchmarks=benchmarks)


def counts(results: list[Result]) -> dict[str, int]:
    c = Counter(r.status for r in results)
    return {s: c.get(s, 0) for s in STATUSES}


def score(results: list[Result]) -> tuple[int, int]:
    """(PASS, FAIL) among the scored, automated results; the score is PASS / (PASS + FAIL)."""
    c = Counter(r.status for r in results if r.scored and r.automated)
    return c.get("PASS", 0), c.get("FAIL", 0)


def percent(passed: int, failed: int) -> str:
    """The score as text: "87.5%", or "n/a" when nothing was scored."""
    return f"{100 * passed / (passed + failed):.1f}%" if passed + failed else "n/a"


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts of one slice of the fleet (all of it, a role group, a section)."""

    name: str
    hosts: int
    hosts_assessed: int
    statuses: dict[str, int]
    passed: int                           #: scored automated PASS
    failed: int                           #: scored automated FAIL

    @property
    def score(self) -> str:
        return percent(self.passed, self.failed)

    @property
    def decided(self) -> int:
        return self.statuses["PASS"] + self.statuses["FAIL"]

    @property
    def selected(self) -> int:
        return sum(self.statuses.values())


def _results(hosts: list[HostReport]) -> list[Result]:
    return [r for h in hosts if assessed(h) for r in h.results]


def tally(name: str, hosts: list[HostReport], results: list[Result] | None = None) -> Tally:
    """Counts for ``hosts`` over ``results`` (default: every result of those hosts that were assessed)."""
    results = _results(hosts) if results is None else results
    passed, failed = score(results)
    return Tally(name=name, hosts=len(hosts), hosts_assessed=sum(1 for h in hosts if assessed(h)),
                 statuses=counts(results), passed=passed, failed=failed)


def fleet(data: Report) -> Tally:
    """The whole fleet: score, coverage and status counts over assessed hosts."""
    return tally("fleet", list(data.hosts))


def by_group(matrix: Matrix) -> list[Tally]:
    return [tally(name, list(hosts)) for name, hosts in matrix.groups]


def by_section(data: Report) -> list[Tally]:
    """One tally per section that has results, in CIS order; its hosts are the hosts that ran it."""
    per: dict[str, list[Result]] = {}
    ran: dict[str, dict[str, HostReport]] = {}
    for host in data.hosts:
        if assessed(host):
            for r in host.results:
                per.setdefault(r.section, []).append(r)
                ran.setdefault(r.section, {})[host.name] = host
    return [tally(sec, list(ran[sec].values()), rs)
            for sec, rs in sorted(per.items(), key=lambda item: natural_key(item[0]))]
