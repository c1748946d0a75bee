"""Probe records → typed :class:`HostFacts`, and the readers every check kind shares. Pure, no I/O.

:func:`build` hands each record to the parser of its kind (``records.py``); no plan is needed,
as records name their keys. The readers: :func:`flag_value` (a flag from an exact argv, with the
same rules as the script's ``fb_get``), :func:`config_value` (a dotted key from a parsed
YAML/JSON config) and :func:`journal_argv` (defined with its record kind), the command line of a
component that k3s runs inside its own process, from the line in which k3s logs it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from .models import Component, HostFacts, Record
from .records import PARSERS, Builder, journal_argv

__all__ = ["build", "config_text", "config_value", "flag_value", "gate_value", "is_unset", "journal_argv",
           "manifest_argv", "parse_config"]

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


def build(records: Iterable[Record], components: Iterable[Component]) -> HostFacts:
    """Turn parsed records into facts; ``components`` (the catalog's) tell which processes are ours.

    Records of a type no kind knows are ignored (a newer probe's extra kind); ``done`` ends the output.

    Raises:
        BatchError: a record that makes no sense (a garbled stat line, a tree entry outside a tree).
    """
    builder = Builder(tuple(components))
    for rec in records:
        kind = PARSERS.get(rec.type)
        if kind is not None:
            kind.parse(rec, builder)
    return builder.finish()
