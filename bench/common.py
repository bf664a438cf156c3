"""Shared benchmark plumbing: rows, Markdown tables, JSON files, machine description.

A row is ``{"benchmark", "setting", "value", "unit"}`` plus optional extras (``ratio``,
``peak_rss_mb``, ``note``). Every module under bench/ returns a list of rows from ``run()``.
Values are stored as measured; rounding happens only where a table is printed (``_cell``).
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List


def machine() -> Dict[str, object]:
    """What the numbers were measured on."""
    import torch

    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                # What decides CPU inference speed (bf16 is emulated without avx512_bf16 / amx_bf16);
                # the full list follows, so figures from different machines are never mixed up.
                info["cpu_simd"] = [f for f in flags if f.startswith(("avx", "amx", "fma", "sse4"))]
                info["cpu_flags"] = " ".join(flags)
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def gemm_peak(repeats: int = 10) -> tuple[float, float]:
    """The machine's fp32 GEMM peak with torch's current threads, as (best, median) GFLOP/s of
    ``repeats`` 2048x2048 ``torch.mm`` after one warm-up: the best is the peak (on a shared machine
    the median includes waits). The yardstick of the GFLOP/s that the CPU benchmarks report."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        rates.append(2 * 2048 ** 3 / (time.perf_counter() - start) / 1e9)
    return max(rates), statistics.median(rates)


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1,
                   sync: Callable[[], None] = lambda: None) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def markdown(rows: List[dict]) -> str:
    """Rows as a Markdown table (ratio and peak memory columns when present)."""
    extras = [key for key in ("ratio", "gflop_per_s", "gemm_peak_pct", "peak_rss_mb", "peak_cuda_mb", "note")
              if any(key in r for r in rows)]
    header = ["benchmark", "setting", "value", "unit", *extras]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key, "")) for key in header) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def report(rows: List[dict], json_path=None) -> None:
    """Print the rows as a Markdown table and, with a path, save them as JSON."""
    print(markdown(rows))
    if json_path:
        save_json(rows, json_path)


def save_json(rows: List[dict], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
