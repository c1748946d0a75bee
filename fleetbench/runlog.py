"""``--log-json FILE``: one JSON line per host as it finishes, and one per run (README, "JSON log").

Why: a jump host's log shipper (or ``tail -f``) sees each host as soon as it is done, and a run
that is killed still leaves the lines of the hosts it finished. Each line is written and flushed
on its own; the file is opened for appending, so nightly runs add to one file.

Lines::

    {"event": "host", "run_id", "time", "name", "address", "status", "reason", "benchmark", "seconds",
     "counts": {"PASS", "FAIL", "WARN", "INFO"}, "waived"}
    {"event": "run", "run_id", "time", "started", "finished", "seconds", "hosts", "hosts_assessed",
     "hosts_not_assessed", "counts": {...}, "waived", "FAIL_waived", "exit_code", "interrupted"}
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .models import HostScan
from .redact import redact_text
from .report.model import Report


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RunLog:
    """An open ``--log-json`` file; :meth:`host` and :meth:`run` write one line each."""

    def __init__(self, path: str | Path, run_id: str) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self._fh: TextIO = open(self.path, "a", encoding="utf-8")   # noqa: SIM115 - closed by close()

    def _line(self, data: dict[str, Any]) -> None:
        self._fh.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._fh.flush()

    def host(self, scan: HostScan) -> None:
        self._line({"event": "host", "run_id": self.run_id, "time": _now(), "name": scan.host.name,
                    "address": scan.host.address, "status": scan.error.status.value if scan.error else "ok",
                    "reason": redact_text(scan.error.reason) if scan.error else "", "benchmark": scan.benchmark,
                    "seconds": scan.seconds, "counts": scan.summary(),
                    "waived": sum(1 for f in scan.findings if f.waiver is not None)})

    def run(self, data: Report, exit_code: int, interrupted: str = "") -> None:
        s = data.summary
        seconds = (datetime.fromisoformat(data.finished) - datetime.fromisoformat(data.started)).total_seconds()
        self._line({"event": "run", "run_id": data.run_id, "time": _now(), "started": data.started,
                    "finished": data.finished, "seconds": round(seconds, 3), "hosts": s.hosts,
                    "hosts_assessed": s.hosts_assessed, "hosts_not_assessed": s.hosts_not_assessed,
                    "counts": {"PASS": s.PASS, "FAIL": s.FAIL, "WARN": s.WARN, "INFO": s.INFO},
                    "waived": s.waived, "FAIL_waived": s.FAIL_waived, "exit_code": exit_code,
                    "interrupted": interrupted})

    def close(self) -> None:
        self._fh.close()
