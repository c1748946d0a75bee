"""A hostile fleet in one scan: every broken host gets its precise status, bounded in time,
the healthy ones get full verdicts, no secret leaks, nothing is left behind.

Over real sshd (tests/lab) plus two loopback listeners that are not sshd at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from fleetbench.catalog import load_catalog
from fleetbench.cli import main
from fleetbench.connect import Settings
from fleetbench.inventory import load_inventory
from fleetbench.report import FORMATS
from fleetbench.runner import ScanOptions, scan
from tests.lab import Lab, drifted_worker, kubeadm_control_plane, kubeadm_worker
from tests.lab.faults import (
    BOOTSTRAP_TOKEN,
    SilentListener,
    StallingListener,
    dropping_worker,
    flooding_worker,
    hanging_worker,
    slow_worker,
    sudo_worker,
    token_worker,
)
from tests.lab.scenarios import hostile_worker

from .test_scan_lab import pytestmark  # noqa: F401  (skip without sshd)

OCTETS = "127.84.0."
CP = OCTETS + "10"
CONNECT_TIMEOUT, HOST_TIMEOUT = 2.0, 6.0
EXPECTED = {   # host → (status, words in the reason)
    "cp-1": ("ok", ""), "healthy": ("ok", ""), "drifted": ("ok", ""), "slow": ("ok", ""), "banner": ("ok", ""),
    "token": ("ok", ""),
    "nothing-listening": ("unreachable", "connection refused"),
    "silent-port": ("timeout", "no SSH answer"),
    "stalled-handshake": ("timeout", "no SSH answer"),
    "wrong-key": ("auth-failed", "authentication refused"),
    "changed-key": ("host-key-mismatch", "CHANGED"),
    "unknown-key": ("host-key-mismatch", "not in"),
    "hanging-probe": ("timeout", "deadline"),
    "flood": ("error", "output cap"),
    "sudo-password": ("error", "sudo refused"),
    "dropped": ("unreachable", "connection lost"),
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """The lab nodes, two fake listeners, and an inventory naming every fault."""
    tmp = tmp_path_factory.mktemp("faults")
    specs = [kubeadm_control_plane("cp-1", address=CP), kubeadm_worker("healthy", api_server=CP),
             drifted_worker("drifted", api_server=CP), slow_worker("slow", api_server=CP),
             hostile_worker("banner", api_server=CP), token_worker("token", api_server=CP),
             hanging_worker("hanging-probe", api_server=CP), flooding_worker("flood", api_server=CP),
             sudo_worker("sudo-password", api_server=CP), dropping_worker("dropped", api_server=CP),
             kubeadm_worker("changed-key", api_server=CP), kubeadm_worker("unknown-key", api_server=CP)]
    other_key = tmp / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    empty_known_hosts = tmp / "empty_known_hosts"
    empty_known_hosts.write_text("")
    with Lab(tmp / "lab", specs, first_octets=OCTETS) as lab, \
            SilentListener(OCTETS + "201", lab.port), StallingListener(OCTETS + "202", lab.port):
        lab.rotate_host_key("changed-key")
        hosts = {s.name: f"{{address: {lab.address(s.name)}, roles: [{'control-plane, etcd' if s.name == 'cp-1' else 'worker'}]}}"
                 for s in specs}
        hosts.update({
            "nothing-listening": "{address: " + OCTETS + "200, roles: [worker]}",
            "silent-port": "{address: " + OCTETS + "201, roles: [worker]}",
            "stalled-handshake": "{address: " + OCTETS + "202, roles: [worker]}",
            "wrong-key": f"{{address: {CP}, roles: [worker], key_files: [{other_key}]}}",
            "unknown-key": f"{{address: {lab.address('unknown-key')}, roles: [worker], known_hosts: {empty_known_hosts}}}",
            "sudo-password": f"{{address: {lab.address('sudo-password')}, roles: [worker], user: auditor, become: sudo -n}}",
        })
        inventory = tmp / "faults.yaml"
        inventory.write_text(textwrap.dedent(f"""\
            defaults: {{user: root, port: {lab.port}, key_files: [{lab.client_key_path}],
                        known_hosts: {lab.known_hosts_path}, ssh_config: none}}
            hosts:
            """) + "".join(f"  {name}: {body}\n" for name, body in hosts.items()))
        yield lab, inventory


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def children() -> list[int]:
    me, kids = str(os.getpid()), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                kids.append(int(entry))
    return kids


@pytest.fixture(scope="module")
def scanned(fleet, tmp_path_factory):
    lab, inventory = fleet
    out = tmp_path_factory.mktemp("out")
    bundle = out / "bundle.json"
    fds_before, kids_before = open_fds(), children()     # the lab's own node processes are children too
    t0 = time.monotonic()
    code = main(["scan", str(inventory), "--out-dir", str(out), "--flat", "--format", ",".join(FORMATS), "--no-color",
                 "--connect-timeout", str(CONNECT_TIMEOUT), "--timeout", str(HOST_TIMEOUT), "--bundle", str(bundle)])
    wall = time.monotonic() - t0
    return code, out, bundle, wall, (fds_before, kids_before), (open_fds(), children())


def test_every_host_gets_its_precise_status(scanned):
    code, out, *_ = scanned
    data = json.loads((out / "report.json").read_text())
    got = {h["name"]: (h["status"], h["error"] or "") for h in data["hosts"]}
    assert code == 4 and set(got) == set(EXPECTED)
    for name, (status, words) in EXPECTED.items():
        assert got[name][0] == status and words in got[name][1], (name, got[name])
        host = next(h for h in data["hosts"] if h["name"] == name)
        if status != "ok":
            assert host["results"] == [] and host["summary"] == {"PASS": 0, "FAIL": 0, "WARN": 0, "INFO": 0}


def test_time_is_bounded_by_the_timeouts(scanned):
    code, out, bundle, wall, *_ = scanned
    data = json.loads((out / "report.json").read_text())
    for h in data["hosts"]:
        assert h["seconds"] <= HOST_TIMEOUT + 1.5, (h["name"], h["seconds"])
    assert wall < HOST_TIMEOUT + 10
    slow = next(h for h in data["hosts"] if h["name"] == "slow")
    assert slow["seconds"] >= 2


def test_healthy_hosts_get_full_verdicts(scanned):
    catalog = load_catalog()
    data = json.loads((scanned[1] / "report.json").read_text())
    for h in data["hosts"]:
        if h["status"] == "ok":
            bench = catalog.benchmarks[h["benchmark"]]
            # section 5 ("policies") is decided once per cluster, not in a host's results
            targets = {"master", "controlplane", "node", "etcd"} if h["name"] == "cp-1" else {"node"}
            assert len(h["results"]) == sum(1 for c in bench.controls if c.target in targets), h["name"]


def test_the_token_appears_in_no_output(scanned, capsys):
    _, out, bundle, *_ = scanned
    printed = capsys.readouterr()
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.html", "results.csv", "matrix.csv",
                                               "junit.xml", "report.xlsx"}
    for path in [*out.iterdir(), bundle]:
        if path.suffix == ".xlsx":                   # a zip: read every part of the workbook
            with zipfile.ZipFile(path) as book:
                assert not [n for n in book.namelist() if BOOTSTRAP_TOKEN.encode() in book.read(n)], path.name
            continue
        assert BOOTSTRAP_TOKEN not in path.read_text(errors="replace"), path.name
    assert BOOTSTRAP_TOKEN not in printed.out + printed.err
    token = next(h for h in json.loads((out / "report.json").read_text())["hosts"] if h["name"] == "token")
    assert "--token=<redacted>" in token["evidence"]["processes"]["kubelet"]["argv"]


def test_nothing_is_left_behind(scanned):
    *_, (fds_before, kids_before), (fds_after, kids_after) = scanned
    assert fds_after <= fds_before + 2          # the report files are closed; no socket stays open
    assert kids_after == kids_before            # no process of ours is left running


def test_reports_are_complete_and_valid(scanned):
    out = scanned[1]
    data = json.loads((out / "report.json").read_text())
    assert len(data["hosts"]) == len(EXPECTED)
    assert data["summary"]["hosts_not_assessed"] == sum(1 for s, _ in EXPECTED.values() if s != "ok")
    for name in ("report.json",):
        assert (out / name).stat().st_size > 0
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_twenty_scans_in_one_process_do_not_leak(fleet):
    lab, inventory = fleet
    catalog = load_catalog()
    hosts = load_inventory(inventory)
    options = ScanOptions(benchmark="auto", timeout=3.0, transport=Settings(connect_timeout=1.0))

    async def once() -> int:
        report = await scan(hosts, catalog, options)
        assert len(report.hosts) == len(hosts)
        return len(asyncio.all_tasks())

    fds, kids = [], children()
    for _ in range(20):
        assert asyncio.run(once()) == 1          # only the scan's own task is left
        fds.append(open_fds())
    assert fds[-1] <= fds[0] + 2, fds
    assert children() == kids
