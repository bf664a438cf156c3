"""The one exception type of the data package and the CLI guard that prints it on one line.

Every bad-input case (missing, empty or unreadable file, empty folder, unpaired stem, size
mismatch) raises :class:`DatasetError` with a one-line message naming the file(s) or folder.
"""
from __future__ import annotations

import sys
from typing import Callable, Sequence


class DatasetError(Exception):
    """A data folder or file is unusable; the message names it on one line.

    Constructible from a single message string, so a DataLoader worker can re-raise it in the
    main process (PyTorch then prefixes the worker traceback; :func:`one_line` strips it).
    """


def one_line(exc: BaseException) -> str:
    """The last non-empty line of ``str(exc)``: the original message, also for worker-wrapped
    errors whose text starts with "Caught DatasetError in DataLoader worker process 0"."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    prefix = f"{DatasetError.__module__}.{DatasetError.__name__}: "
    return last[len(prefix):] if last.startswith(prefix) else last


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a CLI ``main``; a DatasetError becomes ``error: <message>`` on stderr and status 1,
    unless ``--debug`` is among the arguments (then the traceback is shown)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return main(args)
    except DatasetError as exc:
        if "--debug" in args:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
