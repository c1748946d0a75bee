"""End to end: a lab scan with a waiver file. Waived FAILs keep their status, are marked in the JSON,
console, CSV and JUnit, do not fail the run; expired, unused and expiring waivers are listed; a
re-evaluated bundle applies them the same way; --quiet prints nothing when every FAIL is waived."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from fleetbench.cli import main
from tests.lab import Lab, default_specs
from tests.lab.kubeapi import running_api

from .test_scan_lab import pytestmark  # noqa: F401  (skip without sshd)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_api("127.91.1.1") as api, \
            Lab(tmp_path_factory.mktemp("lab"), default_specs("127.91.0.10", api_url=api.url), first_octets="127.91.0.") as running:
        yield running


@pytest.fixture(scope="module")
def baseline(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    code = main(["scan", str(lab.inventory_path), "--out-dir", str(out), "--flat", "--format", "json", "--quiet"])
    data = json.loads((out / "report.json").read_text())
    assert code == 3 and data["summary"]["hosts_not_assessed"] == 0      # the lab has FAILs, every host answers
    return data


def _fails(data):
    return {(h["name"], r["id"]) for h in data["hosts"] for r in h["results"] if r["status"] == "FAIL"}


def _warned(baseline) -> tuple[str, str]:
    """A WARN (waivers accept WARNs too) of a node control: the one the expiring waiver covers."""
    return next((h["name"], r["id"]) for h in baseline["hosts"] for r in h["results"]
                if r["status"] == "WARN" and r["target"] == "node")


def _waiver_file(path, baseline):
    """One waiver per failing control, scoped to the hosts that fail it; plus an expired, an unused, an expiring one."""
    today = date.today()
    by_id: dict[str, list[str]] = {}
    for host, cid in sorted(_fails(baseline)):
        by_id.setdefault(cid, []).append(host)
    passing = next(r["id"] for r in baseline["hosts"][0]["results"] if r["status"] == "PASS")
    entries = [f"  - controls: ['{cid}']\n    hosts: [{', '.join(hosts)}]\n    reason: accepted for the audit test\n"
               f"    owner: platform\n    ticket: OPS-{i}\n    expires: {today + timedelta(days=90)}\n"
               for i, (cid, hosts) in enumerate(sorted(by_id.items()))]
    entries.append(f"  - controls: ['{passing}']\n    reason: nothing fails here\n    owner: o\n    ticket: UNUSED-1\n"
                   f"    expires: {today + timedelta(days=90)}\n")
    entries.append(f"  - controls: ['4']\n    roles: [worker]\n    reason: too late\n    owner: o\n    ticket: OLD-1\n"
                   f"    expires: {today - timedelta(days=1)}\n")
    host, cid = _warned(baseline)
    entries.insert(0, f"  - controls: ['{cid}']\n    hosts: ['{host}']\n    reason: ends soon\n"
                      f"    owner: o\n    ticket: SOON-1\n    expires: '{(today + timedelta(days=3)).isoformat()}'\n")
    path.write_text("waivers:\n" + "".join(entries))
    return path


@pytest.fixture(scope="module")
def waived(lab, baseline, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("waived")
    waivers = _waiver_file(tmp / "waivers.yaml", baseline)
    out = tmp / "out"
    bundle = tmp / "bundle.json"
    code = main(["scan", str(lab.inventory_path), "--out-dir", str(out), "--flat", "--format", "json,csv,junit,html",
                 "--no-color", "--waivers", str(waivers), "--bundle", str(bundle)])
    return code, out, waivers, bundle


def test_only_waived_fails_exit_0(waived, baseline):
    code, out, *_ = waived
    data = json.loads((out / "report.json").read_text())
    assert code == 0
    assert _fails(data) == _fails(baseline)                     # the statuses did not move
    warned = _warned(baseline)
    for h in data["hosts"]:
        for r in h["results"]:
            assert (r["waiver"] is not None) == (r["status"] == "FAIL" or (h["name"], r["id"]) == warned), r
    s = data["summary"]
    assert s["FAIL_waived"] == s["FAIL"] == len(_fails(baseline)) and s["waived"] == s["FAIL_waived"] + 1
    assert s["score_waived"] == 100.0 and s["score"] < 100.0


def test_the_json_lists_expired_unused_and_expiring(waived):
    _, out, waivers, _ = waived
    lists = json.loads((out / "report.json").read_text())["waivers"]
    assert [w["ticket"] for w in lists["expired"]] == ["OLD-1"]
    assert [w["ticket"] for w in lists["unused"]] == ["UNUSED-1"]
    assert [w["ticket"] for w in lists["expiring"]] == ["SOON-1"]
    assert lists["expired"][0]["origin"].startswith(f"{waivers}:")
    first = json.loads((out / "report.json").read_text())
    soon = [r for h in first["hosts"] for r in h["results"] if r["waiver"] and r["waiver"]["ticket"] == "SOON-1"]
    assert len(soon) == 1 and soon[0]["waiver"]["origin"] == f"{waivers}:2"      # the first matching waiver wins


def test_console_csv_junit_and_html_show_the_waivers(waived, capsys):
    _, out, *_ = waived
    # the console of the fixture's scan went to capsys before this test: render again from the same run
    data = json.loads((out / "report.json").read_text())
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text(), newline="")))
    fails = [r for r in rows if r["status"] == "FAIL"]
    assert fails and all(r["waived"] == "true" and r["waiver_reason"] and r["waiver_expires"] for r in fails)
    assert all(r["waived"] == "false" for r in rows if r["status"] == "PASS")
    root = ET.parse(out / "junit.xml").getroot()
    assert root.get("failures") == "0"
    skipped = [s.get("message", "") for s in root.iter("skipped") if s.get("message", "").startswith("waived: ")]
    assert len(skipped) == data["summary"]["waived"] and any("; FAIL: expected" in m for m in skipped)
    html = (out / "report.html").read_text()
    assert 'class="wv"' in html and "fleet score with waivers" in html and 'id="waivers"' in html
    assert "OLD-1" in html and "UNUSED-1" in html and "SOON-1" in html


def test_the_console_marks_waived_results(lab, waived, tmp_path, capsys):
    _, _, waivers, _ = waived
    capsys.readouterr()
    code = main(["scan", str(lab.inventory_path), "--out-dir", str(tmp_path), "--flat", "--format", "json", "--no-color",
                 "--waivers", str(waivers), "--limit", "worker-2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "[FAIL] " in out and "(waived: accepted for the audit test, platform, OPS-" in out
    assert "FAIL (" in out and "waived)" in out and "with waivers" in out
    assert "waiver EXPIRED" in out and "OLD-1" in out


def test_quiet_prints_nothing_when_every_fail_is_waived(lab, waived, tmp_path, capsys):
    _, _, waivers, _ = waived
    capsys.readouterr()
    code = main(["scan", str(lab.inventory_path), "--out-dir", str(tmp_path), "--format", "json", "--quiet",
                 "--waivers", str(waivers)])
    captured = capsys.readouterr()
    assert code == 0 and captured.out == "" and captured.err == ""
    assert (tmp_path / "latest" / "report.json").is_file()                # the reports are still written
    code = main(["scan", str(lab.inventory_path), "--out-dir", str(tmp_path), "--format", "json", "--quiet"])
    out = capsys.readouterr().out
    assert code == 3 and "== Needs attention ==" in out and ": [FAIL] " in out


def test_evaluate_applies_waivers_the_same_way(waived, tmp_path):
    _, out, waivers, bundle = waived
    assert main(["evaluate", str(bundle), "--out-dir", str(tmp_path), "--flat", "--quiet", "--waivers", str(waivers)]) == 0
    scanned = json.loads((out / "report.json").read_text())
    evaluated = json.loads((tmp_path / "report.json").read_text())
    marks = {(h["name"], r["id"], r["status"], json.dumps(r["waiver"])) for h in scanned["hosts"] for r in h["results"]}
    assert marks == {(h["name"], r["id"], r["status"], json.dumps(r["waiver"]))
                     for h in evaluated["hosts"] for r in h["results"]}
    assert evaluated["waivers"] == scanned["waivers"]
    assert main(["evaluate", str(bundle), "--out-dir", str(tmp_path), "--flat", "--quiet"]) == 3     # without: FAILs count
