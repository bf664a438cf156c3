"""The model zoo: every registered model's cards, recipe, source, checks and reported numbers.

Examples:
    python -m models --list                 # plain-text tables
    python -m models --list --markdown      # the Markdown of docs/models.md, "Model zoo"
    python -m models --write                # regenerate that section of docs/models.md
    python -m models --check                # exit 1 if docs/models.md is not what --write would write
    python -m models --list --imports my_tiny_model   # with an out-of-tree model (on PYTHONPATH)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from utils.cli import run_cli

from . import zoo
from .registry import import_modules


def shown(path: Path) -> str:
    """``path`` relative to the repository where it is in it."""
    return str(path.relative_to(zoo.ROOT)) if path.is_relative_to(zoo.ROOT) else str(path)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="print the zoo (every registered model)")
    action.add_argument("--write", action="store_true",
                        help=f"regenerate the zoo section of {shown(zoo.PAGE)} (this repository's models)")
    action.add_argument("--check", action="store_true",
                        help=f"exit 1 if the zoo section of {shown(zoo.PAGE)} is out of date")
    parser.add_argument("--markdown", action="store_true", help="with --list: Markdown tables instead of plain text")
    parser.add_argument("--imports", nargs="+", default=[], metavar="MODULE",
                        help="with --list: modules to import first (they register out-of-tree models)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.list:
        import_modules(args.imports)
        print((zoo.markdown if args.markdown else zoo.text)(), end="")
        return 0
    if args.write:
        changed = zoo.write_page()
        print(f"{shown(zoo.PAGE)}: zoo section {'regenerated' if changed else 'already up to date'}")
        return 0
    page, new = zoo.updated_page()
    if new != page:
        print(f"{shown(zoo.PAGE)}: the zoo section is out of date; run python -m models --write",
              file=sys.stderr)
        return 1
    print(f"{shown(zoo.PAGE)}: zoo section up to date")
    return 0


def main(argv=None) -> int:
    """``python -m models``; errors are one line, exit 1."""
    return run_cli(get_args_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
