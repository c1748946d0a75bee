"""Shards: the stable hash that splits a fleet, and the --shard flag's parsing."""

from __future__ import annotations

import hashlib
import random

import pytest

from fleetbench.errors import UsageError
from fleetbench.shard import Shard, parse, select, shard_of


def test_the_documented_formula_and_its_independence_of_order():
    names = [f"node-{i:03}" for i in range(300)]
    for name in names[:20]:
        assert shard_of(name, 3) == int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 3 + 1
    assert (shard_of("cp-1", 2), shard_of("down-1", 2)) == (2, 1)       # fixed values: the split never moves
    parts = [select([type("H", (), {"name": n})() for n in names], Shard(i, 3)) for i in (1, 2, 3)]
    assert sorted(h.name for p in parts for h in p) == names            # every host in exactly one shard
    assert all(60 <= len(p) <= 140 for p in parts)                      # and roughly evenly
    shuffled = names[:]
    random.Random(7).shuffle(shuffled)
    assert {n for n in shuffled if Shard(2, 3).holds(n)} == {h.name for h in parts[1]}


def test_parse():
    assert parse("2/4") == Shard(2, 4) and str(parse(" 1 / 1 ")) == "1/1"
    for bad in ("0/2", "3/2", "1/0", "a/b", "1", "", "-1/2", "1/100001"):
        with pytest.raises(UsageError, match="--shard: expected I/N"):
            parse(bad)
