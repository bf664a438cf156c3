"""Command-line entry points print one clear line on a known error, a traceback with --debug."""
from __future__ import annotations

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
            print(f"error: {error}", file=sys.stderr)
        return 1


def wants_debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv
