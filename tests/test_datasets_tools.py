"""datasets.synthetic, datasets.check and bench.loader: determinism, layout, audit, CLIs."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import loader as bench_loader
from datasets import RGBDSODDataset, build_test_transform, check, synthetic
from tests.helpers import FIXTURES
from utils.errors import DatasetError
from utils.layout import list_datasets

PROJECT = Path(__file__).resolve().parents[1]


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def syn(tmp_path_factory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("syn") / "data", 24, 6, 48, seed=3)


# --- synthetic ------------------------------------------------------------------------------


def test_synthetic_layout_and_loading(syn):
    assert sorted(p.name for p in (syn / "train").iterdir()) == ["GT", "RGB", "depth"]
    assert list_datasets(syn / "test") == ["SYN"]
    train = RGBDSODDataset(syn / "train", build_test_transform(48))
    test = RGBDSODDataset(syn / "test" / "SYN", build_test_transform(48))
    assert (len(train), len(test)) == (24, 6) and test[0]["dataset"] == "SYN"


def test_synthetic_is_byte_identical_for_the_same_arguments(syn, tmp_path):
    assert files(synthetic.generate(tmp_path / "again", 24, 6, 48, seed=3)) == files(syn)
    other = files(synthetic.generate(tmp_path / "other", 24, 6, 48, seed=4))
    assert other.keys() == files(syn).keys() and other != files(syn)


def test_synthetic_objects_are_near_bright_large_and_varied(syn):
    contrasts, components = [], []
    for gt_path in sorted((syn / "train" / "GT").iterdir()):
        gt = cv2.imread(str(gt_path), cv2.IMREAD_UNCHANGED) > 127
        depth = cv2.imread(str(syn / "train" / "depth" / gt_path.name), cv2.IMREAD_UNCHANGED)
        rgb = cv2.imread(str(syn / "train" / "RGB" / f"{gt_path.stem}.jpg")) / 255.0
        assert depth[gt].mean() > depth[~gt].mean() + 60  # near = bright, clearly
        assert 0.1 <= gt.mean() <= 0.5
        contrasts.append(np.linalg.norm(rgb[gt].mean(0) - rgb[~gt].mean(0)))
        components.append(cv2.connectedComponents(gt.astype(np.uint8))[0] - 1)
    assert min(contrasts) < 0.15 < 0.3 < max(contrasts)  # camouflaged and conspicuous objects
    assert {1, 2} <= set(components)  # one or two objects


def test_synthetic_never_leaves_a_partial_dataset(tmp_path, monkeypatch):
    calls = []

    def failing_render(rng, size):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return np.zeros((size, size, 3), np.uint8), np.zeros((size, size), np.uint8), \
            np.zeros((size, size), np.uint8)

    monkeypatch.setattr(synthetic, "render", failing_render)
    with pytest.raises(RuntimeError):
        synthetic.generate(tmp_path / "out", 4, 1, 32, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_synthetic_refuses_a_non_empty_output_folder(syn):
    with pytest.raises(DatasetError, match="already exists"):
        synthetic.generate(syn, 2, 1, 32)


# --- check ----------------------------------------------------------------------------------


def test_check_des_fixture_reports_near_dark(capsys):
    assert check.main([str(FIXTURES / "rgbd" / "DES")]) == 0
    out = capsys.readouterr().out
    assert "5 paired" in out and "8-bit: 5" in out
    assert "near = dark" in out and "invert_depth=True" in out and "verdict:   usable" in out


def test_check_audits_every_dataset_under_a_benchmark_root(syn, capsys):
    assert check.main([str(syn / "test"), str(syn / "train")]) == 0
    out = capsys.readouterr().out
    assert "SYN  (" in out and "train  (" in out and out.count("near = bright") == 2


def test_check_names_every_problem_and_fails(syn, tmp_path, capsys):
    root = tmp_path / "bad"
    shutil.copytree(syn / "train", root)
    (root / "depth" / "train_00001.png").unlink()  # unpaired
    (root / "GT" / "train_00002.png").write_bytes(b"")  # empty
    (root / "RGB" / "train_00003.jpg").write_bytes(b"garbage")  # unreadable
    cv2.imwrite(str(root / "GT" / "train_00004.png"), np.zeros((10, 12), np.uint8))  # size
    depth16 = np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 20
    cv2.imwrite(str(root / "depth" / "train_00005.png"), depth16)
    assert check.main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "missing from" in out and "train_00001" in out
    assert "train_00002.png: empty file" in out and "train_00003.jpg: unreadable" in out
    assert "train_00004.png 12x10 vs RGB 48x48" in out
    assert "16-bit: 1" in out and "NOT usable (4 problem(s))" in out


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT, capture_output=True,
                          text=True, timeout=120)


def test_clis_print_one_line_errors_without_traceback(syn, tmp_path):
    result = run_module("datasets.synthetic", "--out", str(syn), "--train", "2")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {syn}: already exists and is not empty; remove it " \
                                    "or pick another"

def test_check_reports_a_missing_folder_without_traceback(tmp_path, capsys):
    assert check.main([str(tmp_path / "nowhere")]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "nowhere: dataset folder not found" in out.out


@pytest.mark.parametrize("module", [synthetic, check])
def test_cli_help_has_examples(module, capsys):
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert "examples:" in capsys.readouterr().out


# --- benchmark (smoke only: the figures are not asserted) ------------------------------------


def test_bench_loader_returns_rows():
    rows = bench_loader.run(size=32, workers=(0,), samples=12, source_size=48)
    assert [set(r) for r in rows] == [{"benchmark", "setting", "value", "unit"}]
    assert rows[0]["value"] > 0 and rows[0]["setting"] == "32x32 from 48x48, batch 4, 0 workers"
