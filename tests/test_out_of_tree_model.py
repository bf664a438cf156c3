"""A model kept outside the project (docs/models.md, "A model in your own repository").

A tiny two-stream network with deep supervision is written to a temporary folder, named in a
config with ``imports:``, and goes through train.py, test.py (a fresh interpreter: the model is
rebuilt from the checkpoint alone), ``Predictor`` and ``python -m eval``; no project file is
touched (checked at the end).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

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


def tiny_map(state: dict, rgb_path: Path, depth_path: Path) -> np.ndarray:
    """The saliency map of the tiny network written out here: its pixel path (Pillow resize to 32,
    ImageNet mean/std on RGB, depth in [0, 1]), its last output from the saved tensors with
    ``F.conv2d``, and the release's post-processing (bilinear to the image's size, sigmoid,
    min-max, x255, rounded)."""
    rgb_image = Image.open(rgb_path).convert("RGB")
    rgb = T.Compose([T.Resize((32, 32)), T.ToTensor(),
                     T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(rgb_image)[None]
    depth = T.Compose([T.Resize((32, 32)), T.ToTensor()])(Image.open(depth_path).convert("L"))[None]
    features = torch.relu(F.conv2d(rgb, state["rgb.weight"], state["rgb.bias"], padding=1)
                          + F.conv2d(depth, state["depth.weight"], state["depth.bias"], padding=1))
    logits = F.conv2d(features, state["fine.weight"], state["fine.bias"], padding=1)
    prob = torch.sigmoid(F.interpolate(logits, size=rgb_image.size[::-1], mode="bilinear", align_corners=False))
    prob = (prob - prob.min()) / (prob.max() - prob.min() + 1e-8)
    return torch.round(prob * 255)[0, 0].numpy().astype(int)


def mean_absolute_error(map_paths, gt_folder: Path) -> float:
    """MAE as docs/metrics.md defines it, per image then averaged: the map / 255, min-max
    normalised, against the GT thresholded at 128."""
    scores = []
    for path in map_paths:
        pred = np.asarray(Image.open(path).convert("L"), np.float64) / 255
        if pred.max() > pred.min():
            pred = (pred - pred.min()) / (pred.max() - pred.min())
        gt = np.asarray(Image.open(gt_folder / path.name).convert("L")) > 128
        scores.append(np.abs(pred - gt).mean())
    return float(np.mean(scores))


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

    # Predictor and test.py give the maps of the network written out here (tiny_map).
    predictor = Predictor.from_checkpoint(run_dir / "weights_final.pth", device="cpu")
    for name in names:
        rgb = next((data / "test" / "SYN" / "RGB").glob(f"{Path(name).stem}.*"))
        depth = next((data / "test" / "SYN" / "depth").glob(f"{Path(name).stem}.*"))
        expected = tiny_map(saved["model"], rgb, depth)
        assert np.abs(predictor.predict(str(rgb), str(depth)).astype(int) - expected).max() <= 1, name
        assert np.abs(np.asarray(Image.open(maps / "SYN" / name)).astype(int) - expected).max() <= 1, name

    # python -m eval on those maps: a table with the model's row.
    result = subprocess.run([sys.executable, "-m", "eval", "--pred", str(maps), "--data-root", str(data / "test"),
                             "--datasets", "SYN", "--out", str(tmp_path / "eval")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "eval" / "table.md").read_text()
    mae = float(re.search(r"\| MAE [^|]*\| \**([0-9.]+)", table).group(1))
    assert abs(mae - mean_absolute_error(sorted((maps / "SYN").iterdir()), data / "test" / "SYN" / "GT")) <= 5.01e-4

    assert project_state() == before  # no project file edited or added


def test_a_module_that_cannot_be_imported_is_one_clear_error(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text(f"_base_: {ROOT / 'configs' / 'demo.yaml'}\nimports: [no_such_module_here]\n")
    args = train.get_args_parser().parse_args(["--config", str(config), "--print-config"])
    with pytest.raises(ConfigError, match=r"imports: cannot import 'no_such_module_here'.*PYTHONPATH"):
        train.main(args)
