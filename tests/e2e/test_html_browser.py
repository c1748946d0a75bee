"""report.html of a real lab scan, in a real headless Chromium.

Scans the loopback lab (cp-1, worker-1, worker-2 where worker-2 drifts) with every format, opens
report.html in Chromium and asserts on the DOM after the inline script ran: one column per host,
one row per check, worker-2's drift marked as outliers, the filters and sorting working, no script
error, no CSP violation and no request other than the file itself. A second page renders the same
report with hostile node data (HTML in actual/source/argv, a host not assessed) and asserts it is
shown as text, never parsed.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages
separated by NUL bytes on fds 3 and 4), so no Python package is needed; the browser resolves no
name and may only reach 127.0.0.1:9 (closed) as its proxy. Skipped when Chromium is not installed
(``make test`` installs it). ``FLEETBENCH_SCREENSHOT=docs/report.png`` also saves the screenshot
used in the README.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fleetbench.cli import main
from fleetbench.report import from_dict, html
from tests.browser import CHROMIUM, Browser
from tests.lab import Lab, default_specs
from tests.lab.kubeapi import KubeAPI, load

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)"),
    pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(),
                       reason="openssh-server is not installed (make test installs it)"),
]
HOSTILE = '<img src=x onerror="window.__xss=1">'

# Reads the matrix back from the DOM: host columns, check rows, every cell's text and outlier mark.
READ_MATRIX = """(() => {
  const heads = [...document.querySelectorAll('#matrix tr.h th')];
  const hostCols = heads.map((th, i) => [th, i]).filter(([th]) => th.classList.contains('host'));
  const rows = [...document.querySelectorAll('#matrix tbody tr.r')];
  return {
    js: document.documentElement.classList.contains('js'),
    filters: !document.getElementById('filters').hidden,
    hosts: hostCols.map(([th]) => th.textContent),
    rows: rows.map(r => r.id.slice(2)),
    cells: Object.fromEntries(rows.map(r => [r.id.slice(2), Object.fromEntries(hostCols.map(([th, i]) =>
      [th.textContent, [r.cells[i].textContent, r.cells[i].classList.contains('o')]]))])),
    violations: window.__violations,
  };
})()"""

VISIBLE_ROWS = "[...document.querySelectorAll('#matrix tbody tr.r')].filter(r => r.offsetParent).map(r => r.id.slice(2))"


def _set_filter(name: str, value: str | bool) -> str:
    """JS that sets one filter (a checkbox to a bool, else a value), applies it and returns "N of M checks"."""
    prop = "checked" if isinstance(value, bool) else "value"
    return (f"(() => {{ const f = document.getElementById('filters'); f.elements.{name}.{prop} = {json.dumps(value)};"
            " f.dispatchEvent(new Event('change')); return f.elements.shown.value; })()")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("reports")
    api = KubeAPI("127.79.1.1", load("planted")).start()      # cp-1's admin.conf points at it: a cluster panel
    try:
        with Lab(tmp_path_factory.mktemp("lab"), default_specs("127.79.0.10", api_url=api.url),
                 first_octets="127.79.0.") as lab:
            code = main(["scan", str(lab.inventory_path), "--out-dir", str(out), "--flat", "--format",
                         "json,html,csv,junit", "--quiet"])
    finally:
        api.stop()
    return code, out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _expected_outliers(data: dict[str, Any]) -> set[tuple[str, str]]:
    """worker-1 vs worker-2, computed from the JSON: the worse verdict of a disagreeing pair."""
    worse = {"PASS": 0, "INFO": 1, "WARN": 2, "FAIL": 3}
    w1, w2 = ({r["id"]: r["status"] for r in h["results"]} for h in data["hosts"] if h["name"] != "cp-1")
    return {(cid, "worker-1" if worse[w1[cid]] > worse[w2[cid]] else "worker-2")
            for cid in w1 if w1[cid] != w2[cid]}


def test_lab_report_in_chromium(reports, browser):
    code, out = reports
    assert code == 3
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.html", "matrix.csv", "results.csv", "junit.xml"}
    data = json.loads((out / "report.json").read_text())
    url = (out / "report.html").as_uri()
    session = browser.open(url)
    dom = browser.evaluate(session, READ_MATRIX)

    assert dom["js"] and dom["filters"] and dom["violations"] == []
    assert dom["hosts"] == ["cp-1", "worker-1", "worker-2"]
    assert dom["rows"] == sorted({r["id"] for h in data["hosts"] for r in h["results"]},
                                 key=lambda i: tuple(map(int, i.split("."))))
    for h in data["hosts"]:   # every cell is the host's verdict, "–" where the check does not apply
        verdicts = {r["id"]: r["status"] for r in h["results"]}
        assert {cid: cells[h["name"]][0] for cid, cells in dom["cells"].items()} == \
            {cid: verdicts.get(cid, "–") for cid in dom["rows"]}
    assert dom["cells"]["4.1.5"]["worker-2"] == ["FAIL", True]
    assert dom["cells"]["4.2.1"]["worker-2"] == ["FAIL", True]
    assert dom["cells"]["4.2.1"]["worker-1"] == ["PASS", False]
    marked = {(cid, host) for cid, cells in dom["cells"].items() for host, (_, o) in cells.items() if o}
    assert marked == _expected_outliers(data)

    # filters and sorting (the inline script)
    shown = browser.evaluate(session, _set_filter("outliers", True))
    assert shown == f"{len({c for c, _ in marked})} of {len(dom['rows'])} checks"
    assert set(browser.evaluate(session, VISIBLE_ROWS)) == {c for c, _ in marked}
    browser.evaluate(session, _set_filter("outliers", False))
    browser.evaluate(session, _set_filter("section", "4.2"))
    assert all(r.startswith("4.2.") for r in browser.evaluate(session, VISIBLE_ROWS))
    browser.evaluate(session, _set_filter("section", ""))
    browser.evaluate(session, _set_filter("group", "1"))   # worker: cp-1's column collapses
    shown_hosts = "[...document.querySelectorAll('#matrix th.host')].filter(th => th.offsetWidth).map(th => th.textContent)"
    assert browser.evaluate(session, shown_hosts) == ["worker-1", "worker-2"]
    browser.evaluate(session, _set_filter("group", ""))
    browser.evaluate(session, "[...document.querySelectorAll('#matrix th.host')].pop().click()")   # sort by worker-2
    fails = [r["id"] for h in data["hosts"] if h["name"] == "worker-2" for r in h["results"] if r["status"] == "FAIL"]
    assert browser.evaluate(session, VISIBLE_ROWS)[:len(fails)] == fails

    assert browser.session_events(session, "Runtime.exceptionThrown") == []
    assert [e["request"]["url"] for e in browser.session_events(session, "Network.requestWillBeSent")] == [url]

    # back to CIS order, then the screenshot of the README: the matrix at worker-2's drift
    browser.evaluate(session, "document.querySelector('#matrix tr.h th.c').click();"
                              "document.getElementById('matrix-section').scrollIntoView();"
                              "document.querySelector('#matrix-section .scroll').scrollTop ="
                              " document.getElementById('r-4.1.1').previousElementSibling.offsetTop"
                              " - document.querySelector('#matrix thead').offsetHeight")
    png = base64.b64decode(browser.call("Page.captureScreenshot", session, format="png")["data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    if os.environ.get("FLEETBENCH_SCREENSHOT"):
        Path(os.environ["FLEETBENCH_SCREENSHOT"]).write_bytes(png)


def test_hostile_node_data_is_text(reports, browser, tmp_path):
    """HTML from a node (file names, values, argv) and a not-assessed host, rendered and loaded."""
    data = copy.deepcopy(json.loads((reports[1] / "report.json").read_text()))
    worker2 = next(h for h in data["hosts"] if h["name"] == "worker-2")
    result = next(r for r in worker2["results"] if r["id"] == "4.1.5")
    result["actual"] = HOSTILE
    result["source"] = f"stat /etc/{HOSTILE} (path from flag --kubeconfig)"
    worker2["evidence"]["processes"]["kubelet"]["argv"].append(f"--node-labels=</script>{HOSTILE}")
    data["hosts"].append({**copy.deepcopy(worker2), "name": "worker-3", "address": "127.79.0.13", "status": "unreachable",
                          "error": f"connection refused by {HOSTILE}", "results": [], "evidence": None,
                          "summary": {"PASS": 0, "FAIL": 0, "WARN": 0, "INFO": 0}})
    page = tmp_path / "hostile.html"
    page.write_bytes(html.render(from_dict(data))["report.html"])
    session = browser.open(page.as_uri())
    dom = browser.evaluate(session, READ_MATRIX)
    found = browser.evaluate(session, "({img: document.querySelectorAll('img, iframe, object, embed').length,"
                                      " scripts: document.scripts.length, xss: window.__xss === 1,"
                                      " text: document.body.textContent})")
    assert found["img"] == 0 and found["scripts"] == 1 and not found["xss"] and dom["violations"] == []
    assert found["text"].count(HOSTILE) >= 4   # shown as text: actual, source, argv, the host's reason
    assert dom["hosts"] == ["cp-1", "worker-1", "worker-2", "worker-3"]
    assert {cells["worker-3"][0] for cells in dom["cells"].values()} == {"not assessed"}
    assert dom["cells"]["4.1.5"]["worker-2"] == ["FAIL", True]
    assert browser.session_events(session, "Runtime.exceptionThrown") == []
    assert [e["request"]["url"] for e in browser.session_events(session, "Network.requestWillBeSent")] == [page.as_uri()]


def _pdf_pages(pdf: Path) -> list[str]:
    """The text of each page (pdftotext, poppler)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def _word_heights(pdf: Path) -> list[tuple[float, str]]:
    """(height in pt, word) of every word (pdftotext -bbox: proportional to the font size)."""
    xhtml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    words = re.findall(r'<word xMin="[^"]+" yMin="([^"]+)" xMax="[^"]+" yMax="([^"]+)">([^<]*)</word>', xhtml)
    return [(float(y_max) - float(y_min), word) for y_min, y_max, word in words]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed (make test installs it)")
def test_printed_report_is_readable_on_a4(reports, browser, tmp_path):
    """Printed from Chromium to PDF: text at least 9 pt, page numbers, the matrix one role per page
    block, and no heading left alone at the foot of a page."""
    _, out = reports
    session = browser.open((out / "report.html").as_uri())
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(base64.b64decode(browser.call("Page.printToPDF", session, preferCSSPageSize=True,
                                                  printBackground=True)["data"]))
    pages = _pdf_pages(pdf)
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"Page size:\s+841.89 x 595.2", info) or "A4" in info          # A4 landscape
    assert len(pages) >= 4
    for n, page in enumerate(pages, start=1):
        assert f"page {n} of {len(pages)}" in page, n
    heights = _word_heights(pdf)
    title = next(h for h, word in heights if word == "CIS")          # the h1, printed at 16 pt (report.css)
    smallest = min(h for h, _ in heights) * 16 / title                 # word box heights scale with the size
    assert smallest >= 9, sorted(heights)[:5]
    starts = {}
    for n, page in enumerate(pages):
        for group in ("control-plane,etcd", "worker"):
            if f"Matrix: {group}" in page:
                starts.setdefault(group, n)
    assert len(starts) == 2 and starts["control-plane,etcd"] < starts["worker"]
    matrix_worker = pages[starts["worker"]]
    assert "4.1.5" in matrix_worker and "1.1.1 " not in matrix_worker          # the workers' controls only
    headings = {"Summary", "Node × check matrix", "Checks", "Hosts", "By role", "By section", "Scan",
                "Matrix: control-plane,etcd", "Matrix: worker"}
    for n, page in enumerate(pages, start=1):
        lines = [ln.strip() for ln in page.splitlines() if ln.strip() and "page " not in ln]
        assert lines and lines[-1] not in headings, (n, lines[-3:])               # never orphaned


# --------------------------------------------------------------------------- the compact page (large fleets)

DRAWN = ("new Promise(r => { const w = () => performance.getEntriesByName('fleetbench-drawn').length ? r(true)"
         " : setTimeout(w, 10); w(); })")


def _open_compact(browser: Browser, page: Path, data: dict[str, Any]) -> str:
    """The lab's report as the page of a large fleet (html.render(compact=True)), loaded and drawn."""
    page.write_bytes(html.render(from_dict(data), compact=True)["report.html"])
    session = browser.open(page.as_uri())
    assert browser.call("Runtime.evaluate", session, expression=DRAWN, awaitPromise=True)["result"]["value"] is True
    return session


def _set(form: str, name: str, value: str | bool) -> str:
    prop = "checked" if isinstance(value, bool) else "value"
    return (f"(() => {{ const f = document.getElementById('{form}'); f.elements.{name}.{prop} = {json.dumps(value)};"
            " f.dispatchEvent(new Event('change')); return f.elements.shown.value; })()")


def test_compact_page_draws_the_same_matrix(reports, browser, tmp_path):
    """fleet.js draws the matrix of the static page from the data blob: the same cells and outlier
    marks; the filters, grouping by cluster, outliers first, and the drill-down per check and host."""
    _, out = reports
    data = json.loads((out / "report.json").read_text())
    static = browser.evaluate(browser.open((out / "report.html").as_uri()), READ_MATRIX)
    session = _open_compact(browser, tmp_path / "compact.html", data)
    dom = browser.evaluate(session, READ_MATRIX)
    assert dom["violations"] == [] and dom["filters"]
    assert dom["rows"] == static["rows"]
    # outliers first: worker-2 (the drift) before worker-1; every cell and mark as on the static page
    assert dom["hosts"] == ["cp-1", "worker-2", "worker-1"]
    assert dom["cells"] == static["cells"]
    marked = {(cid, host) for cid, cells in dom["cells"].items() for host, (_, o) in cells.items() if o}
    assert marked == _expected_outliers(data) and marked
    assert browser.evaluate(session, _set("filters", "order", "inventory")).endswith("3 of 3 hosts shown")
    assert browser.evaluate(session, READ_MATRIX)["hosts"] == ["cp-1", "worker-1", "worker-2"]

    shown = browser.evaluate(session, _set("filters", "outliers", True))
    assert shown.startswith(f"{len({c for c, _ in marked})} of {len(dom['rows'])} checks")
    assert set(browser.evaluate(session, VISIBLE_ROWS)) == {c for c, _ in marked}
    browser.evaluate(session, _set("filters", "outliers", False))
    browser.evaluate(session, _set("filters", "status", "f"))
    fails = {r["id"] for h in data["hosts"] for r in h["results"] if r["status"] == "FAIL"}
    assert set(browser.evaluate(session, VISIBLE_ROWS)) == fails
    browser.evaluate(session, _set("filters", "status", ""))
    browser.evaluate(session, _set("filters", "host", "worker-*"))
    assert browser.evaluate(session, READ_MATRIX)["hosts"] == ["worker-1", "worker-2"]
    browser.evaluate(session, _set("filters", "host", ""))

    # group by cluster: the cluster's hosts under its name, the rest under "(no cluster)"
    cluster = data["clusters"][0]
    browser.evaluate(session, _set("filters", "by", "cluster"))
    groups = browser.evaluate(session, "[...document.querySelectorAll('#matrix tr.g th')].map(th => th.textContent)")
    members = [h["name"] for h in data["hosts"] if h["name"] in cluster["hosts"]]
    assert f"cluster {cluster['name']} ({len(members)})" in groups
    hosts = browser.evaluate(session, READ_MATRIX)["hosts"]
    assert sorted(hosts[:len(members)]) == sorted(members)
    browser.evaluate(session, _set("filters", "group", "c0"))
    assert sorted(browser.evaluate(session, READ_MATRIX)["hosts"]) == sorted(members)

    # a check's deviations and a host's details are drawn when opened
    browser.evaluate(session, "document.getElementById('c-4.2.1').open = true")
    deviations = browser.evaluate(session, "new Promise(r => setTimeout(() => r([...document.querySelectorAll("
                                           "'#c-4\\\\.2\\\\.1 tbody.devs tr')].map(tr => tr.textContent)), 50))")
    assert any("worker-2" in t and "outlier" in t for t in deviations)
    worker2 = next(h for h in data["hosts"] if h["name"] == "worker-2")
    text = browser.evaluate(session, "new Promise(r => { location.hash = '#h-worker-2'; setTimeout(() =>"
                                     " r(document.getElementById('h-worker-2').textContent), 50); })")
    assert all(f"{r['id']} " in text and r["actual"] in text for r in worker2["results"] if r["status"] == "FAIL")
    assert "Differs from its role group (worker)" in text and "evidence: processes and paths" in text
    assert browser.session_events(session, "Runtime.exceptionThrown") == []
    page = (tmp_path / "compact.html").as_uri()
    assert [e["request"]["url"] for e in browser.session_events(session, "Network.requestWillBeSent")] == [page]

    linked = browser.open(page + "#h-worker-1")          # a link to a host opens it once the list is drawn
    assert browser.evaluate(linked, DRAWN) is True
    assert browser.evaluate(linked, "new Promise(r => setTimeout(() => r([document.getElementById('h-worker-1').open,"
                                    " document.getElementById('h-worker-1').textContent.includes('evidence:')]), 50))") \
        == [True, True]


def test_compact_page_hostile_data_stays_text(reports, browser, tmp_path):
    """Node values that close the data's <script> element or carry HTML stay data, shown as text."""
    data = copy.deepcopy(json.loads((reports[1] / "report.json").read_text()))
    hostile = f"</script><!--{HOSTILE}"
    worker2 = next(h for h in data["hosts"] if h["name"] == "worker-2")
    result = next(r for r in worker2["results"] if r["id"] == "4.1.5")
    result["actual"] = hostile
    result["source"] = f"stat /etc/{hostile}"
    worker2["evidence"]["processes"]["kubelet"]["argv"].append(f"--node-labels={hostile}")
    worker2["name"] = f"worker-2{HOSTILE}"
    page = tmp_path / "hostile.html"
    session = _open_compact(browser, page, data)
    assert page.read_text().count("</script>") == 2                 # the data's end and the script's
    browser.evaluate(session, "document.querySelectorAll('details').forEach(d => d.open = true)")
    found = browser.evaluate(session, "new Promise(r => setTimeout(() => r({img: document.querySelectorAll("
                                      "'img, iframe, object, embed').length, scripts: document.scripts.length,"
                                      " xss: window.__xss === 1, text: document.body.textContent}), 50))")
    assert found["img"] == 0 and found["scripts"] == 2 and not found["xss"]
    assert found["text"].count(hostile) >= 4     # matrix title aside: deviation, FAIL table, argv…
    assert f"worker-2{HOSTILE}" in browser.evaluate(session, READ_MATRIX)["hosts"]
    assert browser.evaluate(session, "window.__violations") == []
    assert browser.session_events(session, "Runtime.exceptionThrown") == []


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed (make test installs it)")
def test_compact_page_prints_its_summary(reports, browser, tmp_path):
    """Printed without a click: the summary, what needs attention, the checks with the hosts that
    differ, and a note where the matrix would be."""
    _, out = reports
    data = json.loads((out / "report.json").read_text())
    session = _open_compact(browser, tmp_path / "compact.html", data)
    pdf = tmp_path / "compact.pdf"
    pdf.write_bytes(base64.b64decode(browser.call("Page.printToPDF", session, preferCSSPageSize=True,
                                                  printBackground=True)["data"]))
    text = " ".join(" ".join(_pdf_pages(pdf)).split())
    for words in ("Summary", "fleet score", "Needs attention", "Checks with the most FAILs", "is not printed",
                  "4.2.1", "By role"):
        assert words in text, words
    assert "outlier" in text and "worker-2" in text
