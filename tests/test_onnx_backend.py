"""test.py's onnxruntime backend: the ONNX export cached beside a checkpoint is rebuilt when the
checkpoint changes and never used for another checkpoint; its maps equal PyTorch's within 1
gray level; impossible backend choices are one clear error."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.cdinet import CDINet, ModelVariant
from tests.helpers import FIXTURES
from utils.checkpoint import weights_export
from utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("test_script", ROOT / "test.py")
test_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_script)


def save_weights(path: Path, seed: int, backbone: str = "mobilenet_v2") -> Path:
    """A model of ours at 64x64 with seeded weights: MobileNetV2 runs fastest in PyTorch, VGG16
    exports fastest to ONNX (fewer operators to trace)."""
    torch.manual_seed(seed)
    model = CDINet(ModelVariant(), backbone)
    for module in model.modules():  # BatchNorm statistics that are not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    config = {"model": {"backbone": {"name": backbone}}, "data": {"augment": {"size": 64}}}
    torch.save(weights_export(model.state_dict(), config), path)
    return path


def run(checkpoint: Path, out: Path, *extra) -> dict:
    argv = ["--checkpoint", str(checkpoint), "--data-root", str(FIXTURES / "rgbd"), "--datasets", "DES",
            "--out", str(out), *(str(e) for e in extra)]
    assert test_script.main(test_script.get_args_parser().parse_args(argv)) == 0
    return json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]


def maps(folder: Path) -> dict:
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(int) for p in sorted((folder / "DES").iterdir())}


def max_difference(a: dict, b: dict) -> int:
    assert a.keys() == b.keys() and len(a) == 5
    return max(int(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.mark.slow
def test_cache_is_rebuilt_for_a_changed_checkpoint_and_never_shared(tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    checkpoint = save_weights(tmp_path / "ckpt" / "w.pth", seed=0, backbone="vgg16")
    first = run(checkpoint, tmp_path / "a", "--backend", "onnxruntime")
    assert first["backend"] == "onnxruntime" and first["onnx_cache"] == "exported"
    cached = Path(first["onnx_file"])
    assert cached.parent == checkpoint.parent and cached.name.startswith("w.") and cached.suffix == ".onnx"
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert notes[0].startswith("note: exporting the model to ONNX for onnxruntime, once per checkpoint")
    assert str(cached) in notes[0] and "--onnx-cache DIR keeps exports elsewhere" in notes[0]
    assert notes[1].startswith("note: exported in ") and f"{cached} (" in notes[1] and notes[1].endswith(" MB)")
    stamp = cached.stat().st_mtime_ns
    again = run(checkpoint, tmp_path / "b", "--backend", "onnxruntime")
    assert again["onnx_cache"] == "reused" and again["onnx_file"] == str(cached) and cached.stat().st_mtime_ns == stamp
    assert "exporting" not in capsys.readouterr().err
    elsewhere = run(checkpoint, tmp_path / "e", "--backend", "onnxruntime", "--onnx-cache", tmp_path / "cache")
    assert Path(elsewhere["onnx_file"]).parent == tmp_path / "cache" and elsewhere["onnx_cache"] == "exported"
    assert cached.exists() and sorted(p.name for p in (tmp_path / "cache").iterdir()) == [cached.name]
    assert max_difference(maps(tmp_path / "a"), maps(tmp_path / "b")) == 0
    torch_maps = run(checkpoint, tmp_path / "t", "--backend", "torch")
    assert torch_maps["backend"] == "torch" and max_difference(maps(tmp_path / "a"), maps(tmp_path / "t")) <= 1

    # The same file with new weights (e.g. a resumed run's weights_final.pth).
    save_weights(checkpoint, seed=1, backbone="vgg16")
    changed = run(checkpoint, tmp_path / "c", "--backend", "onnxruntime")
    assert changed["onnx_cache"] == "exported" and changed["onnx_file"] != str(cached) and not cached.exists()
    run(checkpoint, tmp_path / "ct", "--backend", "torch")
    assert max_difference(maps(tmp_path / "c"), maps(tmp_path / "ct")) <= 1
    assert max_difference(maps(tmp_path / "c"), maps(tmp_path / "a")) > 10  # really the new weights

    # Another checkpoint with w.pth's export planted under the name its own export would have
    # (<stem>.<sha256[:16]>.onnx): the file's recorded checksum is w.pth's, so it is not used.
    other = save_weights(tmp_path / "ckpt" / "v.pth", seed=2, backbone="vgg16")
    planted = other.parent / f"v.{hashlib.sha256(other.read_bytes()).hexdigest()[:16]}.onnx"
    shutil.copy(changed["onnx_file"], planted)
    result = run(other, tmp_path / "d", "--backend", "onnxruntime")
    assert result["onnx_cache"] == "exported" and result["onnx_file"] == str(planted)
    run(other, tmp_path / "dt", "--backend", "torch")
    assert max_difference(maps(tmp_path / "d"), maps(tmp_path / "dt")) <= 1
    assert max_difference(maps(tmp_path / "d"), maps(tmp_path / "c")) > 10


def test_onnxruntime_backend_refuses_what_it_cannot_run(tmp_path):
    checkpoint = save_weights(tmp_path / "w.pth", seed=0)
    with pytest.raises(ConfigError, match="--backend onnxruntime runs fp32 on the CPU only; "
                                                    "not with: --amp bf16, --compile"):
        run(checkpoint, tmp_path / "out", "--backend", "onnxruntime", "--amp", "bf16", "--compile")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("*.onnx"))
    info = run(checkpoint, tmp_path / "auto", "--amp", "bf16")  # auto: PyTorch runs bf16
    assert info["backend"] == "torch" and info["amp"] == "bf16" and "onnx_file" not in info
