"""The progress display of a scan: on a terminal only, on stderr (hosts done/total, FAILs, rate, ETA).

Why tqdm: it is small (one pure-Python package, MPL-2.0 AND MIT), works over plain SSH terminals on
a jump host, and computes rate and ETA itself. Why only on a TTY: under cron, or when stderr is a
file or a pipe, a progress bar is noise in the mail or the log, so nothing is shown at all.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Never, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

from .models import HostScan, Status


class Progress:
    """Fed one :class:`HostScan` at a time by the runner's ``on_host_done`` callback."""

    def __init__(self, total: int, stream: TextIO, enabled: bool = True) -> None:
        self.failures = 0                 #: FAIL results so far
        self.not_assessed = 0
        self._bar: tqdm[Never] | None = None
        if enabled and total and stream.isatty():
            from tqdm import tqdm  # imported only when a bar is shown: cron runs never pay for it

            sized = _columns(stream) > 0        # a terminal that reports no size (0 columns) gets 80
            bar: tqdm[Never] = tqdm(total=total, file=stream, unit="host", desc="scan", dynamic_ncols=sized,
                                    ncols=None if sized else 80, leave=False,
                                    bar_format="{desc}: {n_fmt}/{total_fmt} hosts{postfix} | {rate_fmt} | ETA {remaining}")
            bar.set_postfix_str("0 FAIL", refresh=False)
            self._bar = bar

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def host_done(self, scan: HostScan) -> None:
        self.failures += sum(1 for f in scan.findings if f.status == Status.FAIL)
        self.not_assessed += 0 if scan.assessed else 1
        if self._bar is not None:
            extra = f", {self.not_assessed} not assessed" if self.not_assessed else ""
            self._bar.set_postfix_str(f"{self.failures} FAIL{extra}", refresh=False)
            self._bar.update(1)
            self._bar.refresh()             # every host: the display never lags behind a slow fleet

    def close(self) -> None:
        """Clear the bar (the console report follows on stdout); safe to call twice."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return 0
