"""Evidence bundles never carry secrets, and the redaction does not change any verdict input."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from fleetbench.bundle import to_bundle
from fleetbench.models import Collected, Host, HostScan, Record, ScanReport, SSHSettings

TOKEN = "abcdef.0123456789abcdef"


def test_secrets_are_redacted_in_bundles(catalog):
    now = datetime.now(UTC)
    records = (
        Record("proc", ("42", "kubelet"), b"/usr/bin/kubelet\0--token=" + TOKEN.encode() + b"\0--config=/x\0"),
        Record("env", ("7",), b"ETCD_NAME=cp-1\nETCD_ROOT_PASSWORD=hunter2"),
        Record("read", ("{encryption.config}",), b"keys:\n- name: key1\n  secret: c2VjcmV0IGtleQ==\nproviders: [aescbc]\n"),
        Record("journal", ("k3s", "812"), b'level=info msg="Running kubelet --token=' + TOKEN.encode() + b' --read-only-port=0"'),
        Record("done", (), b""),
    )
    host = Host("n1", "127.0.0.1", ("worker",), (), SSHSettings(), {}, "test")
    scan = HostScan(host, "cis-1.12", now, 0.1, collected=Collected("0" * 64, now, records))
    report = ScanReport("0", "auto", catalog.digest, now, now, (scan,), {})
    text = json.dumps(to_bundle(report))
    payloads = b"".join(base64.b64decode(r["payload_b64"]) for r in to_bundle(report)["hosts"][0]["records"])
    for secret in (TOKEN, "hunter2", "c2VjcmV0IGtleQ=="):
        assert secret not in text and secret.encode() not in payloads
    assert b"--config=/x" in payloads and b"ETCD_NAME=cp-1" in payloads and b"providers: [aescbc]" in payloads
    assert b"--read-only-port=0" in payloads
