"""Build HostFacts from a compact description (the fixture files' format), for pure tests."""

from __future__ import annotations

from typing import Any

from fleetbench.models import Catalog, Content, FileStat, HostFacts, ProcessFact, ResolvedPath


def stat(path: str, mode: str, owner: str) -> FileStat:
    user, group = owner.split(":")
    ids = {"root": 0, "etcd": 990, "nobody": 65534, "nogroup": 65534}
    return FileStat(path=path, mode=int(mode, 8), uid=ids.get(user, 1000), gid=ids.get(group, 1000),
                    user=user, group=group, type="regular file")


def host_facts(catalog: Catalog, case: dict[str, Any]) -> HostFacts:
    """Every path variable resolves to the case's path or its default; files not listed are absent.

    ``path_sources`` says how the node found a path ("flag --config"); "fixture" by default.
    """
    paths = {}
    for comp in catalog.components.values():
        for short, var in comp.paths.items():
            name = f"{comp.name}.{short}"
            given = case.get("paths", {}).get(name)
            if given or var.default:
                how = case.get("path_sources", {}).get(name, "fixture" if given else "default")
                paths[name] = ResolvedPath(name, given or var.default, how)
    procs = {comp: ProcessFact(comp, 100 + i, tuple(argv), case.get("env", {}).get(comp, {}))
             for i, (comp, argv) in enumerate(case.get("processes", {}).items())}
    stats: dict[str, FileStat | None] = {p: stat(p, **s) for p, s in case.get("files", {}).items()}
    trees = {root: tuple(stat(p, **s) for p, s in entries.items()) for root, entries in case.get("trees", {}).items()}
    contents = {}
    for expr, text in case.get("contents", {}).items():
        name = expr.strip("{}")
        contents[expr] = Content(paths[name].path if name in paths else expr, "present", text.encode())
    dirs = {expr: tuple(Content(path, "present", text.encode()) for path, text in files)
            for expr, files in case.get("dirs", {}).items()}
    return HostFacts(hostname="fixture", uid=0, processes=procs, paths=paths, stats=stats, trees=trees,
                     contents=contents, dirs=dirs)
