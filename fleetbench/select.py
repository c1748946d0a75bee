"""Which controls apply to a host: benchmark candidates, role → target mapping, --targets/--check/--skip.

This is the catalog side of a scan: given a catalog, a benchmark choice and the user's selection
flags, it says which controls each host gets, before any host is contacted. ``runner`` only asks
it; ``cli`` uses it to refuse a selection that matches nothing, or that leaves a host with no
control at all (a scan that checks nothing must not exit 0 as if the host were clean).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from .errors import UsageError
from .models import ROLE_ALIASES, ROLES, Benchmark, Catalog, Control, Host

AUTO = "auto"                             #: --benchmark auto: chosen per node from what it runs


def matches(control: Control, patterns: tuple[str, ...]) -> bool:
    """Whether ``control`` is named by one of ``patterns``: its CIS id, a section of it (``1.2``),
    a glob over CIS ids (``4.2.*``) or its check id. The one rule for --check, --skip and waivers."""
    return any(control.id == p or control.id.startswith(p + ".") or fnmatch.fnmatchcase(control.id, p)
               or control.check.id == p for p in patterns)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which controls run: ``--targets``, ``--check`` and ``--skip`` (ids or sections like 1.2)."""

    targets: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    skips: tuple[str, ...] = ()

    @staticmethod
    def _hit(control: Control, patterns: tuple[str, ...]) -> bool:
        return matches(control, patterns)

    def controls(self, benchmark: Benchmark, targets: tuple[str, ...]) -> list[tuple[Control, bool]]:
        """(control, skipped) for one host whose roles give ``targets``."""
        chosen = []
        for c in benchmark.controls:
            if c.target not in targets or (self.targets and c.target not in self.targets):
                continue
            if self.checks and not self._hit(c, self.checks):
                continue
            chosen.append((c, self._hit(c, self.skips)))
        return chosen

    def validate(self, benchmarks: list[Benchmark]) -> None:
        """Every --check/--skip pattern must match some control of the candidate benchmarks.

        Raises:
            UsageError: naming the flag and the pattern that matches nothing.
        """
        for flag, patterns in (("--check", self.checks), ("--skip", self.skips)):
            for p in patterns:
                if not any(self._hit(c, (p,)) for b in benchmarks for c in b.controls):
                    raise UsageError(flag, f"'{p}' matches no control of {', '.join(b.id for b in benchmarks)} "
                                           "(give CIS ids such as 4.2.1, sections such as 1.2, or check ids)")


def candidates(catalog: Catalog, benchmark: str) -> list[Benchmark]:
    """The benchmarks a scan may apply: the forced one, or (auto) every one in the catalog."""
    return list(catalog.benchmarks.values()) if benchmark == AUTO else [catalog.benchmarks[benchmark]]


def host_targets(host: Host, catalog: Catalog) -> tuple[str, ...]:
    """The benchmark targets a host's roles cover (components.yaml ``roles:``), in first-seen order."""
    targets: list[str] = []
    for role in host.roles:
        targets.extend(t for t in catalog.role_targets.get(role, ()) if t not in targets)
    return tuple(targets)


def role_names(given: list[str] | tuple[str, ...], flag: str = "--roles") -> tuple[str, ...]:
    """Role names as the inventory accepts them (``master`` is ``control-plane``), canonical order.

    Raises:
        UsageError: for a name that is neither a role nor an alias of one.
    """
    roles = []
    for name in given:
        role = ROLE_ALIASES.get(name, name)
        if role not in ROLES:
            raise UsageError(flag, f"unknown role '{name}' (expected: {', '.join(ROLES)}, "
                                   f"or the aliases {', '.join(ROLE_ALIASES)})")
        roles.append(role)
    return tuple(r for r in ROLES if r in roles)


def require_controls(hosts: tuple[Host, ...], catalog: Catalog, benchmark: str, selection: Selection) -> None:
    """Refuse a selection that leaves a host with no control to run (before any host is contacted).

    With ``auto`` the benchmark is only known once the node has answered, so a host fails here
    only when no candidate benchmark gives it a control: ``--check 1.2.1`` on a worker-only host.

    Raises:
        UsageError: "--check: selects no control for host …" (or --targets when that is the cause).
    """
    if not (selection.checks or selection.targets):
        return
    benches = candidates(catalog, benchmark)
    for host in hosts:
        targets = host_targets(host, catalog)
        if any(selection.controls(b, targets) for b in benches):
            continue
        flag = "--check" if selection.checks else "--targets"
        chosen = ",".join(selection.checks or selection.targets)
        raise UsageError(flag, f"selects no control for host '{host.name}' (roles {', '.join(host.roles)}: "
                               f"targets {', '.join(targets) or 'none'}; {flag} {chosen}); "
                               "leave the host out with --limit, or widen the selection")
