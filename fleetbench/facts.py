"""Probe records → typed :class:`HostFacts`. Pure functions, no I/O.

Also the two readers every check kind shares: :func:`flag_value` (a flag from an exact argv,
with the same rules as the script's ``fb_get``) and :func:`config_value` (a dotted key from a
parsed YAML/JSON config); and :func:`journal_argv`, the command line of a component that k3s
runs inside its own process, from the line in which k3s logs it (the script's ``fb_run``).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Mapping

import yaml

from .errors import BatchError
from .models import Component, Content, FileStat, HostFacts, ProcessFact, ResolvedPath
from .plan import Plan, var_names
from .script import MAX_FILE_BYTES, Record, _comm

_UNSET = object()


def flag_value(argv: tuple[str, ...], flag: str) -> str | None:
    """The value of ``flag`` on a command line, or None when it is not given.

    ``--x=v`` and ``--x v`` both give ``v``; a bare ``--x`` (followed by another flag or by
    nothing) gives ``"true"``; the last occurrence wins, as with Go's flag parsers.

    >>> flag_value(("kubelet", "--a=1", "--b", "2", "--c", "--a=3"), "--a"), flag_value(("k", "--c"), "--c")
    ('3', 'true')
    """
    value: str | None = None
    waiting = False
    for arg in argv[1:]:
        if waiting:
            waiting = False
            if not arg.startswith("-"):
                value = arg
                continue
        if arg.startswith(flag + "="):
            value = arg[len(flag) + 1:]
        elif arg == flag:
            value, waiting = "true", True
    return value


def gate_value(gates: str, gate: str) -> str | None:
    """One gate of a ``--feature-gates=A=true,B=false`` value (last one wins)."""
    found = None
    for item in gates.split(","):
        name, _, value = item.strip().partition("=")
        if name == gate:
            found = value.strip()
    return found


def config_value(data: Any, dotted: str) -> Any:
    """A dotted key of a parsed config, or the ``_UNSET`` marker.

    Accepts kube-bench's JSONPath spelling too: ``{.authentication.anonymous.enabled}``.
    """
    key = dotted.strip("{}").lstrip(".")
    node = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _UNSET
        node = node[part]
    return node


def is_unset(value: Any) -> bool:
    return value is _UNSET


def config_text(value: Any) -> str:
    """A config value as text comparable with a flag value (YAML true → "true", lists comma-joined)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(config_text(v) for v in value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}={config_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)    # libyaml when PyYAML has it


@functools.lru_cache(maxsize=1024)
def _parse(data: bytes) -> tuple[Any, str]:
    try:
        return yaml.load(data.decode("utf-8", "replace"), Loader=_SafeLoader), ""  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, f"not valid YAML/JSON{f' at line {mark.line + 1}' if mark else ''}"


def parse_config(data: bytes) -> Any:
    """Parse a YAML or JSON config file (JSON is YAML). Raises ValueError with a short reason.

    Parsed once per distinct content: thirty kubelet checks on five hundred identical nodes
    read the same file. Callers must not mutate the result.
    """
    parsed, error = _parse(data)
    if error:
        raise ValueError(error)
    return parsed


def manifest_argv(data: Any) -> tuple[str, ...] | None:
    """The command line of a static pod manifest's first container (command + args)."""
    try:
        container = data["spec"]["containers"][0]
        argv = [str(a) for a in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return tuple(argv) or None


_MSG = re.compile(r'\bmsg="((?:[^"\\]|\\.)*)"')


def journal_argv(lines: str, label: str) -> tuple[str, ...] | None:
    """The arguments of ``label`` from its LAST ``Running <label> …`` log line, or None.

    k3s logs each component it runs in-process once per start, in logrus's text format:
    ``time="…" level=info msg="Running kube-apiserver --advertise-port=6443 --profiling=false"``.
    The message is unquoted (``\\"`` and ``\\\\``), the text after the marker is split on spaces, as
    k3s joined the arguments with single spaces (so a value cannot hold a space), and argv[0] is
    the label. A line without ``msg="…"`` is read as it stands.

    >>> journal_argv('level=info msg="Running kubelet --a=1"\\nlevel=info msg="Running kubelet --a=2 --b="', "kubelet")
    ('kubelet', '--a=2', '--b=')
    """
    marker = f"Running {label} "
    last = next((line for line in reversed(lines.splitlines()) if marker in line), None)
    if last is None:
        return None
    m = _MSG.search(last)
    text = re.sub(r"\\(.)", r"\1", m.group(1)) if m and marker in m.group(1) else last
    return (label, *(a for a in text.split(marker, 1)[1].split(" ") if a))


def _match(components: tuple[Component, ...], comm: str, argv: tuple[str, ...]) -> Component | None:
    for comp in components:
        for proc in comp.processes:
            if _comm(proc[0]) != comm:
                continue
            if len(proc) == 1 or (len(argv) > 1 and argv[1] == proc[1]):
                return comp
    return None


def _stat(text: str) -> FileStat:
    head, sep, name = text.partition("|")
    parts = head.split(" ", 5)
    if not sep or len(parts) != 6:
        raise BatchError(f"unexpected stat line {text[:80]!r}")
    try:
        return FileStat(path=name, mode=int(parts[0], 8), uid=int(parts[1]), gid=int(parts[2]),
                        user=parts[3], group=parts[4], type=parts[5])
    except ValueError:
        raise BatchError(f"unexpected stat line {text[:80]!r}") from None


def _norm_path(path: str) -> str:
    path = re.sub(r"/{2,}", "/", path)
    return path.rstrip("/") or "/"


def build(records: list[Record], plan: Plan) -> HostFacts:
    """Turn parsed records into facts. Raises BatchError on records that make no sense."""
    hostname, uid = "", None
    processes: dict[str, ProcessFact] = {}
    envs: dict[int, dict[str, str]] = {}
    proc_order: list[tuple[Component, int, tuple[str, ...]]] = []
    paths: dict[str, ResolvedPath] = {}
    stats: dict[str, FileStat | None] = {}
    trees: dict[str, list[FileStat] | None] = {}
    tree_roots: dict[int, str] = {}
    reads: dict[int, bytes] = {}
    contents: dict[str, Content] = {}
    versions: dict[str, str] = {}
    journals: list[tuple[Component, int, str]] = []   # (component that logs, its pid, the lines)
    dirs: dict[str, list[Content]] = {}
    denied: set[str] = set()
    for rec in records:
        text = rec.payload.decode("utf-8", "surrogateescape")
        if rec.type == "host":
            for line in text.splitlines():
                key, _, value = line.partition("=")
                if key == "hostname":
                    hostname = value
                elif key == "uid" and value.isdigit():
                    uid = int(value)
        elif rec.type == "proc" and len(rec.args) == 2 and rec.args[0].isdigit():
            argv = tuple(a.decode("utf-8", "surrogateescape") for a in rec.payload.split(b"\0"))
            if argv and argv[-1] == "":
                argv = argv[:-1]
            comp = _match(plan.components, rec.args[1], argv)
            if comp is not None:
                proc_order.append((comp, int(rec.args[0]), argv))
        elif rec.type == "dirfile" and rec.args and rec.args[0].isdigit() and int(rec.args[0]) < len(plan.dirs):
            name, _, data = rec.payload.partition(b"\n")
            dirs.setdefault(plan.dirs[int(rec.args[0])], []).append(
                Content(name.decode("utf-8", "surrogateescape"),
                        "truncated" if len(data) >= MAX_FILE_BYTES else "present", data))
        elif rec.type == "version" and rec.args:
            versions[rec.args[0]] = text.strip()
        elif rec.type == "journal" and len(rec.args) == 2 and rec.args[1].isdigit():
            host = next((c for c in plan.components if c.name == rec.args[0] and c.embeds), None)
            if host is not None:
                journals.append((host, int(rec.args[1]), text))
        elif rec.type == "env" and rec.args and rec.args[0].isdigit():
            envs[int(rec.args[0])] = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)
        elif rec.type == "path" and rec.args:
            source, _, path = text.partition("\n")
            paths[rec.args[0]] = ResolvedPath(name=rec.args[0], path=path or None, source=source or "unresolved")
        elif rec.type == "absent":
            stats[text] = None
        elif rec.type == "denied":
            denied.add(text)
        elif rec.type == "s":
            st = _stat(text)
            stats[st.path] = st
        elif rec.type in ("tree", "treeabsent", "treedenied") and rec.args and rec.args[0].isdigit():
            root = _norm_path(text.rstrip("\n"))
            tree_roots[int(rec.args[0])] = root
            trees[root] = [] if rec.type == "tree" else None
            if rec.type == "treedenied":
                denied.add(root)
        elif rec.type == "t":
            idx, _, rest = text.partition(" ")
            root = tree_roots.get(int(idx)) if idx.isdigit() else None
            bucket = trees.get(root) if root is not None else None
            if bucket is None:
                raise BatchError("tree entry outside a tree listing")
            st = _stat(rest)
            bucket.append(FileStat(_norm_path(st.path), st.mode, st.uid, st.gid, st.user, st.group, st.type))
        elif rec.type == "read" and rec.args and rec.args[0].isdigit():
            reads[int(rec.args[0])] = rec.payload
        elif rec.type == "readrc" and len(rec.args) == 2 and rec.args[0].isdigit():
            k = int(rec.args[0])
            if k >= len(plan.reads):
                raise BatchError("read record for an unknown file")
            expr = plan.reads[k]
            names = var_names(expr)
            path = (paths[names[0]].path if names and names[0] in paths else None) if names else expr
            rc = rec.args[1]
            if rc == "unset" or path is None:
                continue
            if rc in ("absent", "unreadable"):
                contents[expr] = Content(path, rc)  # type: ignore[arg-type]
            elif rc == "0" and k in reads:
                data = reads[k]
                contents[expr] = Content(path, "truncated" if len(data) >= MAX_FILE_BYTES else "present", data)
            else:
                contents[expr] = Content(path, "unreadable")
    for comp, pid, argv in proc_order:
        if comp.name not in processes:
            processes[comp.name] = ProcessFact(component=comp.name, pid=pid, argv=argv, env=envs.get(pid, {}))
    labels = {c.name: c.label for c in plan.components}
    for host, pid, lines in journals:
        for inner in host.embeds:
            logged = journal_argv(lines, labels[inner]) if inner not in processes else None
            if logged is not None:
                processes[inner] = ProcessFact(component=inner, pid=pid, argv=logged, origin=(
                    f"{host.label} journal line 'Running {labels[inner]}' ({host.label} pid {pid})"))
    return HostFacts(hostname=hostname, uid=uid, processes=processes, paths=paths, stats=stats,
                     trees={k: (tuple(v) if v is not None else None) for k, v in trees.items()},
                     contents=contents, versions=versions, dirs={k: tuple(v) for k, v in dirs.items()},
                     denied=frozenset(denied))
