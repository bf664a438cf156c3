"""Command-line entry points print one clear line on a known error, a traceback with --debug."""
from __future__ import annotations

import re
import sys
import traceback
from typing import Callable, Sequence, Tuple, Type


def run_cli(main: Callable[[], int], debug: bool, expected: Tuple[Type[BaseException], ...]) -> int:
    """Call ``main``; an ``expected`` error becomes ``error: <message>`` and exit status 1."""
    try:
        return main()
    except expected as error:
        if debug:
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


def wants_debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv
