"""Run the benchmarks behind docs/performance.md, print their table, save it as JSON.

Examples:
  python -m bench                                   # everything, CPU
  python -m bench --only eval loader                # the quick ones
  python -m bench --only train inference --device cuda --json bench/results/h100.json

Each benchmark measures its comparisons side by side in one run. Settings are in each row;
the machine is written next to the rows in the JSON file (default bench/results/latest.json).
"""
from __future__ import annotations

import argparse
import sys

from bench import eval_speed, inference, load, loader, train_step
from bench.common import machine, markdown, save_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=["eval", "loader", "train", "inference", "load"],
                        default=["eval", "loader", "train", "inference", "load"])
    parser.add_argument("--device", default="cpu", help="device for the training and inference benchmarks")
    parser.add_argument("--json", default="bench/results/latest.json")
    args = parser.parse_args(argv)
    rows = []
    if "eval" in args.only:
        rows += eval_speed.run()
    if "loader" in args.only:
        rows += loader.run()
    if "train" in args.only:
        rows += train_step.run(device=args.device)
    if "inference" in args.only:
        rows += inference.run(inference.get_args_parser().parse_args(["--device", args.device]))
    if "load" in args.only:
        rows += load.run(load.get_args_parser().parse_args([]))
    print(f"machine: {machine()}\n")
    print(markdown(rows))
    save_json(rows, args.json)
    print(f"\nsaved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
