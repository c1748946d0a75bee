"""The controls selected for one host → what its probe script must collect, de-duplicated.

Thirty kubelet checks need the same four things (the kubelet's argv, its config path, a stat
of that path, the file's content); the plan lists each once. Paths are kept as expressions
(``{kubelet.config}`` or a literal) because variables are resolved on the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from .catalog import PATH_EXPR
from .models import Catalog, Component, Control, PathVar


@dataclass(frozen=True, slots=True)
class Plan:
    components: tuple[Component, ...]     #: processes to look for in the one /proc walk
    path_vars: tuple[PathVar, ...]        #: variables to resolve, in order
    overrides: Mapping[str, str]          #: inventory path overrides (variable → path)
    stats: tuple[str, ...]                #: path expressions to stat
    trees: tuple[str, ...]                #: path expressions whose whole tree is listed
    reads: tuple[str, ...]                #: path expressions whose content is read
    dirs: tuple[str, ...]                 #: folder expressions whose *.conf files are read, in order
    env_components: tuple[str, ...]       #: components whose ETCD_* environment is read


def var_names(expr: str) -> list[str]:
    return PATH_EXPR.findall(expr)


def build(controls: Iterable[Control], catalog: Catalog, overrides: Mapping[str, str] | None = None) -> Plan:
    """Collect the probes the given controls need (every component's process is always looked up)."""
    stats: list[str] = []
    trees: list[str] = []
    reads: list[str] = []
    dirs: list[str] = []
    env: list[str] = []

    def add(bucket: list[str], expr: str) -> None:
        if expr not in bucket:
            bucket.append(expr)

    for control in controls:
        check = control.check
        if check.kind == "file":
            for expr in check.paths:
                add(trees if check.tree else stats, expr)
        elif check.kind in ("flag", "setting", "encryption") and check.component:
            component = catalog.components[check.component]
            if component.manifest:
                add(reads, "{" + component.manifest + "}")
            if any(t.env for t in check.tests):
                add(env, check.component)
            if check.kind == "setting" and check.config:
                add(reads, check.config)
                if "config-dir" in component.paths:
                    add(dirs, "{" + component.name + ".config-dir}")
            for source in component.flag_sources:
                add(dirs if source.endswith("/") else reads, source.rstrip("/") if source.endswith("/") else source)
            if check.kind == "encryption":
                add(reads, "{apiserver.encryption-config}")
    names: list[str] = []
    for expr in stats + trees + reads + dirs:
        for name in var_names(expr):
            if name not in names:
                names.append(name)
    path_vars = []
    for name in names:
        var = catalog.path_var(name)
        assert var is not None, name        # the catalog loader has validated every expression
        path_vars.append(var)
        comp = catalog.components[name.split(".")[0]]
        if var.from_env and comp.name not in env:
            env.append(comp.name)
    overrides = {k: v for k, v in (overrides or {}).items() if k in names}
    return Plan(components=tuple(catalog.components.values()), path_vars=tuple(path_vars), overrides=overrides,
                stats=tuple(stats), trees=tuple(trees), reads=tuple(reads), dirs=tuple(dirs),
                env_components=tuple(env))
