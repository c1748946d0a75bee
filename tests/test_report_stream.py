"""Report files at fleet scale: written one format at a time, streamed, still all-or-nothing.

Why: at 1,000 hosts, every format rendered in memory at once cost more than the scan itself
(README "Benchmark"). Streaming must not change a byte, and a format that fails to render must
still leave no file of the run behind.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fleetbench import report as R
from fleetbench.report import csv as csv_report
from fleetbench.report import from_dict, to_dict, write
from fleetbench.report import junit as junit_report
from fleetbench.report.model import Report
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


def _whole_tree(model: Report) -> bytes:
    """junit.xml as it was written before it was streamed: every suite in one tree, indented, serialised."""
    hosts = [junit_report._tally(h) for h in model.hosts]
    clusters = [junit_report._cluster_tally(c) for c in model.clusters]
    totals = {key: sum(t[key] for t in (*hosts, *clusters)) for key in ("tests", "failures", "errors", "skipped")}
    seconds = (datetime.fromisoformat(model.finished) - datetime.fromisoformat(model.started)).total_seconds()
    root = ET.Element("testsuites")
    root.extend(junit_report._suites(model, hosts, clusters, junit_report.scan_properties(model)))
    root.attrib.update({"name": f"fleetbench {model.benchmark}", "time": f"{seconds:.3f}",
                        **{k: str(v) for k, v in totals.items()}})
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def test_streamed_junit_is_what_the_whole_tree_writes(data: dict[str, Any]) -> None:  # noqa: F811
    """junit.xml is built a suite at a time (a 1,000-host tree was the largest block of a run's
    memory): its bytes are those of the whole tree, over several 64 KiB pieces, hosts not assessed,
    clusters, escapes and undecodable bytes included."""
    many = from_dict(dict(data, hosts=[dict(h, name=f"{h['name']}-{i}") for i in range(40) for h in data["hosts"]]))
    for model in (from_dict(data), many, from_dict(dict(data, hosts=[], clusters=[]))):
        pieces = list(junit_report.render_chunks(model))
        xml = b"".join(pieces)
        assert xml == _whole_tree(model)
        assert xml == junit_report.render(model)["junit.xml"]
    assert len(list(junit_report.render_chunks(many))) > 1
    root = ET.fromstring(junit_report.render(many)["junit.xml"])
    assert len(root) == len(many.hosts) + len(many.clusters)
    assert int(root.get("tests") or 0) == sum(int(s.get("tests") or 0) for s in root)


def test_a_format_failing_to_render_leaves_nothing(data: dict[str, Any], tmp_path: Path,  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: Any) -> dict[str, bytes]:
        raise RuntimeError("renderer broke")

    monkeypatch.setitem(R.WRITERS, "html", broken)
    with pytest.raises(RuntimeError):
        write(from_dict(data), ["json", "csv", "junit", "html"], tmp_path / "out")
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
