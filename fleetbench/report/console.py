"""The terminal report: kube-bench's layout per host, then a fleet table (tabulate).

Per host, per target: ``[INFO]`` section lines, one ``[PASS]/[FAIL]/[WARN]/[INFO]`` line per
control, ``== Remediations <target> ==`` for what did not pass, ``== Summary <target> ==``;
then ``== Summary total ==``. A host that was not assessed gets one line with its reason.
"""

from __future__ import annotations

from typing import Any, Iterable

from tabulate import tabulate

_TARGET_ORDER = ("master", "etcd", "controlplane", "node", "policies")
_COLOR = {"PASS": "\033[32m", "FAIL": "\033[31m", "WARN": "\033[33m", "INFO": "\033[34m"}
_RESET = "\033[0m"


def _tag(status: str, color: bool) -> str:
    return f"{_COLOR[status]}[{status}]{_RESET}" if color else f"[{status}]"


def _counts(lines: list[str], results: Iterable[dict[str, Any]]) -> None:
    results = list(results)
    for status in ("PASS", "FAIL", "WARN", "INFO"):
        lines.append(f"{sum(1 for r in results if r['status'] == status)} checks {status}")


def render_host(host: dict[str, Any], sections: dict[str, str], color: bool = False, verbose: bool = False) -> str:
    lines = [f"=== {host['name']} ({host['address']}) roles: {', '.join(host['roles'])} "
             f"benchmark: {host['benchmark']} ==="]
    if host.get("detected"):
        d = host["detected"]
        lines.append(f"[INFO] {d['distribution']} {d['kubernetes_version'] or '(version unknown)'} "
                     f"from {d['version_source']}: {d['reason']}")
    if host["status"] != "ok":
        lines.append(f"[NOT ASSESSED] {host['status']}: {host['error']}")
        return "\n".join(lines)
    results = host["results"]
    for target in _TARGET_ORDER:
        rows = [r for r in results if r["target"] == target]
        if not rows:
            continue
        seen: set[str] = set()
        for r in rows:
            for sec in (r["section"].split(".")[0], r["section"]):
                if sec not in seen:
                    seen.add(sec)
                    lines.append(f"{_tag('INFO', color)} {sec} {sections.get(sec, '')}")
            note = f" ({r['reason']})" if r["status"] == "INFO" and r["reason"] else ""
            lines.append(f"{_tag(r['status'], color)} {r['id']} {r['title']}{note}")
            if verbose or r["status"] == "FAIL":
                lines.append(f"       expected {r['expected']}; actual {r['actual']}; from {r['source']}")
        todo = [r for r in rows if r["status"] in ("FAIL", "WARN")]
        if todo:
            lines.append(f"\n== Remediations {target} ==")
            for r in todo:
                lines.append(f"{r['id']} {r['remediation']}")
                if r["reason"]:
                    lines.append(f"    ({r['reason']})")
        lines.append(f"\n== Summary {target} ==")
        _counts(lines, rows)
        lines.append("")
    lines.append("== Summary total ==")
    _counts(lines, results)
    return "\n".join(lines)


def fleet_table(data: dict[str, Any]) -> str:
    rows = []
    for h in data["hosts"]:
        s = h["summary"]
        assessed = h["status"] == "ok"
        rows.append([h["name"], ",".join(h["roles"]), h["status"] if assessed else f"NOT ASSESSED: {h['status']}",
                     h["benchmark"], *(s[k] if assessed else "-" for k in ("PASS", "FAIL", "WARN", "INFO"))])
    table = tabulate(rows, headers=["host", "roles", "status", "benchmark", "PASS", "FAIL", "WARN", "INFO"])
    s = data["summary"]
    foot = (f"{s['hosts_assessed']}/{s['hosts']} hosts assessed; "
            f"{s['PASS']} PASS, {s['FAIL']} FAIL, {s['WARN']} WARN, {s['INFO']} INFO")
    if s["hosts_not_assessed"]:
        foot += f"; {s['hosts_not_assessed']} host(s) NOT assessed (never counted as passing)"
    if not data["options"].get("host_key_checking", True):
        foot += "\nWARNING: host key checking was DISABLED for this scan (--insecure-no-host-key-check)"
    return f"{table}\n{foot}"


def render(data: dict[str, Any], sections: dict[str, str], color: bool = False, verbose: bool = False,
           per_host: bool = True) -> str:
    parts = [render_host(h, sections, color, verbose) for h in data["hosts"]] if per_host else []
    parts.append("== Fleet summary ==\n" + fleet_table(data))
    return "\n\n".join(parts) + "\n"
