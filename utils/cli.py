"""Command-line entry points print one clear line on a known error, a traceback with --debug."""
from __future__ import annotations

import argparse
import re
import sys
import traceback
from typing import Callable, Optional, Sequence, Tuple, Type


def run_script(parser: argparse.ArgumentParser, main: Callable[[argparse.Namespace], int],
               expected: Tuple[Type[BaseException], ...], argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` and call ``main``; an ``expected`` error becomes ``error: <message>`` and
    exit status 1 (the traceback with ``--debug``)."""
    args = parser.parse_args(argv)
    try:
        return main(args)
    except expected as error:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"error: {one_line(error)}", file=sys.stderr)
        return 1


def one_line(error: BaseException) -> str:
    """The error's own message, also when a DataLoader worker wrapped it: PyTorch re-raises
    it as "Caught X in DataLoader worker process N. Original Traceback ... pkg.X: message"."""
    lines = [line for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    if len(lines) == 1:
        return lines[0]
    return re.sub(r"^[\w.]+(Error|Exception): ", "", lines[-1])
