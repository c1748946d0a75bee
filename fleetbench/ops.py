"""Comparison operators, with kube-bench's names and its wording of the expected result.

Semantics follow kube-bench (check/test.go) with two deliberate differences, both documented
in the README: ``eq``/``noteq`` compare Go durations and integers by value (``0s`` equals
``0``; kube-bench compares the strings, so ``0s`` passed ``noteq 0``), and ``bitmask`` is
only used on file modes, where it means "no permission bit outside the mask".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _norm(value: str) -> str:
    """Canonical text for equality: lower-case booleans, durations and integers as numbers."""
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    if re.fullmatch(r"-?\d+", text):
        return str(int(text))
    if _DURATION.match(text):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
        return str(int(seconds)) if seconds == int(seconds) else repr(seconds)
    return text


def _int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def _elements(value: str) -> list[str]:
    return [e.strip() for e in value.split(",") if e.strip()]


def _valid_elements(actual: str, allowed: str) -> bool:
    got, ok = _elements(actual), set(_elements(allowed))
    if not got and not ok:
        return True
    return bool(got) and all(e in ok for e in got)


def _gte(actual: str, wanted: str) -> bool:
    a, w = _int(actual), _int(wanted)
    return a is not None and w is not None and a >= w


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    needs_value: bool
    test: Callable[[str, str], bool]      #: (actual, expected value) → holds
    wording: str                          #: kube-bench's phrasing, with {flag} and {value}


OPS: dict[str, Op] = {op.name: op for op in (
    Op("eq", True, lambda a, v: _norm(a) == _norm(v), "'{flag}' is equal to '{value}'"),
    Op("noteq", True, lambda a, v: _norm(a) != _norm(v), "'{flag}' is not equal to '{value}'"),
    Op("has", True, lambda a, v: v in a, "'{flag}' has '{value}'"),
    Op("nothave", True, lambda a, v: v not in a, "'{flag}' does not have '{value}'"),
    Op("gte", True, _gte, "'{flag}' is greater or equal to {value}"),
    Op("valid_elements", True, _valid_elements, "'{flag}' contains valid elements from '{value}'"),
    Op("regex", True, lambda a, v: re.search(v, a) is not None, "'{flag}' matched by regex expression '{value}'"),
    Op("present", False, lambda a, v: True, "'{flag}' is present"),
    Op("absent", False, lambda a, v: False, "'{flag}' is not present"),
    Op("bitmask", True, lambda a, v: mode_within(int(a, 8), v), "permissions are {value} or more restrictive"),
)}


def mode_within(mode: int, mask: str) -> bool:
    """True iff ``mode`` sets no permission bit outside the octal ``mask``.

    >>> mode_within(0o400, "600"), mode_within(0o640, "600"), mode_within(0o640, "644")
    (True, False, True)
    """
    allowed = int(mask, 8)
    return (mode & 0o7777) & ~allowed == 0


def expected_text(op: str, flag: str, value: str | None) -> str:
    return OPS[op].wording.format(flag=flag, value=value if value is not None else "")
