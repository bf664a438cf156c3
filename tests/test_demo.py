"""The demo pipeline end to end (`make demo`'s own target), at a reduced size, on CPU."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import py_sod_metrics  # the reference S-measure and MAE (requirements-dev.txt)
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_pipeline_reduced(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    result = subprocess.run(
        ["make", "--no-print-directory", "demo-pipeline", f"PY={sys.executable}", f"DEMO_DATA={data}",
         f"DEMO_RUN={run}", "DEMO_TRAIN=10", "DEMO_TEST=3", "DEMO_SIZE=32",
         "DEMO_SET=--set train.max_steps=2 --set data.val_fraction=0.2"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = json.loads((run / "eval" / "metrics.json").read_text())["results"]
    assert set(metrics) == {"CDINet", "untrained"}
    for method in ("CDINet", "untrained"):
        maps = sorted((run / "maps" / method / "SYN").glob("*.png"))
        assert len(maps) == 3 and cv2.imread(str(maps[0]), cv2.IMREAD_UNCHANGED).shape == (96, 96)
        sm, mae = py_sod_metrics.Smeasure(), py_sod_metrics.MAE()
        for path in maps:  # the table's numbers are PySODMetrics' on the maps the demo wrote
            pred = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            gt = cv2.imread(str(data / "test" / "SYN" / "GT" / path.name), cv2.IMREAD_GRAYSCALE)
            sm.step(pred, gt)
            mae.step(pred, gt)
        scores = metrics[method]["SYN"]
        assert scores["n_images"] == 3
        assert scores["Sm"] == pytest.approx(sm.get_results()["sm"], abs=1e-6)
        assert scores["MAE"] == pytest.approx(mae.get_results()["mae"], abs=1e-6)
    assert (run / "qualitative.png").is_file() and (run / "qualitative.pdf").is_file()
    assert (run / "eval" / "table.md").is_file() and list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert "demo finished in" in result.stdout and "CDINet" in result.stdout
