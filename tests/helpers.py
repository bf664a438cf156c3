"""Helpers shared by several test modules (a test module imports neither another test module nor
conftest.py: what two of them need lives here). Expected values come from outside the project: the
constants here are the release's or the papers', written out, not read from its code."""
from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from models import create_model
from models.cdinet import ModelVariant

# ----------------------------------------------------------------------------------------- paths
# The repository, the fixtures every test reads (tests/fixtures/SOURCES.md), the release's maps of
# the keyed seed-0 weights (the authors' test script's output) and the shipped split lists.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
RGBD = FIXTURES / "rgbd"
RELEASE_MAPS = FIXTURES / "reference" / "release_maps_seed0" / "DES"
SPLITS = PROJECT_ROOT / "eval" / "splits"

# ------------------------------------------------------------------------------------ the inputs
# The release's torchvision Normalize values (CDINet's dataLoader.py): ImageNet mean/std for RGB,
# 0.485 / 0.229 for depth.
RGB_MEAN, RGB_STD, DEPTH_MEAN, DEPTH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 0.485, 0.229


def unnormalise(rgb: torch.Tensor, depth: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A sample's normalised RGB (3, H, W) and depth (1, H, W) back in [0, 1]: (H, W, 3), (H, W)."""
    rgb = rgb.numpy().transpose(1, 2, 0) * np.array(RGB_STD) + np.array(RGB_MEAN)
    return rgb, depth[0].numpy() * DEPTH_STD + DEPTH_MEAN


# ------------------------------------------------------------------------------------ the models
def new_cdinet(backbone: str = "vgg16", weights: Union[str, Path, None] = None,
               variant: Optional[Dict[str, Any]] = None):
    """``create_model("cdinet", ...)`` with the streams from ``weights`` (``imagenet``, a
    torchvision file, ``none``; None: random init) and the ablation switches ``variant``."""
    modules = variant.to_dict() if hasattr(variant, "to_dict") else dict(variant or {})
    return create_model("cdinet", pretrained=weights is not None,
                        backbone={"name": backbone, "weights": str(weights) if weights is not None else "none"},
                        modules=modules)


# Every combination of the ablation switches (RDE, DSE, DDR), and all off with additive fusion.
VARIANTS = [ModelVariant(rde, dse, ddr) for rde, dse, ddr in itertools.product([True, False], repeat=3)] \
    + [ModelVariant(False, False, False, "add")]
WIDTHS = (64, 128, 256, 512, 512)  # VGG16's five level widths
VGG16_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
               (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
# Level widths from the papers' architecture tables (ResNet-50: stem 64, conv2_x..conv5_x 256..2048;
# MobileNetV2: the 16, 24, 32, 96 and 320-channel bottleneck groups).
NATIVE_WIDTHS = {"resnet50": (64, 256, 512, 1024, 2048), "mobilenet_v2": (16, 24, 32, 96, 320)}
# What each backbone leaves out of torchvision's classifier: the head (and MobileNetV2's last 1x1 conv).
UNUSED = {"resnet50": ("fc.",), "mobilenet_v2": ("classifier.", "features.18.")}


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    """Parameters of a ``k`` x ``k`` convolution from ``cin`` to ``cout`` channels."""
    return cin * cout * k * k + (cout if bias else 0)


def expected_parameters(v: ModelVariant, widths=WIDTHS, backbone: int | None = None) -> int:
    """The reference parameter count of a CDINet variant: counted from the architecture's
    description (docs/cdinet.md), not from the implementation. ``widths``/``backbone``: another
    backbone's level widths and parameters per stream; the levels whose width is not VGG16's get a
    1x1 adapter (bias) to it."""
    total = 2 * (sum(conv(a, b, 3) for a, b in VGG16_CONVS) if backbone is None else backbone)
    fuse = lambda c: conv(2 * c, c, 1) if v.fusion == "concat" else 0  # noqa: E731
    rde = lambda c: conv(2 * c, c, 1) + conv(c, c, 3) + 2 * conv(1, 1, 7, bias=False)  # noqa: E731
    dse = lambda c: 2 * conv(1, 1, 3, bias=False) + 2 * (c * (c // 4) + c // 4 + (c // 4) * c + c)  # noqa: E731
    total += sum(rde(c) if v.rde else fuse(c) for c in widths[:2])
    total += sum(dse(c) if v.dse else fuse(c) for c in widths[2:])
    total += sum(conv(c, d, 1) for c, d in zip(widths, WIDTHS) if c != d)
    total += conv(512, 512, 3)  # conv_mid
    stacks = [(512, 512, 512, 512), (1024, 512, 512, 256), (512, 256, 256, 128), (256, 128, 64), (128, 64, 3)]
    total += sum(conv(a, b, 3) for s in stacks for a, b in zip(s[:-1], s[1:])) + conv(3, 1, 3)
    if v.ddr:
        total += sum(conv(cin, cout, 1) + conv(cout, cout, 3)
                     for cin, cout in ((512, 512), (1024, 256), (1280, 128), (1408, 64)))
    return total


def torchvision_model(name: str, seed: int = 0) -> torch.nn.Module:
    """torchvision's own ``name`` (the reference for a backbone's stages), seeded, in eval mode,
    with non-trivial BatchNorm statistics so that buffers are checked too."""
    import torchvision

    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def backbone_parameters(name: str) -> int:
    """Parameters per stream of backbone ``name``: torchvision's model less what CDINet leaves out."""
    return sum(p.numel() for key, p in torchvision_model(name).named_parameters() if not key.startswith(UNUSED[name]))


def train_steps(model: torch.nn.Module, batch: dict, steps: int = 6) -> list[float]:
    """Adam at the release's lr on one batch, BCE on logits; the losses."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(model(batch["rgb"], batch["depth"]), batch["gt"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# -------------------------------------------------------------------------------------- test.py
def load_test_script():
    """test.py as a module (its name clashes with pytest's idea of a test file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("test_script", PROJECT_ROOT / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_test_py(checkpoint: Path, data_root: Path, out: Path, *extra) -> dict:
    """test.py on PyTorch with ``extra`` flags; its test_info.json records by dataset."""
    import json

    script = load_test_script()
    argv = ["--checkpoint", checkpoint, "--data-root", data_root, "--out", out, "--backend", "torch", *extra]
    assert script.main(script.get_args_parser().parse_args([str(a) for a in argv])) == 0
    return json.loads((out / "test_info.json").read_text())["datasets"]


def assert_maps_match(out: Path, reference: Path, shape: tuple = (480, 640)) -> None:
    """The maps in ``out`` are the reference maps (the authors' test script's), file for file,
    each pixel within 1 gray level."""
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names and names
    for name in names:
        theirs = cv2.imread(str(reference / name), cv2.IMREAD_UNCHANGED).astype(int)
        ours = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED).astype(int)
        assert ours.shape == theirs.shape == shape
        assert np.abs(ours - theirs).max() <= 1, name


# -------------------------------------------------------------------------------------- train.py
# train.py run as a user runs it: with a signal sent from inside a step, and under torchrun.
SIGNALLING = """
import os, signal, sys
sys.path.insert(0, {root!r})
import train
from utils.cli import run_cli
real_loss, calls = train.compute_loss, [0]
def loss(outputs, gt, config):
    calls[0] += 1
    if calls[0] == {step} and os.environ.get("RANK", "0") == "0":
        {send}
    return real_loss(outputs, gt, config)
train.compute_loss = loss
sys.exit(run_cli(train.get_args_parser(), train.main))
"""


def signalling_script(folder, step, send):
    """train.py's command line, with ``send`` (Python) run inside step ``step`` on rank 0."""
    script = folder / "train_signalled.py"
    script.write_text(SIGNALLING.format(root=str(PROJECT_ROOT), step=step, send=send))
    return script


def torchrun(script_args, env_extra=None, timeout=300):
    """``torchrun --nproc_per_node=2`` on CPU (gloo); returns (status, stderr)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
            f"--master_port={port}", *script_args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    launcher = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    try:
        _, stderr = launcher.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        raise
    return launcher.returncode, stderr


# ------------------------------------------------------------------------------------ evaluation
# Our metric keys -> the variable names in the MATLAB toolbox's output (CODToolbox
# ``Onekey_Evaluation_Code``, tests/fixtures/matlab_reference/SINet_matlab_output.mat).
MAT_KEYS = {"Sm": "Sm", "wFm": "wFm", "MAE": "mae", "adpFm": "adpFm", "meanFm": "meanFm",
            "maxFm": "maxFm", "adpEm": "adpEm", "meanEm": "meanEm", "maxEm": "maxEm"}


def make_dataset(tmp_path: Path, n: int = 6, gt_folder: str = "GT", methods=("A", "B"), seed=0):
    """ROOT/DS/<gt_folder>/*.png and <method>/DS/*.png; returns (data_root, {method: folder})."""
    rng = np.random.default_rng(seed)
    data = tmp_path / "data"
    (data / "DS" / gt_folder).mkdir(parents=True)
    folders = {m: tmp_path / "maps" / m for m in methods}
    for folder in folders.values():
        (folder / "DS").mkdir(parents=True)
    for i in range(n):
        h, w = rng.integers(20, 50, 2)
        gt = (rng.random((h, w)) < 0.3).astype(np.uint8) * 255
        cv2.imwrite(str(data / "DS" / gt_folder / f"im{i}.png"), gt)
        for folder in folders.values():
            cv2.imwrite(str(folder / "DS" / f"im{i}.png"), rng.integers(0, 256, (h, w), dtype=np.uint8))
    return data, folders


def blob_pair(rng, noise: float, h=None, w=None):
    """A binary ellipse GT and a blurred, noisy 8-bit map of it (uint8 each)."""
    h, w = h or int(rng.integers(24, 48)), w or int(rng.integers(24, 48))
    yy, xx = np.mgrid[:h, :w]
    gt = ((yy - rng.uniform(0.3, 0.7) * h) / rng.uniform(3, h / 3)) ** 2 \
        + ((xx - rng.uniform(0.3, 0.7) * w) / rng.uniform(3, w / 3)) ** 2 < 1
    pred = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), rng.uniform(1, 4)) + rng.normal(0, noise, gt.shape)
    return np.clip(pred * 255, 0, 255).astype(np.uint8), gt.astype(np.uint8) * 255


def make_methods(root: Path, n: int, noises: dict, seed=0, dataset="DS", stems=None):
    """ROOT/data/<dataset>/GT and ROOT/<method>/<dataset>/ maps of the same GT at the given noise."""
    rng = np.random.default_rng(seed)
    stems = stems or [f"im{i:02d}" for i in range(n)]
    (root / "data" / dataset / "GT").mkdir(parents=True)
    for method in noises:
        (root / method / dataset).mkdir(parents=True)
    for stem in stems:
        pred, gt = blob_pair(rng, 0.1)
        cv2.imwrite(str(root / "data" / dataset / "GT" / f"{stem}.png"), gt)
        for method, noise in noises.items():
            noisy = np.clip(pred + rng.normal(0, 255 * noise, pred.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / method / dataset / f"{stem}.png"), noisy)
    return root / "data", {m: root / m for m in noises}


# --------------------------------------------------------------------------------------- figures
def read_png(path: Path) -> np.ndarray:
    """An image file as RGB (H, W, 3) uint8."""
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def locate(figure: np.ndarray, tile: np.ndarray) -> tuple[int, int, float]:
    """``(x, y, error)``: where ``tile`` fits ``figure`` best, and the mean absolute difference there."""
    scores = cv2.matchTemplate(figure, tile, cv2.TM_SQDIFF)
    x, y = cv2.minMaxLoc(scores)[2]
    h, w = tile.shape[:2]
    return x, y, float(np.abs(figure[y:y + h, x:x + w].astype(int) - tile).mean())
