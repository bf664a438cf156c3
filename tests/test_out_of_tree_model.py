"""A model kept outside the project (docs/models.md, "A model in your own repository").

A tiny two-stream network with deep supervision is written to a temporary folder, named in a
config with ``imports:``, and goes through train.py, test.py (a fresh interpreter: the model is
rebuilt from the checkpoint alone), ``Predictor`` and ``python -m eval``; no project file is
touched (checked at the end).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import train
from datasets.synthetic import generate
from inference import Predictor
from utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

TINY_MODEL = '''
"""A tiny two-stream RGB-D network, registered from outside the project."""
import torch
from torch import nn

from models import InputSpec, register_model


class TinyTwoStream(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.rgb = nn.Conv2d(3, width, 3, padding=1)
        self.depth = nn.Conv2d(1, width, 3, padding=1)
        self.coarse = nn.Conv2d(width, 1, 1)
        self.fine = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, rgb, depth):
        features = torch.relu(self.rgb(rgb) + self.depth(depth))
        coarse = self.coarse(nn.functional.avg_pool2d(features, 2))  # (B, 1, H/2, W/2)
        return [coarse, self.fine(features)]                           # deep supervision; the map is last


@register_model(title="Tiny two-stream", input_spec=InputSpec(size=32, multiple=2, depth_mean=None,
                                                               depth_std=None))
def tiny_two_stream(pretrained: bool = False, width: int = 8):
    return TinyTwoStream(width)
'''


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A researcher's own repository: the model module and a config that names it."""
    folder = tmp_path_factory.mktemp("my_research")
    (folder / "my_tiny_model.py").write_text(TINY_MODEL)
    (folder / "tiny.yaml").write_text(textwrap.dedent(f"""\
        _base_: {ROOT / "configs" / "demo.yaml"}
        imports: [my_tiny_model]
        model: {{name: tiny_two_stream, width: 6}}
        loss: {{kind: bce_iou, weights: [0.5, 1.0]}}
        data:
          augment: {{size: 32}}
        train: {{epochs: 1, batch_size: 4}}
        checkpoint: {{every: 1}}
        """))
    return folder


def project_state() -> str:
    """Tracked changes and untracked files of the project, as git sees them."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def test_a_model_from_another_folder_trains_tests_predicts_and_evaluates(outside, tmp_path, monkeypatch):
    before = project_state()
    data = generate(tmp_path / "data", n_train=10, n_test=3, size=40, seed=5)
    run_dir = tmp_path / "run"
    monkeypatch.syspath_prepend(str(outside))  # as PYTHONPATH=~/my_research would
    args = train.get_args_parser().parse_args(
        ["--config", str(outside / "tiny.yaml"), "--set", f"data.root={data}", "--set", f"log.dir={run_dir}"])
    assert train.main(args) == 0

    saved = torch.load(run_dir / "weights_final.pth", weights_only=True)
    assert saved["config"]["imports"] == ["my_tiny_model"]
    assert saved["config"]["model"]["name"] == "tiny_two_stream" and saved["config"]["model"]["width"] == 6
    assert saved["model"]["rgb.weight"].shape == (6, 3, 3, 3)
    lines = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    epoch = next(line for line in lines if line.get("epoch") == 1)
    assert 0.0 <= epoch["val"]["Sm"] <= 1.0 and np.isfinite(epoch["loss"])

    # test.py in a fresh interpreter: only the checkpoint says which model and module it needs.
    maps = tmp_path / "maps"
    env = {**os.environ, "PYTHONPATH": str(outside)}
    command = [sys.executable, "test.py", "--checkpoint", str(run_dir / "weights_final.pth"), "--data-root",
               str(data / "test"), "--datasets", "SYN", "--out", str(maps), "--device", "cpu", "--workers", "0"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (maps / "SYN").iterdir())
    assert names == sorted(p.stem + ".png" for p in (data / "test" / "SYN" / "GT").iterdir()) and len(names) == 3
    settings = json.loads((maps / "test_info.json").read_text())["datasets"]["SYN"]["settings"]
    assert settings["model"] == {"name": "tiny_two_stream", "width": 6}
    assert settings["model_description"] == "Tiny two-stream" and settings["size"] == 32
    assert "rde" not in json.dumps(settings)  # nothing of CDINet's switches is recorded for it

    # Predictor gives test.py's maps (same checkpoint, same spec: depth in [0, 1], 32x32).
    predictor = Predictor.from_checkpoint(run_dir / "weights_final.pth", device="cpu")
    stem = Path(names[0]).stem
    rgb = next((data / "test" / "SYN" / "RGB").glob(f"{stem}.*"))
    depth = next((data / "test" / "SYN" / "depth").glob(f"{stem}.*"))
    from_predictor = predictor.predict(str(rgb), str(depth))
    from_test_py = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(maps / "SYN" / names[0]))
    assert np.abs(from_predictor.astype(int) - from_test_py.astype(int)).max() <= 1

    # python -m eval on those maps: a table with the model's row.
    result = subprocess.run([sys.executable, "-m", "eval", "--pred", str(maps), "--data-root", str(data / "test"),
                             "--datasets", "SYN", "--out", str(tmp_path / "eval")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "eval" / "table.md").read_text()
    assert "maps" in table and "SYN" in table

    assert project_state() == before  # no project file edited or added


def test_a_module_that_cannot_be_imported_is_one_clear_error(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text(f"_base_: {ROOT / 'configs' / 'demo.yaml'}\nimports: [no_such_module_here]\n")
    args = train.get_args_parser().parse_args(["--config", str(config), "--print-config"])
    with pytest.raises(ConfigError, match=r"imports: cannot import 'no_such_module_here'.*PYTHONPATH"):
        train.main(args)
