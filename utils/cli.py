"""The one command-line guard of every entry point.

``run_cli(parser, main, argv)`` adds ``--debug`` to the parser, parses, and calls
``main(args)``. Exit status convention, everywhere: 0 success; 1 an error of the user's input
(:class:`utils.errors.CDINetError`, or an ``OSError`` such as a full disk or a folder without
write permission), printed as one line ``error: <message>`` (the traceback with ``--debug``);
2 a command line argparse rejects. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import re
import sys
import traceback
from typing import Callable, Optional, Sequence

from .errors import CDINetError


def run_cli(parser: argparse.ArgumentParser, main: Callable[[argparse.Namespace], int],
            argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run ``main``; see the module docstring."""
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    try:
        return main(args)
    except (CDINetError, OSError) as error:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"error: {one_line(error)}", file=sys.stderr)
        return 1


def first_few(items: Sequence[str], shown: int = 5, separator: str = ", ") -> str:
    """``a, b, c (and 4 more)``: the first ``shown`` of ``items`` for a message, then how many more."""
    more = f" (and {len(items) - shown} more)" if len(items) > shown else ""
    return separator.join(items[:shown]) + more


def one_line(error: BaseException) -> str:
    """The error's own message, also when a DataLoader worker wrapped it: PyTorch re-raises
    it as "Caught X in DataLoader worker process N. Original Traceback ... pkg.X: message"."""
    lines = [line for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    if len(lines) == 1:
        return lines[0]
    return re.sub(r"^[\w.]+(Error|Exception): ", "", lines[-1])


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a batch size of 0 is refused before anything runs)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value
