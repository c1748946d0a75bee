"""CSV, JUnit and HTML reports, read back and compared with the JSON model they are rendered from.

The fleet is synthesised from the real catalog through the real model (ScanReport → to_dict):
cp-1 (control-plane, etcd), four workers and one worker that was not assessed. worker-3 drifts,
with hostile evidence (a spreadsheet formula, HTML, control characters); worker-4 reaches the
same verdict as the others from another file. Host key checking is off, so it must be shown.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fleetbench.errors import HostError, HostStatus
from fleetbench.models import Catalog, Finding, Host, HostFacts, HostScan, ProcessFact, ScanReport, SSHSettings, Status
from fleetbench.report import FORMATS, build, fleetdata, from_dict, to_dict, write
from fleetbench.report import csv as csv_report
from fleetbench.report import html as html_report
from fleetbench.report import junit as junit_report
from fleetbench.report import matrix as M

HYPERLINK = '=HYPERLINK("http://x","y")'
IMG = "<img src=x onerror=alert(1)>"
T0 = datetime(2026, 11, 23, 4, 40, 1, 123000, tzinfo=UTC)
# worker-3's drift: id → (status, actual, source)
DRIFT = {
    "4.1.5": ("FAIL", HYPERLINK, "+stat /etc/kubernetes/kubelet.conf (path from flag --kubeconfig)"),
    "4.2.1": ("FAIL", "-1", "@SUM(A1) flag --anonymous-auth on the command line of kubelet"),
    "4.2.4": ("WARN", f"/etc/{IMG}", f"stat /etc/{IMG}\t(path from flag --config)"),
    "4.2.10": ("FAIL", "\tcmd\x1b[31m\x00", "\rsource"),
}


def _finding(control: Any, override: tuple[str, str, str] | None = None) -> Finding:
    if override:
        status, actual, source = override
    elif not control.automated:
        status, actual, source = "WARN", "manual", "the benchmark's manual procedure"
    else:
        status, actual, source = "PASS", "600", f"stat /etc/{control.check.id}"
    reason = "manual check" if not control.automated else ""
    return Finding(control=control, status=Status(status), expected=f"expected of {control.id}", actual=actual,
                   source=source, remediation=f"chmod 600 /etc/{control.check.id}", reason=reason)


def _host(name: str, roles: tuple[str, ...], index: int) -> Host:
    return Host(name=name, address=f"127.79.1.{index}", roles=roles, groups=(), ssh=SSHSettings(), paths={},
                origin=f"test:{index}")


def _scan(catalog: Catalog, name: str, roles: tuple[str, ...], index: int, targets: tuple[str, ...],
          overrides: dict[str, tuple[str, str, str]] | None = None, argv: tuple[str, ...] = ()) -> HostScan:
    controls = [c for c in catalog.benchmarks["cis-1.12"].controls if c.target in targets]
    facts = HostFacts(hostname=name, uid=0, processes={"kubelet": ProcessFact("kubelet", 42, ("/usr/bin/kubelet", *argv))},
                      paths={}, stats={}, trees={}, contents={})
    return HostScan(host=_host(name, roles, index), benchmark="cis-1.12", started=T0 + timedelta(seconds=index),
                    seconds=0.25 * index, findings=tuple(_finding(c, (overrides or {}).get(c.id)) for c in controls),
                    facts=facts)


@pytest.fixture(scope="module")
def data(catalog: Catalog) -> dict[str, Any]:
    node = ("node",)
    hosts = (
        _scan(catalog, "cp-1", ("control-plane", "etcd"), 1, ("master", "etcd", "controlplane", "node", "policies"),
              {"1.1.12": ("FAIL", "root:root (0:0)", "stat /var/lib/etcd")}),
        _scan(catalog, "worker-1", ("worker",), 2, node),
        _scan(catalog, "worker-2", ("worker",), 3, node),
        _scan(catalog, "worker-3", ("worker",), 4, node, DRIFT, argv=(f"--node-labels={IMG}",)),
        _scan(catalog, "worker-4", ("worker",), 5, node, {"4.1.9": ("PASS", "600", "stat /etc/other/config.yaml")}),
        HostScan(host=_host("down-1", ("worker",), 6), benchmark="cis-1.12", started=T0, seconds=5.0,
                 error=HostError(HostStatus.UNREACHABLE, "connection refused by 127.79.1.6:22")),
    )
    report = ScanReport(tool_version="0.1.0", benchmark="cis-1.12", catalog_digest=catalog.digest, started=T0,
                        finished=T0 + timedelta(seconds=7), hosts=hosts,
                        options={"targets": [], "check": [], "skip": [], "host_key_checking": False, "local": False,
                                 "concurrency": 50, "timeout": 120.0})
    return to_dict(build(report, sections=catalog.benchmarks["cis-1.12"].sections))


def _statuses(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {h["name"]: {r["id"]: r["status"] for r in h["results"]} for h in data["hosts"]}


def _text_cell(value: Any) -> str:
    """How a JSON value must appear in a CSV cell: formula starters behind a quote."""
    text = ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --------------------------------------------------------------------------- model and matrix

def test_sections_are_optional_in_the_model(data, catalog):
    assert data["sections"]["4.2"] == catalog.benchmarks["cis-1.12"].sections["4.2"]
    assert all(k in data for k in ("tool", "version", "schema", "hosts", "summary", "options"))


def test_matrix_majority_outliers_and_deviations(data):
    matrix = M.build(from_dict(data))
    assert [name for name, _ in matrix.groups] == ["control-plane,etcd", "worker"]
    assert [h.name for h in matrix.hosts] == ["cp-1", "worker-1", "worker-2", "worker-3", "worker-4", "down-1"]
    row = next(r for r in matrix.rows if r.id == "4.1.5")
    workers = row.groups[1]
    assert (workers.majority, workers.majority_count, workers.ran) == ("PASS", 3, 4)
    assert [c.host.name for c in workers.outliers] == ["worker-3"]
    assert [c.status for c in workers.cells] == ["PASS", "PASS", "FAIL", "PASS", M.NOT_ASSESSED]
    nine = next(r for r in matrix.rows if r.id == "4.1.9").groups[1]   # same verdict, other file
    assert not nine.outliers and [c.host.name for c in nine.deviations] == ["worker-4"]
    assert [c.host.name for c in nine.baseline_cells] == ["worker-1", "worker-2", "worker-3"]
    control = next(r for r in matrix.rows if r.id == "1.1.1")
    assert [c.status for c in control.groups[1].cells] == [M.NOT_APPLICABLE] * 4 + [M.NOT_ASSESSED]
    assert [r.id for r in matrix.rows] == sorted({r["id"] for h in data["hosts"] for r in h["results"]},
                                                 key=lambda i: [int(p) for p in i.split(".")])


def test_a_tie_flags_the_worse_verdict(data):
    two = {**data, "hosts": [h for h in data["hosts"] if h["name"] in ("worker-1", "worker-3")]}
    row = next(r for r in M.build(from_dict(two)).rows if r.id == "4.2.1")
    assert row.groups[0].majority == "PASS" and [c.host.name for c in row.outliers] == ["worker-3"]


def test_a_fleet_on_several_benchmarks_gets_a_row_per_version(data):
    """worker-4 on cis-1.11: its controls are other rows (an id can name another recommendation)."""
    mixed = {**data, "hosts": [{**h, "benchmark": "cis-1.11"} if h["name"] == "worker-4" else h for h in data["hosts"]]}
    matrix = M.build(from_dict(mixed))
    assert matrix.benchmarks == ("cis-1.11", "cis-1.12")
    keys = [r.key for r in matrix.rows if r.id == "4.1.9"]
    assert keys == ["4.1.9@cis-1.11", "4.1.9@cis-1.12"]
    old, new = (next(r for r in matrix.rows if r.key == k) for k in keys)
    assert [c.status for c in old.groups[1].cells] == [M.NOT_APPLICABLE] * 3 + ["PASS", M.NOT_ASSESSED]
    assert [c.status for c in new.groups[1].cells] == ["PASS"] * 3 + [M.NOT_APPLICABLE, M.NOT_ASSESSED]
    rows = _read_csv(csv_report.render(from_dict(mixed))["matrix.csv"])
    assert [(r[0], r[-3]) for r in rows if r[0] == "4.1.9"] == [("4.1.9", "cis-1.11"), ("4.1.9", "cis-1.12")]
    page = html_report.render(from_dict(mixed))["report.html"].decode()
    assert 'id="r-4.1.9@cis-1.11"' in page and 'id="c-4.1.9@cis-1.12"' in page


def test_fleet_score_and_coverage(data):
    assessed = [r for h in data["hosts"] if h["status"] == "ok" for r in h["results"]]
    scored = Counter(r["status"] for r in assessed if r["scored"] and r["automated"])
    fleet = M.fleet(from_dict(data))
    assert (fleet.passed, fleet.failed) == (scored["PASS"], scored["FAIL"]) and scored["FAIL"] == 4
    assert fleet.score == f"{100 * scored['PASS'] / (scored['PASS'] + scored['FAIL']):.1f}%"
    assert (fleet.hosts_assessed, fleet.hosts) == (5, 6)
    assert (fleet.decided, fleet.selected) == (sum(r["status"] in ("PASS", "FAIL") for r in assessed), len(assessed))


# --------------------------------------------------------------------------- CSV

def _read_csv(payload: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(payload.decode("utf-8"), newline="")))


def test_matrix_csv_matches_json(data):
    rows = _read_csv(csv_report.render(from_dict(data))["matrix.csv"])
    header, body = rows[0], rows[1:]
    hosts = ["cp-1", "worker-1", "worker-2", "worker-3", "worker-4", "down-1"]
    assert header == ["id", "title", "section", "target", "scored", "automated", *hosts, "majority", "outliers",
                      "benchmark", "run_id", "scanned"]
    statuses = _statuses(data)
    ids = sorted({i for s in statuses.values() for i in s}, key=lambda i: [int(p) for p in i.split(".")])
    assert [r[0] for r in body] == ids
    for r in body:
        cells = dict(zip(hosts, r[6:-5], strict=True))
        assert r[-2:] == [data["run_id"], data["started"]]
        for host in hosts[:-1]:
            assert cells[host] == statuses[host].get(r[0], "n/a")
        assert cells["down-1"] == "not assessed"
    five = next(r for r in body if r[0] == "4.1.5")
    assert five[2:6] == ["4.1", "node", "true", "true"]
    assert five[-5:-2] == ["control-plane,etcd: PASS 1/1; worker: PASS 3/4", "worker-3: FAIL", "cis-1.12"]


def test_results_csv_matches_json(data):
    reader = csv.DictReader(io.StringIO(csv_report.render(from_dict(data))["results.csv"].decode("utf-8"), newline=""))
    assert tuple(reader.fieldnames or ()) == csv_report.RESULT_COLUMNS
    rows = list(reader)
    expected = []
    for h in data["hosts"]:
        host = {"host": h["name"], "address": h["address"], "roles": ",".join(h["roles"]), "host_status": h["status"],
                "benchmark": h["benchmark"], "run_id": data["run_id"], "scanned": data["started"]}
        unwaived = {"waived": "false", **dict.fromkeys(("waiver_reason", "waiver_owner", "waiver_ticket",
                                                       "waiver_expires", "waiver_origin"), "")}
        if h["status"] != "ok":
            expected.append({**dict.fromkeys(csv_report.RESULT_COLUMNS, ""), **host, "status": "not assessed",
                             "reason": h["error"], **unwaived})
        for r in h["results"]:
            evidence = csv_report.RESULT_COLUMNS[4:csv_report.RESULT_COLUMNS.index("benchmark")]
            expected.append({**host, **{k: _text_cell(r[k]) for k in evidence}, **unwaived})
    assert rows == expected
    assert Counter(r["status"] for r in rows) == Counter({**{k: v for k, v in data["summary"].items()
                                                            if k in M.STATUSES}, "not assessed": 1})


def test_csv_cells_cannot_be_formulas(data):
    rows = {(r["host"], r["id"]): r
            for r in csv.DictReader(io.StringIO(csv_report.render(from_dict(data))["results.csv"].decode(), newline=""))}
    assert rows["worker-3", "4.1.5"]["actual"] == "'" + HYPERLINK
    assert rows["worker-3", "4.1.5"]["source"].startswith("'+stat ")
    assert rows["worker-3", "4.2.1"]["actual"] == "'-1"
    assert rows["worker-3", "4.2.1"]["source"].startswith("'@SUM(A1)")
    assert rows["worker-3", "4.2.10"]["actual"].startswith("'\tcmd")
    assert rows["worker-3", "4.2.10"]["source"] == "'\rsource"
    assert rows["worker-3", "4.2.4"]["source"] == f"stat /etc/{IMG}\t(path from flag --config)"   # only a leading one
    for text in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"):
        assert csv_report.safe_cell(text) == "'" + text
    assert csv_report.safe_cell("a=1") == "a=1" and csv_report.safe_cell(True) == "true"


# --------------------------------------------------------------------------- JUnit

# The common JUnit schema (Ant / Jenkins junit-10.xsd): allowed children and attributes.
_ATTRS = {
    "testsuites": {"name", "time", "tests", "failures", "errors", "skipped", "disabled"},
    "testsuite": {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname", "id", "package",
                  "disabled"},
    "properties": set(), "property": {"name", "value"},
    "testcase": {"name", "classname", "time", "assertions", "status"},
    "failure": {"message", "type"}, "error": {"message", "type"}, "skipped": {"message"},
}
_CHILDREN = {"testsuites": {"testsuite"}, "testsuite": {"properties", "testcase"}, "properties": {"property"},
             "testcase": {"failure", "error", "skipped"}, "property": set(), "failure": set(), "error": set(),
             "skipped": set()}


def _check_schema(el: ET.Element) -> None:
    assert set(el.attrib) <= _ATTRS[el.tag], (el.tag, el.attrib)
    for child in el:
        assert child.tag in _CHILDREN[el.tag], (el.tag, child.tag)
        _check_schema(child)
    for count in ("tests", "failures", "errors", "skipped"):
        if count in el.attrib:
            assert el.attrib[count].isdigit()
    if "time" in el.attrib:
        assert float(el.attrib["time"]) >= 0
    if el.tag == "testsuite":
        assert "name" in el.attrib and "tests" in el.attrib
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", el.attrib["timestamp"])
        tags = [c.tag for c in el]
        assert tags.count("properties") <= 1 and (tags[0] == "properties" or "properties" not in tags)
    if el.tag == "testcase":
        assert "name" in el.attrib


def test_junit_matches_json(data):
    root = ET.fromstring(junit_report.render(from_dict(data))["junit.xml"])
    _check_schema(root)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [h["name"] for h in data["hosts"]]
    totals = Counter()
    for suite, h in zip(suites, data["hosts"], strict=True):
        cases = suite.findall("testcase")
        assert {c.get("classname") for c in cases} == {h["name"]}
        assert dict(p.attrib.values() for p in suite.iter("property")) == {
            "roles": ",".join(h["roles"]), "benchmark": h["benchmark"], "status": h["status"], "run_id": data["run_id"]}
        if h["status"] != "ok":
            assert [c.get("name") for c in cases] == ["not assessed"]
            error = cases[0].find("error")
            assert error is not None and h["error"] in error.get("message", "") and error.get("type") == h["status"]
        else:
            assert [c.get("name") for c in cases] == [f"{r['id']} {r['title']}" for r in h["results"]]
            for case, r in zip(cases, h["results"], strict=True):
                kinds = [child.tag for child in case]
                assert kinds == {"PASS": [], "FAIL": ["failure"], "WARN": ["skipped"], "INFO": ["skipped"]}[r["status"]]
                if r["status"] == "FAIL" and "\x00" not in r["actual"]:
                    failure = case.find("failure")
                    assert failure is not None
                    assert failure.get("message") == f"expected {r['expected']}; actual {r['actual']}; from {r['source']}"
                    assert f"actual: {r['actual']}\nsource: {r['source']}" in (failure.text or "")
        counts = {k: int(suite.get(k, "")) for k in ("tests", "failures", "errors", "skipped")}
        assert counts == {"tests": len(cases), "failures": len(suite.findall("testcase/failure")),
                          "errors": len(suite.findall("testcase/error")), "skipped": len(suite.findall("testcase/skipped"))}
        totals.update(counts)
    assert {k: int(root.get(k, "")) for k in totals} == dict(totals)
    assert totals["failures"] == data["summary"]["FAIL"]
    assert totals["skipped"] == data["summary"]["WARN"] + data["summary"]["INFO"]
    assert totals["errors"] == data["summary"]["hosts_not_assessed"] == 1


def test_control_characters_and_undecodable_bytes(data):
    """JUnit writes what XML cannot carry as \\xNN; every format survives a byte that is not UTF-8."""
    suite = next(s for s in ET.fromstring(junit_report.render(from_dict(data))["junit.xml"]) if s.get("name") == "worker-3")
    cases = {c.get("name", "").split()[0]: c for c in suite.findall("testcase")}
    assert cases["4.2.4"].find("skipped").get("message", "").count(IMG) == 2   # type: ignore[union-attr]
    ctl = cases["4.2.10"].find("failure").get("message", "")                  # type: ignore[union-attr]
    assert "actual \tcmd\\x1b[31m\\x00; from \rsource" in ctl                 # no raw control characters
    weird = {**data, "hosts": [{**data["hosts"][3], "results": [{**data["hosts"][3]["results"][0],
                                                                 "status": "FAIL", "actual": "caf\udce9"}]}]}
    assert "actual caf\\xe9" in junit_report.render(from_dict(weird))["junit.xml"].decode()   # undecodable byte from the node
    assert "caf\\udce9" in html_report.render(from_dict(weird))["report.html"].decode()
    assert "caf\\udce9" in csv_report.render(from_dict(weird))["results.csv"].decode()


# --------------------------------------------------------------------------- HTML

class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <script> and <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, text: str) -> None:
        if self._in:
            self.raw[self._in] = self.raw.get(self._in, "") + text


@pytest.fixture(scope="module")
def page(data) -> str:
    return html_report.render(from_dict(data))["report.html"].decode("utf-8")


def test_html_escapes_node_data(page):
    assert "<img" not in page and IMG not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page            # actual, source, argv: shown as text
    assert page.count("<script") == 1
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)" in page


def test_html_is_self_contained(page):
    parser = _Tags()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    assert not tags & {"img", "link", "iframe", "object", "embed", "audio", "video", "source", "base", "frame"}
    for tag, attrs in parser.tags:
        assert "src" not in attrs and "srcset" not in attrs, tag
        assert (attrs.get("href") or "#").startswith("#"), attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    assert "url(" not in parser.raw["style"] and "@import" not in parser.raw["style"]
    assert not re.search(r"fetch|XMLHttpRequest|WebSocket|EventSource|import\(|sendBeacon", parser.raw["script"])
    csp = next(a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    digest = base64.b64encode(hashlib.sha256(parser.raw["script"].encode()).digest()).decode()
    assert f"default-src 'none'; script-src 'sha256-{digest}';" in (csp or "")


def test_html_shows_what_was_not_assessed_and_insecure_scans(page, data):
    assert 'id="insecure"' in page and "Host key checking was DISABLED" in page
    assert 'id="not-assessed"' in page and "connection refused by 127.79.1.6:22" in page
    matrix = page[page.index('<table id="matrix"'):page.index("</table>", page.index('<table id="matrix"'))]
    rows = re.findall(r'<tr class="r" id="r-([0-9.]+)".*?</tr>', matrix, re.S)
    assert len(rows) == len({r["id"] for h in data["hosts"] for r in h["results"]})
    for row in re.findall(r'<tr class="r".*?</tr>', matrix, re.S):   # down-1, the last column: never blank or PASS
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[-4] == "not assessed"
    fleet = M.fleet(from_dict(data))
    assert f'<div class="big">{fleet.score}</div>' in page and '<div class="big">5/6</div>' in page


def test_html_marks_outliers_with_their_values(page):
    row = re.search(r'<tr class="r" id="r-4\.1\.5".*?</tr>', page, re.S)
    assert row is not None
    outliers = re.findall(r'<td class="f o" title="([^"]*)">FAIL</td>', row.group())
    assert outliers == ["worker-3: FAIL, actual =HYPERLINK(&#34;http://x&#34;,&#34;y&#34;); "
                        "worker majority PASS (3/4), usually 600"]
    assert '<td class="p m">PASS 3/4</td>' in row.group()


def test_html_titles_sections_from_the_model_never_from_the_catalog(data, catalog):
    """The report layer reads the model only: a report re-rendered later shows the titles it was
    scanned with, and without titles it shows the numbers, not whatever catalog is on disk now."""
    title = catalog.benchmarks["cis-1.12"].sections["4.2"]
    own = html_report.render(from_dict({**data, "sections": {"4": "Worker Nodes", "4.2": "Our own title"}}))
    assert "4.2 Our own title" in own["report.html"].decode() and f"4.2 {title}" not in own["report.html"].decode()
    legacy = html_report.render(from_dict({k: v for k, v in data.items() if k != "sections"}))["report.html"].decode()
    assert f"4.2 {title}" not in legacy and '<tr class="sec"><th colspan' in legacy
    assert not hasattr(html_report, "load_catalog")


def test_every_format_is_written(data, tmp_path: Path):
    assert set(FORMATS) >= {"json", "html", "csv", "junit"}
    paths = write(from_dict(data), ["json", "html", "csv", "junit"], tmp_path, flat=True).paths
    assert sorted(p.name for p in paths) == ["clusters.csv", "junit.xml", "matrix.csv", "report.html", "report.json",
                                             "results.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)   # no temporary file left


# --------------------------------------------------------------------------- HTML: the compact page of a large fleet

def _blob(page: str) -> tuple[str, dict[str, Any]]:
    start = page.index('<script type="application/json" id="fleet-data">')
    text = page[page.index(">", start) + 1:page.index("</script>", start)]
    return text, json.loads(text)


def test_compact_page_data_is_the_matrix(data):
    """Every cell of the blob is the matrix's status (outliers in upper case), and every host's result
    is found again from it: its own deviation, or its role group's baseline (what fleet.js shows)."""
    model = from_dict(data)
    page = html_report.render(model, compact=True)["report.html"].decode()
    text, blob = _blob(page)
    assert "<" not in text and ">" not in text and "&" not in text                # nothing can end the element
    assert IMG not in page and page.count("<script") == 2
    assert '<tr class="r"' not in page and 'id="h-worker-3"' not in page           # no static matrix or host details
    matrix = M.build(model)
    names = [h[0] for h in blob["hosts"]]
    assert names == [h.name for h in matrix.hosts]
    strings, results = blob["s"], blob["r"]
    for row, (key, cid, *_, cells, groups, deviations) in zip(matrix.rows, blob["rows"], strict=True):
        assert (key, cid) == (row.key, row.id)
        assert cells == "".join(fleetdata.CODE[c.status].upper() if c.outlier else fleetdata.CODE[c.status]
                                for c in row.cells)
        own = dict((h, r) for h, r in deviations)
        for i, cell in enumerate(row.cells):
            if cell.result is None:
                continue
            r = cell.result
            found = results[own[i]] if i in own else results[groups[blob["hosts"][i][4]][3]]
            assert found[0] == fleetdata.CODE[r.status]
            assert [strings[j] if j >= 0 else "" for j in found[1:5]] == [r.actual, r.source, r.reason, r.remediation]
    down = blob["hosts"][names.index("down-1")]
    assert down[13] == 0 and set(blob["rows"][0][10][names.index("down-1")]) == {"x"}
    assert "connection refused by 127.79.1.6:22" in page                            # the not-assessed host: static


def test_the_page_is_compact_above_static_hosts(data):
    base = [h for h in data["hosts"] if h["status"] == "ok"][-1]
    fleet = [{**base, "name": f"n-{i}"} for i in range(html_report.STATIC_HOSTS + 1)]
    large = html_report.render(from_dict({**data, "hosts": fleet}))["report.html"].decode()
    small = html_report.render(from_dict({**data, "hosts": fleet[1:]}))["report.html"].decode()
    assert 'id="fleet-data"' in large and 'id="attention"' in large and 'id="host-table"' not in large
    assert 'id="fleet-data"' not in small and 'id="host-table"' in small and small.count('<tr class="r"') > 0
