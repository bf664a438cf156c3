"""Stopping a training run cleanly on a signal: a scheduler's SIGTERM or SIGUSR1, or Ctrl-C.

While :class:`StopSignals` is active, such a signal only records the request; the training
loop asks for it at its next step boundary (``requested``), so the step in flight finishes and
the checkpoint it then writes is consistent. A second Ctrl-C raises ``KeyboardInterrupt`` at
once. Exit statuses of a run stopped this way, with its checkpoint saved: ``PREEMPTED`` (75,
sysexits' EX_TEMPFAIL: "try again", what a requeue script tests) for the configured signals,
``INTERRUPTED`` (130, the shell's Ctrl-C status) for Ctrl-C. Torch-free.
"""
from __future__ import annotations

import signal
import threading
from typing import Dict, Optional, Sequence

PREEMPTED = 75
INTERRUPTED = 130
CTRL_C = "INT"


class StopSignals:
    """A ``with`` block in which SIG<name> for each of ``names`` (e.g. ``TERM``, ``USR1``) and
    SIGINT ask the run to stop instead of ending it; the previous handlers come back at the end.

    ``requested``: the name of the first such signal received (``INT`` for Ctrl-C), or None.
    Signals this platform lacks are skipped; outside the main thread (where Python cannot set
    handlers) nothing is installed and the signals keep their usual effect.
    """

    def __init__(self, names: Sequence[str]):
        self.names = [CTRL_C] + [name for name in names if name != CTRL_C]
        self.requested: Optional[str] = None
        self._previous: Dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for name in self.names:
                number = getattr(signal, f"SIG{name}", None)
                if number is not None:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, frame) -> None:
        # Records only: printing here could re-enter a write the main thread is in.
        name = signal.Signals(number).name[len("SIG"):]
        if name == CTRL_C and self.requested is not None:
            raise KeyboardInterrupt
        if self.requested is None:
            self.requested = name

    @property
    def code(self) -> int:
        """The request as a number that ranks can agree on by their maximum: 0 none, 1 Ctrl-C,
        2 another signal (which wins: the job is being preempted)."""
        return 0 if self.requested is None else 1 if self.requested == CTRL_C else 2


def ignore_signals(names: Sequence[str], worker_id: int) -> None:
    """A DataLoader worker's start (``functools.partial(ignore_signals, names)``): ignore SIGINT and
    SIG<name> for ``names``. A scheduler signals the whole process group, and PyTorch's workers
    die of SIGTERM, which would end the run with an error; the main process stops it instead and
    shuts its workers down."""
    for name in (CTRL_C, *names):
        number = getattr(signal, f"SIG{name}", None)
        if number is not None:
            signal.signal(number, signal.SIG_IGN)


def exit_status(code: int) -> int:
    """The exit status of a run stopped by request ``code`` (see :attr:`StopSignals.code`)."""
    return INTERRUPTED if code == 1 else PREEMPTED
