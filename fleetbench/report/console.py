"""The terminal report: a header saying what was scanned, kube-bench's layout per host, then a
fleet table (tabulate).

Header: the run id, the benchmark, the inventory and whatever limited the scan (``--limit``,
``--targets``, ``--check``, ``--skip``), so a pasted console log says what it covers.

Per host, per target: ``[INFO]`` section lines, one ``[PASS]/[FAIL]/[WARN]/[INFO]`` line per
control, ``== Remediations <target> ==`` for what did not pass, ``== Summary <target> ==``;
then ``== Summary total ==``. A host that was not assessed gets one line with its reason.

A waived result keeps its status and says so: ``[FAIL] 1.2.1 … (waived: reason, owner, ticket, until
2027-01-31)``; the fleet table's footer counts waived FAILs apart and gives the score with and without
waivers, and a "Waivers" block lists the expired, unused and expiring waivers of the file.

``--quiet`` (cron): :func:`should_speak` decides whether anything is printed at all; when it is,
:func:`render_quiet` prints the fleet table and one line per unwaived FAIL and per host not assessed.

Section 5 (target ``policies``) is decided once per cluster, from one kubectl query on one of
its control-plane hosts: after the hosts, one block per cluster (``=== cluster NAME ===``) with its
source host, a line per automated control (a FAIL names its first offending objects), one line for
the controls left for review (``--verbose`` lists them), or the reason it was not assessed.
"""

from __future__ import annotations

from collections.abc import Iterable

from tabulate import tabulate

from .model import ClusterReport, HostReport, Report, Result, WaiverNote

_TARGET_ORDER = ("master", "etcd", "controlplane", "node", "policies")
_COLOR = {"PASS": "\033[32m", "FAIL": "\033[31m", "WARN": "\033[33m", "INFO": "\033[34m"}
_RESET = "\033[0m"
_CLUSTER_TARGET = "policies"


def _tag(status: str, color: bool) -> str:
    return f"{_COLOR[status]}[{status}]{_RESET}" if color else f"[{status}]"


def _counts(lines: list[str], results: Iterable[Result]) -> None:
    results = list(results)
    for status in ("PASS", "FAIL", "WARN", "INFO"):
        lines.append(f"{sum(1 for r in results if r.status == status)} checks {status}")


def _for_review(target: str, r: Result) -> bool:
    """A result folded into the one section-5 summary line: a policy control left for review."""
    return target == _CLUSTER_TARGET and r.status == "WARN"


def header(data: Report) -> str:
    """One line: run id, benchmark, inventory and what limited the scan."""
    scope = data.scope
    where = "this machine (--local)" if scope.local else f"inventory {scope.inventory or '(not recorded)'}"
    limits = scope.describe()
    group = f"; {data.group_text}" if data.group_text else ""
    return (f"fleetbench {data.version} run {data.run_id}: benchmark {data.benchmark}; {where}; "
            + (f"limited by {limits}" if limits else "every host and control") + group)


def render_host(host: HostReport, sections: dict[str, str], color: bool = False, verbose: bool = False) -> str:
    lines = [f"=== {host.name} ({host.address}) roles: {', '.join(host.roles)} "
             f"benchmark: {host.benchmark} ==="]
    if host.accepted_host_key:
        lines.append(f"[INFO] new host key accepted (--accept-new-host-keys): {host.accepted_host_key}")
    if host.detected:
        d = host.detected
        lines.append(f"[INFO] {d.distribution} {d.kubernetes_version or '(version unknown)'} "
                     f"from {d.version_source}: {d.reason}")
    if not host.assessed:
        lines.append(f"[NOT ASSESSED] {host.status}: {host.error}")
        return "\n".join(lines)
    results = host.results
    for target in _TARGET_ORDER:
        rows = [r for r in results if r.target == target]
        if not rows:
            continue
        folded = set() if verbose else {r.id for r in rows if _for_review(target, r)}
        seen: set[str] = set()
        for r in rows:
            if r.id in folded:
                continue
            for sec in (r.section.split(".")[0], r.section):
                if sec not in seen:
                    seen.add(sec)
                    lines.append(f"{_tag('INFO', color)} {sec} {sections.get(sec, '')}")
            note = f" ({r.reason})" if r.status == "INFO" and r.reason else ""
            if r.waiver:
                note += f" (waived: {r.waiver.describe()})"
            lines.append(f"{_tag(r.status, color)} {r.id} {r.title}{note}")
            if verbose or r.status == "FAIL":
                lines.append(f"       expected {r.expected}; actual {r.actual}; from {r.source}")
        if folded:
            lines.append(f"{_tag('WARN', color)} {len(folded)} policy controls (section 5) need a review of the "
                         "cluster's API objects: see the HTML/JSON (--verbose lists them)")
        todo = [r for r in rows if r.status in ("FAIL", "WARN") and r.id not in folded]
        if todo:
            lines.append(f"\n== Remediations {target} ==")
            for r in todo:
                lines.append(f"{r.id} {r.remediation}")
                if r.reason:
                    lines.append(f"    ({r.reason})")
        lines.append(f"\n== Summary {target} ==")
        _counts(lines, rows)
        lines.append("")
    lines.append("== Summary total ==")
    _counts(lines, results)
    return "\n".join(lines)


def render_cluster(c: ClusterReport, sections: dict[str, str], color: bool = False, verbose: bool = False) -> str:
    lines = [f"=== cluster {c.name} (hosts: {', '.join(c.hosts)}) ==="]
    if not c.assessed:
        lines.append(f"[NOT ASSESSED] section 5: {c.status.removeprefix('not assessed: ')}")
        return "\n".join(lines)
    lines.append(f"[INFO] section 5 decided from one kubectl query on {c.source_host}")
    folded = [] if verbose else [r for r in c.results if r.status == "WARN" and not r.offending_count]
    seen: set[str] = set()
    for r in c.results:
        if r in folded:
            continue
        for sec in (r.section.split(".")[0], r.section):
            if sec not in seen:
                seen.add(sec)
                lines.append(f"{_tag('INFO', color)} {sec} {sections.get(sec, '')}")
        lines.append(f"{_tag(r.status, color)} {r.id} {r.title}"
                     + (f" (waived: {r.waiver.describe()})" if r.waiver else ""))
        if r.offending_count:
            more = f" and {r.offending_count - len(r.offending)} more" if r.offending_count > len(r.offending) else ""
            lines.append(f"       {r.offending_count} offending: {', '.join(r.offending[:5])}"
                         + (f" (+{len(r.offending) - 5} listed in the HTML/JSON)" if len(r.offending) > 5 else "")
                         + more)
        elif verbose and r.actual:
            lines.append(f"       {r.actual}")
    if folded:
        lines.append(f"{_tag('WARN', color)} {len(folded)} policy controls (section 5) are left for a review of the "
                     "cluster (not decidable from its API objects): see the HTML/JSON (--verbose lists them)")
    lines.append(f"\n== Summary cluster {c.name} ==")
    for status in ("PASS", "FAIL", "WARN", "INFO"):
        lines.append(f"{c.summary[status]} checks {status}")
    return "\n".join(lines)


def fleet_table(data: Report) -> str:
    rows = []
    for h in data.hosts:
        s = h.summary
        rows.append([h.name, ",".join(h.roles), h.status if h.assessed else f"NOT ASSESSED: {h.status}",
                     h.benchmark, *(s[k] if h.assessed else "-" for k in ("PASS", "FAIL", "WARN", "INFO"))])
    table = tabulate(rows, headers=["host", "roles", "status", "benchmark", "PASS", "FAIL", "WARN", "INFO"])
    total = data.summary
    waived = f" ({total.FAIL_waived} waived)" if total.FAIL_waived else ""
    foot = (f"{total.hosts_assessed}/{total.hosts} hosts assessed; "
            f"{total.PASS} PASS, {total.FAIL} FAIL{waived}, {total.WARN} WARN, {total.INFO} INFO")
    if data.waivers is not None:
        foot += (f"\nFleet score {_percent(total.score)} without waivers, {_percent(total.score_waived)} with waivers "
                 f"({total.waived} result(s) waived)")
    if total.hosts_not_assessed:
        foot += f"; {total.hosts_not_assessed} host(s) NOT assessed (never counted as passing)"
    for c in data.clusters:
        foot += (f"\ncluster {c.name}: " + (f"section 5 from {c.source_host}: " + ", ".join(
            f"{c.summary[k]} {k}" for k in ("PASS", "FAIL", "WARN", "INFO")) if c.assessed
            else f"section 5 NOT assessed ({c.status.removeprefix('not assessed: ')})"))
    limits = data.scope.describe()
    if limits:
        foot += f"\nCoverage: a limited scan ({limits})"
    if not data.host_key_checking:
        foot += "\nWARNING: host key checking was DISABLED for this scan (--insecure-no-host-key-check)"
    return f"{table}\n{foot}"


def _percent(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.1f}%"


def waiver_block(data: Report) -> str:
    """The waiver file's expired, unused and expiring waivers ('' when there are none, or no file)."""
    w = data.waivers
    if w is None:
        return ""
    lines: list[str] = []
    for title, notes in (("EXPIRED (no longer applied; renew or remove)", w.expired),
                         ("unused (matched no FAIL or WARN; remove it?)", w.unused),
                         ("expiring within 14 days", w.expiring)):
        lines += [f"waiver {title}: {_note(n)}" for n in notes]
    return "== Waivers ==\n" + "\n".join(lines) if lines else ""


def _note(n: WaiverNote) -> str:
    return f"{n.origin}: {n.describe()}"


def should_speak(data: Report, new_failures: int | None = None) -> bool:
    """Whether ``--quiet`` prints anything: someone must look when a host or a cluster was not
    assessed, or when there is a FAIL no waiver accepts (a host's or a cluster's: the exit code's
    rule); with ``--fail-on-new``, the caller passes the number of new failures (``new_failures``),
    and only those count as FAILs."""
    if data.summary.hosts_not_assessed or any(not c.assessed for c in data.clusters):
        return True
    if new_failures is not None:
        return new_failures > 0
    return (any(r.counts_as_fail for h in data.hosts for r in h.results)
            or any(r.counts_as_fail for c in data.clusters for r in c.results))


def failing_lines(data: Report) -> list[str]:
    """One line per host or cluster not assessed and per FAIL no waiver accepts: what --quiet adds
    to the table."""
    lines = []
    for h in data.hosts:
        if not h.assessed:
            lines.append(f"{h.name}: [NOT ASSESSED] {h.status}: {h.error}")
        lines += [f"{h.name}: [FAIL] {r.id} {r.title}: expected {r.expected}; actual {r.actual}; from {r.source}"
                  for r in h.results if r.counts_as_fail]
    for c in data.clusters:
        if not c.assessed:
            lines.append(f"cluster {c.name}: [NOT ASSESSED] {c.status.removeprefix('not assessed: ')}")
        lines += [f"cluster {c.name}: [FAIL] {r.id} {r.title}: {r.actual}" for r in c.results if r.counts_as_fail]
    return lines


def render_quiet(data: Report) -> str:
    """What ``--quiet`` prints when :func:`should_speak` says so: header, fleet table, failing lines, waivers."""
    parts = [header(data), "== Fleet summary ==\n" + fleet_table(data)]
    failing = failing_lines(data)
    if failing:
        parts.append("== Needs attention ==\n" + "\n".join(failing))
    block = waiver_block(data)
    if block:
        parts.append(block)
    return "\n\n".join(parts) + "\n"


def render(data: Report, sections: dict[str, str] | None = None, color: bool = False, verbose: bool = False,
           per_host: bool = True) -> str:
    """The whole console report; ``sections`` defaults to the titles the model carries."""
    titles = dict(data.sections or {}) if sections is None else sections
    parts = [header(data)]
    parts += [render_host(h, titles, color, verbose) for h in data.hosts] if per_host else []
    parts += [render_cluster(c, titles, color, verbose) for c in data.clusters] if per_host else []
    parts.append("== Fleet summary ==\n" + fleet_table(data))
    block = waiver_block(data)
    if block:
        parts.append(block)
    return "\n\n".join(parts) + "\n"
