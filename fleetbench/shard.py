"""Which shard a host belongs to: a stable hash of its name (README, "Shards and run groups").

Why a hash of the name, not a position: every jump host of a run group computes the split from its
own copy of the inventory, and the split must not move when hosts are listed in another order or
one host is added (only that host's shard changes). SHA-256 is the same on every machine and every
Python (``hash()`` is salted per process). The rule, to predict it by hand::

    shard(name, N) = int.from_bytes(sha256(name.encode("utf-8")).digest()[:8], "big") % N + 1
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import UsageError
from .models import Host

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
#: the largest N accepted (far beyond any sensible number of jump hosts or processes)
MAX_SHARDS = 10_000


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (1 ≤ index ≤ count)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index


def shard_of(name: str, count: int) -> int:
    """The shard (1 … count) of the host ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") % count + 1


def parse(text: str, flag: str = "--shard") -> Shard:
    """``"2/4"`` → Shard(2, 4); anything else is a one-line usage error naming ``flag``."""
    m = _SPEC.match(text)
    if m is None:
        raise UsageError(flag, f"expected I/N (this process scans shard I of N, 1 ≤ I ≤ N), got '{text}'")
    index, count = int(m[1]), int(m[2])
    if not 1 <= index <= count or count > MAX_SHARDS:
        raise UsageError(flag, f"expected I/N with 1 ≤ I ≤ N ≤ {MAX_SHARDS}, got '{text}'")
    return Shard(index, count)


def select(hosts: Iterable[Host], shard: Shard) -> tuple[Host, ...]:
    """The hosts of ``shard``, in their order."""
    return tuple(h for h in hosts if shard.holds(h.name))
