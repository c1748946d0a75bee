"""Where report files go (run folders, ``latest``, ``--flat``), the XLSX workbook read back with
openpyxl, coverage in every report, the console's section-5 line, and output bad input."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from fleetbench.cli import main
from fleetbench.report import FORMATS, console, from_dict, junit, run_folder, write
from fleetbench.report import html as html_report
from fleetbench.report import xlsx as xlsx_report
from fleetbench.report.csv import RESULT_COLUMNS

from .test_report import HYPERLINK, data  # noqa: F401  (the synthetic fleet fixture)

ROOT = Path(__file__).resolve().parent.parent
DDE = "=cmd|' /C calc'!A0"


def _model(data: dict[str, Any], **options: Any) -> Any:
    return from_dict({**data, "options": {**data["options"], **options}})


# --------------------------------------------------------------------------- run folders

def test_each_run_gets_its_folder_and_latest_follows(data, tmp_path):
    first = from_dict({**data, "run_id": "aaaaaaaaaaaa"})
    second = from_dict({**data, "run_id": "bbbbbbbbbbbb", "started": "2026-11-24T04:40:01+00:00"})
    one = write(first, ["json", "html"], tmp_path)
    assert one.folder == tmp_path / "20261123T044001Z-aaaaaaaaaaaa" == tmp_path / run_folder(first)
    assert os.readlink(tmp_path / "latest") == one.folder.name             # relative: the folder can move
    two = write(second, ["json"], tmp_path)
    assert os.readlink(tmp_path / "latest") == two.folder.name == "20261124T044001Z-bbbbbbbbbbbb"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([one.folder.name, two.folder.name, "latest"])
    assert sorted(p.name for p in (tmp_path / "latest").iterdir()) == ["report.json"]   # never a mix
    assert json.loads((tmp_path / "latest" / "report.json").read_text())["run_id"] == "bbbbbbbbbbbb"
    assert sorted(p.name for p in one.folder.iterdir()) == ["report.html", "report.json"]


def test_flat_keeps_fixed_names_and_removes_other_formats_of_an_earlier_run(data, tmp_path):
    model = from_dict(data)
    write(model, list(FORMATS), tmp_path, flat=True)
    again = write(model, ["json"], tmp_path, flat=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert sorted(p.name for p in again.removed) == ["clusters.csv", "junit.xml", "matrix.csv", "report.html",
                                                     "report.xlsx", "results.csv"]
    (tmp_path / "notes.txt").write_text("mine")                             # not ours: left alone
    write(model, ["csv"], tmp_path, flat=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters.csv", "matrix.csv", "notes.txt", "results.csv"]


# --------------------------------------------------------------------------- XLSX

def test_xlsx_is_text_cells_with_the_json_values(data, tmp_path):
    hosts = [dict(h) for h in data["hosts"]]
    w3 = next(h for h in hosts if h["name"] == "worker-3")
    w3["results"] = [{**r, "source": DDE} if r["id"] == "4.2.1" else r for r in w3["results"]]
    model = from_dict({**data, "hosts": hosts})
    path = tmp_path / "report.xlsx"
    path.write_bytes(xlsx_report.render(model)["report.xlsx"])
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["scan", "results", "clusters", "matrix control-plane,etcd", "matrix worker"]
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == ws.dimensions, ws.title
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is not None:
                    assert cell.data_type == "s" and cell.number_format == "@", (ws.title, cell.coordinate)
    rows = list(book["results"].iter_rows(values_only=True))
    assert rows[0] == RESULT_COLUMNS
    got = {(r[0], r[4]): dict(zip(RESULT_COLUMNS, r, strict=True)) for r in rows[1:]}
    for h in hosts:
        for r in h["results"]:
            cell = got[h["name"], r["id"]]
            for key in ("id", "title", "section", "status", "expected", "actual", "source", "remediation"):
                want = re.sub(r"[\x00-\x08\x0b-\x1f]", lambda m: f"\\x{ord(m.group()):02x}", r[key])
                assert (cell[key] or "") == want, (h["name"], r["id"], key)
            assert cell["scored"] == ("true" if r["scored"] else "false")
            assert (cell["run_id"], cell["scanned"]) == (data["run_id"], data["started"])
    assert got["worker-3", "4.2.1"]["source"] == DDE                    # shown as is, never a formula
    assert got["worker-3", "4.1.5"]["actual"] == HYPERLINK
    assert any(k[1] == "1.2.10" for k in got)                            # an id, not the number 1.21
    status = [c for c in next(book["results"].iter_cols(min_col=10, max_col=10)) if c.value == "FAIL"]
    assert status and all(c.fill.fgColor.rgb.endswith(xlsx_report.FILLS["FAIL"]) for c in status)
    worker = list(book["matrix worker"].iter_rows(values_only=True))
    assert worker[0][6:11] == ("worker-1", "worker-2", "worker-3", "worker-4", "down-1")
    five = next(r for r in worker if r[0] == "4.1.5")
    assert five[6:13] == ("PASS", "PASS", "FAIL", "PASS", "not assessed", "PASS 3/4", "worker-3: FAIL")
    assert not any(r[0].startswith("1.") for r in worker[1:])             # the workers' controls only
    scan = dict(book["scan"].iter_rows(min_row=2, values_only=True))
    assert scan["run_id"] == data["run_id"] and scan["host_key_checking"] == "false"


# --------------------------------------------------------------------------- coverage

def test_every_report_states_a_limited_scan(data):
    full = _model(data, inventory="fleet.yaml", limit=[], check=[], skip=[])
    page = html_report.render(full)["report.html"].decode()
    assert re.search(r'<small id="coverage">1 NOT assessed</small>', page)
    assert "every host in the inventory" in html_report.render(
        from_dict({**data, "hosts": [h for h in data["hosts"] if h["status"] == "ok"],
                   "options": {**data["options"], "inventory": "fleet.yaml"}}))["report.html"].decode()
    limited = _model(data, inventory="fleet.yaml", limit=["worker-*"], check=["4.2"], skip=["4.2.4"])
    page = html_report.render(limited)["report.html"].decode()
    card = re.search(r'<small id="coverage">(.*?)</small>', page).group(1)     # type: ignore[union-attr]
    assert "every host in the inventory" not in page
    assert "--limit worker-*; --check 4.2; --skip 4.2.4" in card and "fleet.yaml" in card
    assert "<dt>inventory</dt><dd><code>fleet.yaml</code></dd>" in page
    text = console.render(limited, per_host=False)
    assert text.splitlines()[0].endswith("inventory fleet.yaml; limited by --limit worker-*; --check 4.2; --skip 4.2.4")
    assert "Coverage: a limited scan (--limit worker-*; --check 4.2; --skip 4.2.4)" in text
    props = {p.get("name"): p.get("value") for p in ET.fromstring(junit.render(limited)["junit.xml"]).iter("property")}
    assert {k: props[k] for k in ("inventory", "limit", "check", "skip")} == {
        "inventory": "fleet.yaml", "limit": "worker-*", "check": "4.2", "skip": "4.2.4"}
    assert console.render(full, per_host=False).splitlines()[0].endswith("every host and control")


# --------------------------------------------------------------------------- console

def test_section_5_is_one_line_per_host(data):
    model = from_dict(data)
    cp = next(h for h in model.hosts if h.name == "cp-1")
    review = [r for r in cp.results if r.target == "policies" and r.status == "WARN"]
    assert len(review) > 20
    text = console.render_host(cp, dict(model.sections or {}))
    lines = [ln for ln in text.splitlines() if "policy controls (section 5)" in ln]
    assert lines == [f"[WARN] {len(review)} policy controls (section 5) need a review of the cluster's API "
                     "objects: see the HTML/JSON (--verbose lists them)"]
    assert not [ln for ln in text.splitlines() if re.match(r"(\[WARN\] )?5\.\d", ln)]
    assert text.count(review[0].remediation) <= 1 or all(r.remediation != review[0].remediation for r in review[1:])
    verbose = console.render_host(cp, dict(model.sections or {}), verbose=True)
    assert all(f"[WARN] {r.id} {r.title}" in verbose for r in review)


# --------------------------------------------------------------------------- bad input

@pytest.fixture
def listener():
    """A loopback port standing in for a host: it must never see a connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _contacted(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
        return True
    except BlockingIOError:
        return False


@pytest.mark.parametrize("case,needle", [
    ("out-dir-under-file", "--out-dir: cannot write to"),
    ("out-dir-is-file", "--out-dir: "),
    ("bundle-under-file", "--bundle: "),
    ("bundle-is-dir", "--bundle: "),
    ("latest-is-dir", "--out-dir: "),
    ("empty-format", "--format: no format given"),
])
def test_unwritable_outputs_are_refused_before_any_host(tmp_path, capsys, listener, case, needle):
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"hosts:\n  a: {{address: 127.0.0.1, port: {listener.getsockname()[1]}, roles: [worker]}}\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = tmp_path / "reports"
    args = {"out-dir-under-file": ["--out-dir", str(blocker / "sub")],
            "out-dir-is-file": ["--out-dir", str(blocker)],
            "bundle-under-file": ["--out-dir", str(out), "--bundle", str(blocker / "b.json")],
            "bundle-is-dir": ["--out-dir", str(out), "--bundle", str(tmp_path)],
            "latest-is-dir": ["--out-dir", str(out)],
            "empty-format": ["--out-dir", str(out), "--format", ""]}[case]
    if case == "latest-is-dir":
        (out / "latest").mkdir(parents=True)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    try:
        code = main(["scan", str(inv), "--connect-timeout", "1", *args])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2 and needle in captured.err, captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
    assert not _contacted(listener)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before    # nothing written


def _closed_pipe_run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run fleetbench with stdout a pipe nobody reads any more (`| head -1` after its line)."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "fleetbench", *argv], stdout=w, stderr=subprocess.PIPE,
                              cwd=cwd, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(w)


def test_a_closed_pipe_ends_listings_quietly(tmp_path):
    done = _closed_pipe_run("checks", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == b""


def test_a_closed_pipe_does_not_stop_a_scan(tmp_path):
    done = _closed_pipe_run("scan", "--local", "--out-dir", str(tmp_path / "out"), "--format", "json", cwd=tmp_path)
    assert done.returncode in (0, 3, 4) and b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr
    assert json.loads((tmp_path / "out" / "latest" / "report.json").read_text())["hosts"][0]["name"] == "localhost"


def test_the_console_names_the_run_folder(tmp_path, capsys):
    code = main(["scan", "--local", "--out-dir", str(tmp_path), "--format", "json", "--quiet"])
    out = capsys.readouterr().out
    folder = os.readlink(tmp_path / "latest")
    assert code in (0, 3, 4) and f"reports of run {folder.split('-', 1)[1]} in {tmp_path / folder}/" in out
