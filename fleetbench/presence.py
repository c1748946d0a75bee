"""Is there any Kubernetes on this host for the roles the inventory gives it? Pure, no I/O.

A wrong host in the inventory (or a role given to the wrong node) must not look assessed: without
this, a node with no kubelet would get PASS for "the kubelet config file is 600" because the file
does not exist. So when NONE of the components its roles require shows up — no process (own or
logged by k3s), and no file of its own (static-pod manifest, systemd unit or drop-in, kubeconfig,
config file, environment file) — the host is "not assessed: no Kubernetes component found". One
component found is enough: a half-installed node is assessed, and its gaps are FAILs.

Folders do not count (``/etc/cni/net.d`` exists on any podman host, ``/var/lib/etcd`` may outlive
etcd), and a path hidden from the scanning user counts as found: we cannot claim it is absent.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import Benchmark, Catalog, Check, HostFacts
from .plan import source_dir, var_names


def _components_of(check: Check) -> list[str]:
    names = [check.component] if check.component else []
    for expr in (*check.paths, *([check.config] if check.config else [])):
        names.extend(v.split(".")[0] for v in var_names(expr))
    return names


def required(benchmarks: Iterable[Benchmark], targets: tuple[str, ...]) -> tuple[str, ...]:
    """The components the controls of these targets read, in catalog order of first use.

    Ignores ``--check``/``--skip``: the question is what the host's roles need, not what was asked.
    """
    seen: list[str] = []
    for bench in benchmarks:
        for control in bench.controls:
            if control.target in targets:
                seen.extend(c for c in _components_of(control.check) if c not in seen)
    return tuple(seen)


def _file_exists(facts: HostFacts, path: str | None) -> bool:
    if not path:
        return False
    if path in facts.denied:
        return True
    st = facts.stats.get(path)
    return st is not None and st.type != "directory"


def found(facts: HostFacts, catalog: Catalog, component: str) -> bool:
    """A process, or one file of the component's own (its path variables, its flag sources)."""
    if component in facts.processes:
        return True
    comp = catalog.components[component]
    for short in comp.paths:
        name = f"{component}.{short}"
        resolved = facts.paths.get(name)
        content = facts.contents.get("{" + name + "}")
        if content is not None and content.state in ("present", "truncated"):
            return True
        if resolved is not None and _file_exists(facts, resolved.path):
            return True
        if facts.dirs.get("{" + name + "}"):
            return True
    for source in comp.flag_sources:
        folder = source_dir(source)
        if folder is not None:
            if facts.dirs.get(folder):
                return True
            continue
        content = facts.contents.get(source)
        if content is not None and content.state in ("present", "truncated"):
            return True
        if _file_exists(facts, source):
            return True
    return False


def no_kubernetes(facts: HostFacts, catalog: Catalog, components: tuple[str, ...]) -> bool:
    """True when components are required and not one of them was found."""
    return bool(components) and not any(found(facts, catalog, c) for c in components)
