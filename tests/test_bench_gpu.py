"""The GPU benchmark command, checked on a CPU by its dry run: every code path runs (tiny sizes,
no torch.compile), and the JSON holds what the GPU run will report."""
from __future__ import annotations

import json
import math

import pytest

from bench import gpu


@pytest.mark.slow
def test_dry_run_measures_every_setting_and_writes_one_json(tmp_path, capsys):
    path = tmp_path / "gpu.json"
    assert gpu.main(["--dry-run", "--json", str(path)]) == 0
    saved = json.loads(path.read_text())
    rows, machine = saved["rows"], saved["machine"]
    assert machine["cpu"] and "torch" in machine
    errors = [row for row in rows if str(row.get("note", "")).startswith("error")]
    assert errors == []
    by_benchmark = {}
    for row in rows:
        by_benchmark.setdefault(row["benchmark"], []).append(row)
    assert [row["unit"] for row in by_benchmark["matmul peak"]] == ["TFLOP/s"] * 3
    # Values are stored unrounded: an emulated fp16 matmul (no avx512_fp16) is slow, never zero.
    assert all(math.isfinite(row["value"]) and row["value"] > 0 for row in by_benchmark["matmul peak"])
    measured = [row for row in by_benchmark["inference"] if row["value"] is not None]
    not_run = [row for row in by_benchmark["inference"] if row["value"] is None]
    eager = [label for label, (_, _, compiled) in gpu.INFERENCE.items() if not compiled]
    expected = sorted(f"{label}, batch {b}" for label in eager for b in (1, 2))
    assert sorted(row["setting"] for row in measured) == expected
    assert all(row["unit"] == "images/s" and row["value"] > 0 and "TFLOP/s" in row["note"] for row in measured)
    assert {row["setting"] for row in not_run} == {label for label, (_, _, c) in gpu.INFERENCE.items() if c}
    assert all("dry run" in row["note"] for row in not_run)
    trained = [row for row in by_benchmark["training step"] if row["value"] is not None]
    assert len(trained) == len([1 for _, (_, _, c) in gpu.TRAINING.items() if not c])
    (end_to_end,) = by_benchmark["test.py end to end"]
    assert end_to_end["value"] > 0 and end_to_end["unit"] == "images/s"
    (run,) = by_benchmark["training run"]
    assert run["unit"] == "s" and "epoch losses" in run["note"]
    printed = capsys.readouterr().out
    assert printed.count("| matmul peak |") == 3 and f"saved {path}" in printed


def test_without_cuda_the_full_run_says_how_to_check_the_command():
    import torch

    if torch.cuda.is_available():  # on a GPU machine the full run is the benchmark itself
        assert gpu.Plan.for_run("cuda", False).compile
        return
    with pytest.raises(SystemExit, match="--dry-run checks the command on a CPU"):
        gpu.run("cuda")


def test_printed_table_keeps_a_slow_rate_visible():
    """An emulated fp16 matmul on a CPU without avx512_fp16 runs at a few GFLOP/s: the stored
    value and the printed cell stay positive instead of rounding to 0.0."""
    from bench.common import markdown

    table = markdown([{"benchmark": "matmul peak", "setting": "fp16, 256^3", "value": 0.00412, "unit": "TFLOP/s"},
                      {"benchmark": "model", "setting": "32x32", "value": 1234.5678, "unit": "GMACs"}])
    assert "| 0.00412 |" in table and "| 1235 |" in table
