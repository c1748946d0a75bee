"""What starting fleetbench costs: modules only some runs need are imported only by those runs.

Why: every scan pays for every import (client CPU per host, README "Benchmark"). The commands that
do use these modules (``--prometheus``, ``--bundle``/``evaluate``, ``checks --diff``, the progress
bar) are exercised by their own tests; this one checks they stay out of the start-up.
"""

from __future__ import annotations

import subprocess
import sys

LAZY = ("prometheus_client", "tqdm", "openpyxl", "fleetbench.bundle", "fleetbench.compare", "fleetbench.prometheus")


def test_cli_import_leaves_optional_modules_out() -> None:
    code = ("import sys, fleetbench.cli\n"
            f"print(','.join(m for m in {LAZY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_progress_bar_still_drawn_on_a_terminal() -> None:
    """tqdm is imported when the bar is shown (a pty stands in for the terminal)."""
    import os
    import pty

    from fleetbench.progress import Progress

    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as stream:
            progress = Progress(3, stream)
            assert progress.shown
            progress.close()
    finally:
        os.close(leader)
        os.close(follower)
