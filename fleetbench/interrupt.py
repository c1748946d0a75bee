"""SIGINT / SIGTERM during a run: the first one stops the scan cleanly, a second one ends it at once.

Why not asyncio's ``loop.add_signal_handler``: a second signal must end the process from wherever
it is (also while report files are written, after the event loop is gone). A Python signal handler
runs in the main thread between two bytecodes, wherever the program is; so:

- first signal: :attr:`Interrupts.signal` is set and the callback given to :meth:`Interrupts.on_first`
  runs (the runner's: wake the event loop, which cancels the hosts in flight and starts no more);
- second signal: the process ends at once with 128 + signum (130 for SIGINT, 143 for SIGTERM), after
  removing the temporary files still being written (:func:`fleetbench.atomic.remove_pending`). Not by
  raising: an exception raised in a signal handler can land in a ``__del__`` or a callback, where
  Python only prints it and goes on, so the run would not stop.

With ``--workers`` (:mod:`fleetbench.workers`) the parent forwards its first signal to each worker
process (:meth:`Interrupts.forward_to`), and ends them with SIGKILL before it ends itself at a second
one. A worker (:meth:`Interrupts.in_worker`) stops at its first signal, whether from the terminal
(Ctrl-C signals the whole process group) or forwarded, and ignores the next ones: the parent alone
decides to end at once, so one Ctrl-C that reaches a worker twice never counts as a second.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from .atomic import remove_pending

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """``with Interrupts() as stop:`` installs the handlers for the block and restores the old ones."""

    def __init__(self) -> None:
        self.signal: int | None = None                       #: the first signal received, if any
        self._callback: Callable[[], None] | None = None
        self._previous: dict[int, Any] = {}
        self._children: tuple[int, ...] = ()                 #: worker processes (PIDs) signals go to
        self._worker = False                                 #: in a worker: later signals are ignored

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal else ""

    def on_first(self, callback: Callable[[], None] | None) -> None:
        """Run ``callback`` at the first signal (at once, if one already came); None to forget it."""
        self._callback = callback
        if callback is not None and self.signal is not None:
            callback()

    def forward_to(self, pids: tuple[int, ...]) -> None:
        """The parent of worker processes: pass the first signal on to them (at once, if one came
        already), and end them (SIGKILL) before ending at once at a second one; () forgets them."""
        self._children = pids
        if self.signal is not None:
            self._forward(self.signal)

    def in_worker(self) -> None:
        """In a worker process just forked: stop at the first signal, ignore the next ones (the
        parent forwards its own and ends the workers itself at a second)."""
        self._worker = True
        self._children = ()
        self._callback = None

    def _forward(self, signum: int) -> None:
        for pid in self._children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:      # already gone (it had finished)
                pass

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            if self._worker:
                return
            self._forward(signal.SIGKILL)
            remove_pending()
            os.write(2, f"fleetbench: second {signal.Signals(signum).name}: stopped at once\n".encode())
            os._exit(128 + signum)
        self.signal = signum
        self._forward(signum)
        if self._callback is not None:
            self._callback()

    def __enter__(self) -> Interrupts:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
