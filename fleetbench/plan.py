"""The controls selected for one host → what its probe script must collect, de-duplicated.

Thirty kubelet checks need the same four things (the kubelet's argv, its config path, a stat
of that path, the file's content); the plan lists each once. Paths are kept as expressions
(``{kubelet.config}`` or a literal) because variables are resolved on the node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .catalog import FILE_GLOB, PATH_EXPR
from .models import Catalog, Component, Control, PathVar


@dataclass(frozen=True, slots=True)
class KubeTarget:
    """This host answers for its cluster: run the one read-only kubectl query (``records.KubeKind``).

    ``kubectl`` / ``kubeconfig``: the inventory's overrides (None: found on the node).
    """

    kubectl: str | None = None
    kubeconfig: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    components: tuple[Component, ...]     #: processes to look for in the one /proc walk
    path_vars: tuple[PathVar, ...]        #: variables to resolve, in order
    overrides: Mapping[str, str]          #: inventory path overrides (variable → path)
    stats: tuple[str, ...]                #: path expressions to stat
    trees: tuple[str, ...]                #: path expressions whose whole tree is listed
    reads: tuple[str, ...]                #: path expressions whose content is read
    dirs: tuple[str, ...]                 #: folders whose *.conf files are read ("dir/*.yaml": those), in order
    env_components: tuple[str, ...]       #: components whose ETCD_* environment is read
    kube: KubeTarget | None = None        #: set on a cluster's source host: its probe runs the cluster query


def var_names(expr: str) -> list[str]:
    return PATH_EXPR.findall(expr)


def source_dir(source: str) -> str | None:
    """The ``dirs`` entry a flag source stands for: "dir/" → "dir" (its *.conf files), "dir/*.yaml" as
    is; None for a single file."""
    if source.endswith("/"):
        return source.rstrip("/")
    return source if "*" in source else None


def dir_glob(expr: str) -> tuple[str, str]:
    """A ``dirs`` entry → (folder expression, file pattern): "dir/*.yaml" → ("dir", "*.yaml"), else *.conf."""
    head, _, tail = expr.rpartition("/")
    return (head, tail) if FILE_GLOB.fullmatch(tail) else (expr, "*.conf")


def build(controls: Iterable[Control], catalog: Catalog, overrides: Mapping[str, str] | None = None) -> Plan:
    """Collect the probes the given controls need (every component's process is always looked up)."""
    controls = tuple(controls)
    stats: list[str] = []
    trees: list[str] = []
    reads: list[str] = []
    dirs: list[str] = []
    env: list[str] = []

    def add(bucket: list[str], expr: str) -> None:
        if expr not in bucket:
            bucket.append(expr)

    for control in controls:
        if control.skip:                  # the benchmark does not evaluate it: nothing to collect
            continue
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
                folder = source_dir(source)
                add(dirs if folder else reads, folder or source)
            if check.kind == "encryption":
                add(reads, "{apiserver.encryption-config}")
    names: list[str] = []
    for expr in stats + trees + reads + dirs:
        for name in var_names(expr):
            if name not in names:
                names.append(name)
    # paths a remediation names ("see {kubelet.service}") are resolved too, so its text is the node's own
    for control in controls:
        for name in var_names(control.check.remediation):
            if name not in names and catalog.path_var(name) is not None and not control.skip:
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
