"""The report model is printable whatever bytes a node holds."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from fleetbench.evaluate import evaluate
from fleetbench.models import Host, HostScan, ScanReport, SSHSettings
from fleetbench.report import build, console, to_dict

from .factsbuilder import host_facts


def test_non_utf8_node_data_reaches_every_output(catalog):
    odd = "/etc/kubernetes/caf\udce9.conf"          # byte 0xe9 kept by surrogateescape in facts
    case = {"paths": {"kubelet.kubeconfig": odd}, "files": {odd: {"mode": "644", "owner": "root:root"}}}
    control = next(c for c in catalog.benchmarks["cis-1.12"].controls if c.id == "4.1.5")
    finding = evaluate(control, host_facts(catalog, case), catalog)
    now = datetime.now(UTC)
    host = Host("n1", "127.0.0.1", ("worker",), (), SSHSettings(), {}, "test")
    report = ScanReport("0", "cis-1.12", catalog.digest, now, now, (HostScan(host, "cis-1.12", now, 0.1, (finding,)),), {})
    data = to_dict(build(report))
    text = json.dumps(data, ensure_ascii=False).encode("utf-8")        # would raise on a lone surrogate
    assert b"caf\\\\xe9.conf" in text
    shown = console.render(build(report), {}, verbose=True)
    assert "caf\\xe9.conf (path from fixture)" in shown and "\udce9" not in shown   # printable, the byte still named
    shown.encode("utf-8")
    assert dataclasses.replace(finding).source.endswith("\udce9.conf (path from fixture)")   # facts stay exact
