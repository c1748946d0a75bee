"""Report files at fleet scale: written one format at a time, streamed, still all-or-nothing.

Why: at 1,000 hosts, every format rendered in memory at once cost more than the scan itself
(README "Benchmark"). Streaming must not change a byte, and a format that fails to render must
still leave no file of the run behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fleetbench import report as R
from fleetbench.report import csv as csv_report
from fleetbench.report import from_dict, to_dict, write
from tests.test_report import data  # noqa: F401 - the report fixture (escapes, non-ASCII, a host not assessed)


def test_streamed_files_are_the_same_bytes(data: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    model = from_dict(data)
    written = write(model, ["json", "csv"], tmp_path, flat=True)
    assert sorted(p.name for p in written.paths) == ["clusters.csv", "matrix.csv", "report.json", "results.csv"]
    expected = (json.dumps(to_dict(model), indent=2, ensure_ascii=False) + "\n").encode()
    assert (tmp_path / "report.json").read_bytes() == expected
    for name, payload in csv_report.render(model).items():
        assert (tmp_path / name).read_bytes() == payload
    assert not list(tmp_path.glob(".*.tmp"))


def test_more_than_one_piece_is_joined_exactly(data: dict[str, Any]) -> None:  # noqa: F811
    """Enough hosts for several 64 KiB pieces of report.json and results.csv."""
    many = dict(data, hosts=[dict(h, name=f"{h['name']}-{i}") for i in range(40) for h in data["hosts"]])
    model = from_dict(many)
    pieces = list(R._json_chunks(model))
    assert len(pieces) > 1
    assert b"".join(pieces) == (json.dumps(to_dict(model), indent=2, ensure_ascii=False) + "\n").encode()
    results = dict(csv_report.render_chunks(model))["results.csv"]
    assert b"".join(results) == csv_report.render(model)["results.csv"]


def test_a_format_failing_to_render_leaves_nothing(data: dict[str, Any], tmp_path: Path,  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: Any) -> dict[str, bytes]:
        raise RuntimeError("renderer broke")

    monkeypatch.setitem(R.WRITERS, "junit", broken)
    with pytest.raises(RuntimeError):
        write(from_dict(data), ["json", "csv", "junit"], tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


@pytest.mark.parametrize("value", [
    {}, [], {"a": {}, "b": [], "c": [[]], "d": [{}]}, "\x01hosts\x01 </script> é ü \u2028 \udcff \t\n\"\\",
    {"f": [0.1, 1e300, -0.0, 3.0, 12345678901234567890], "n": None, "t": True, "x": False},
    {2: "int key", 2.5: "float key", True: "bool key", None: "none key"}, ({"tuple": (1, "2")},),
])
def test_the_indenter_writes_what_json_dumps_writes(value: Any) -> None:
    assert R._indented(value, 0) == json.dumps(value, indent=2, ensure_ascii=False)


def test_a_host_value_that_looks_like_the_hosts_marker_stays_a_value(data: dict[str, Any]) -> None:  # noqa: F811
    odd = dict(data, hosts=[dict(h, name=f"\x01hosts\x01{h['name']}") for h in data["hosts"]])
    model = from_dict(odd)
    assert b"".join(R._json_chunks(model)) == (json.dumps(to_dict(model), indent=2, ensure_ascii=False) + "\n").encode()
