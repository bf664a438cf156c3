"""What a newcomer meets with real folders: DMRA layouts, other dataset names, missing GT,
impossible arguments; each fails early and in one line, or works."""
from __future__ import annotations

import importlib.util
import json
import shutil
import stat
import subprocess
from pathlib import Path

import cv2
import pytest
import torch

from eval import evaluate_folders
from models import load_config
from models.cdinet import CDINet
from tests.helpers import FIXTURES
from utils.cli import run_cli
from utils.errors import ConfigError, EvalError

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("test_script", ROOT / "test.py")
test_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_script)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("w") / "w.pth"
    torch.manual_seed(0)
    torch.save(CDINet().state_dict(), path)
    return path


def dmra_copy(root: Path, name: str, with_gt: bool = True) -> Path:
    """The DES fixtures in the DMRA layout (test_images/test_depth/test_masks) as ``name``."""
    for src, dst in (("RGB", "test_images"), ("depth", "test_depth")) + ((("GT", "test_masks"),) if with_gt else ()):
        shutil.copytree(FIXTURES / "rgbd" / "DES" / src, root / name / dst)
    return root / name


def run(*argv) -> int:
    return test_script.main(test_script.get_args_parser().parse_args([str(a) for a in argv]))


def test_dmra_layout_under_another_name_runs_and_evaluates(weights, tmp_path):
    """RGBD135 in the DMRA layout is found as DES; maps go to OUT/DES; --eval finds the GT."""
    data = tmp_path / "data"
    dmra_copy(data, "RGBD135")
    out = tmp_path / "maps"
    assert run("--checkpoint", weights, "--data-root", data, "--datasets", "DES", "--out", out, "--size", 64,
               "--eval") == 0
    assert len(list((out / "DES").glob("*.png"))) == 5
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["results"]["maps"]["DES"]["n_images"] == 5
    info = json.loads((out / "test_info.json").read_text())
    assert list(info["datasets"]) == ["DES"] and info["datasets"]["DES"]["folder"] == str(data / "RGBD135")


def test_every_dataset_under_the_root_by_default_and_gt_is_optional(weights, tmp_path):
    data = tmp_path / "data"
    dmra_copy(data, "A")
    dmra_copy(data, "B", with_gt=False)
    (data / "A" / "test_masks" / "RGBD_data_2.png").unlink()  # an incomplete GT folder
    (data / "notes").mkdir()
    out = tmp_path / "maps"
    assert run("--checkpoint", weights, "--data-root", data, "--out", out, "--size", 64) == 0
    assert sorted(p.name for p in out.iterdir()) == ["A", "B", "test_info.json"]
    assert all(len(list((out / n).glob("*.png"))) == 5 for n in ("A", "B"))


def test_eval_without_gt_fails_before_anything_is_written(weights, tmp_path):
    data = tmp_path / "data"
    dmra_copy(data, "B", with_gt=False)
    out = tmp_path / "maps"
    with pytest.raises(test_script.TestError, match="--eval needs GT: 5 of 5 images of B have no GT file"):
        run("--checkpoint", weights, "--data-root", data, "--out", out, "--size", 64, "--eval")
    assert not out.exists()


def test_a_bad_dataset_stops_the_run_before_any_map_is_written(weights, tmp_path, capsys):
    data = tmp_path / "data"
    dmra_copy(data, "A")
    dmra_copy(data, "B")
    (data / "B" / "test_depth" / "RGBD_data_4.bmp").unlink()
    out = tmp_path / "maps"
    argv = ["--checkpoint", str(weights), "--data-root", str(data), "--out", str(out), "--size", "64"]
    assert run_cli(test_script.get_args_parser(), test_script.main, argv) == 1  # test.py's own guard
    error = capsys.readouterr().err
    assert "RGBD_data_4" in error and error.startswith("error: ") and error.count("\n") == 1
    assert "--skip-bad skips them" in error  # the option test.py has, not the dataset's argument
    assert not out.exists()  # A was not written either
    assert run("--checkpoint", weights, "--data-root", data, "--out", out, "--size", 64, "--backend", "torch",
               "--skip-bad") == 0
    assert len(list((out / "B").glob("*.png"))) == 4 and len(list((out / "A").glob("*.png"))) == 5
    record = json.loads((out / "test_info.json").read_text())["datasets"]["B"]
    assert record["images"] == 4 and len(record["skipped"]) == 1 and "RGBD_data_4" in record["skipped"][0]


def test_a_data_root_one_level_too_deep_names_its_parent(weights, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "rgbd" / "DES", data / "DES")
    with pytest.raises(test_script.TestError, match=r"--data-root .*/data/DES is itself a dataset folder \(RGB/ and "
                       r"depth/ inside\): pass its parent, --data-root .*/data --datasets DES"):
        run("--checkpoint", weights, "--data-root", data / "DES", "--out", tmp_path / "maps")


@pytest.mark.parametrize("argv, words", [
    (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
    (["--workers", "-1"], "--workers: must be at least 0, got -1"),
    (["--invert-depth"], "--invert-depth: expected at least one argument"),
])
def test_impossible_arguments_are_refused_by_the_parser(weights, tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit) as exit_info:
        test_script.get_args_parser().parse_args(["--checkpoint", str(weights), "--data-root", str(FIXTURES / "rgbd"),
                                                  "--out", str(tmp_path / "o"), *argv])
    assert exit_info.value.code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_eval_finds_maps_and_gt_under_other_names_of_one_benchmark(tmp_path):
    data = tmp_path / "data"
    dmra_copy(data, "RGBD135")
    maps = tmp_path / "JL-DCF"
    shutil.copytree(FIXTURES / "maps" / "JL-DCF" / "DES", maps / "DES")
    result = evaluate_folders({"JL-DCF": maps}, data, ["DES"], tmp_path / "out", plots=False)
    assert result["results"]["JL-DCF"]["DES"]["n_images"] == 5


def test_eval_output_folders_get_ordinary_permissions(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "rgbd" / "DES", data / "DES")
    evaluate_folders({"JL-DCF": FIXTURES / "maps" / "JL-DCF"}, data, ["DES"], tmp_path / "out", plots=False)
    mask = subprocess.run(["sh", "-c", "umask"], capture_output=True, text=True).stdout.strip()
    expected = 0o777 & ~int(mask, 8)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == expected


def test_config_values_are_checked_when_loaded(tmp_path, capsys):
    config = load_config(ROOT / "configs" / "cdinet.yaml", ["data.train.2.invert_depth=true"])
    assert [e["invert_depth"] for e in config["data"]["train"]] == [False, False, True]
    for override, words in [("train.amp=bf61", "train.amp must be one of none, bf16, fp16"),
                            ("train.device=gpu", "train.device must be one of auto, cpu, cuda"),
                            ("train.epochs=0", "train.epochs must be at least 1"),
                            ("train.batch_size=0", "train.batch_size must be at least 1"),
                            ("data.preprocess.resize=cv2", "data.preprocess.resize must be one of pil, opencv"),
                            ("data.train.3.invert_depth=true", r"index 0..2 of the list \(or replace the whole list")]:
        with pytest.raises(ConfigError, match=words):
            load_config(ROOT / "configs" / "cdinet.yaml", [override])
    # through train.py's guard (the demo and torchrun tests run it as a process): no run folder is made
    import train

    run_dir = tmp_path / "run"
    argv = ["--config", str(ROOT / "configs" / "demo.yaml"), "--set", f"log.dir={run_dir}", "--set", "train.amp=bf61"]
    assert run_cli(train.get_args_parser(), train.main, argv) == 1
    assert capsys.readouterr().err.startswith("error: train.amp must be one of")
    assert not run_dir.exists()


def test_make_clean_keeps_the_users_data_folder():
    recipe = subprocess.run(["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    removed = [word for line in recipe.splitlines() if line.startswith("rm ") for word in line.split()[2:]]
    assert "data" not in removed and "runs" not in removed and "data/synthetic" in removed


def test_gitignore_covers_the_folders_readme_examples_write():
    ignored = subprocess.run(["git", "check-ignore", "maps/x.png", "figs/x.png", "out/x", "runs/x", "data/x"],
                             cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert ignored == ["maps/x.png", "figs/x.png", "out/x", "runs/x", "data/x"]


def test_tables_are_fair_with_missing_predictions(tmp_path):
    """With --allow-missing: counts shown wherever they differ, no bold for a method scored on
    fewer images, an empty cell for a method with no maps for a dataset, resized maps named."""
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "rgbd" / "DES", data / "DES")
    shutil.copytree(FIXTURES / "rgbd" / "DES", data / "OTHER")
    perfect, partial = tmp_path / "Perfect", tmp_path / "Partial"
    for name in ("DES", "OTHER"):
        shutil.copytree(data / name / "GT", perfect / name)
    shutil.copytree(data / "DES" / "GT", partial / "DES")
    (partial / "DES" / "RGBD_data_1.png").unlink()
    small = cv2.resize(cv2.imread(str(perfect / "DES" / "RGBD_data_2.png"), 0), (320, 240))
    cv2.imwrite(str(perfect / "DES" / "RGBD_data_2.png"), small)
    result = evaluate_folders({"Perfect": perfect, "Partial": partial}, data, ["DES", "OTHER"], tmp_path / "out",
                              allow_missing=True, layout="datasets-as-columns")  # methods as rows
    assert "OTHER" not in result["results"]["Partial"]  # no folder at all: an empty cell
    assert result["results"]["Partial"]["DES"]["n_images"] == 4
    md = (tmp_path / "out" / "table.md").read_text()
    partial_row = next(line for line in md.splitlines() if line.startswith("| Partial |"))
    assert "**" not in partial_row and partial_row.endswith("| 4/5 |")
    assert "**" in next(line for line in md.splitlines() if line.startswith("| Perfect |"))
    tex = (tmp_path / "out" / "table.tex").read_text()
    partial_tex = next(line for line in tex.splitlines() if line.startswith("Partial"))
    assert r"\textsuperscript{(4/5)}" in partial_tex and r"\textbf" not in partial_tex
    assert partial_tex.rstrip(r" \\").split(" & ")[-1] == "--"  # an en dash
    curves = json.loads((tmp_path / "out" / "curves.json").read_text())["curves"]
    assert curves["Partial"]["DES"]["n_missing"] == 1
    assert any("Perfect: " in n and "RGBD_data_2.png 320x240 -> 640x480" in n for n in result["notes"])


def test_transposed_map_is_an_error_naming_file_and_method(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "rgbd" / "DES", data / "DES")
    maps = tmp_path / "M"
    shutil.copytree(data / "DES" / "GT", maps / "DES")
    transposed = cv2.imread(str(maps / "DES" / "RGBD_data_3.png"), 0).T.copy()
    cv2.imwrite(str(maps / "DES" / "RGBD_data_3.png"), transposed)
    with pytest.raises(EvalError, match=r"RGBD_data_3.png \(M\): the map is 480x640, its GT 640x480 .* swapped"):
        evaluate_folders({"M": maps}, data, ["DES"], tmp_path / "out", plots=False)
    with pytest.raises(EvalError, match=r"no SIP folder in .*M; found: DES"):
        evaluate_folders({"M": maps}, data, ["SIP=DES"], tmp_path / "out", plots=False)


def test_check_on_a_parent_folder_names_the_datasets_at_fault(tmp_path, capsys):
    from datasets import check

    root = tmp_path / "test"
    shutil.copytree(FIXTURES / "rgbd" / "DES", root / "DES")
    dmra_copy(root, "NLPR")
    (root / "NLPR" / "test_depth" / "RGBD_data_5.bmp").unlink()
    (root / "SIP").mkdir()  # a download that never arrived
    assert check.main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "DES  (" in out and "NLPR  (" in out and "SIP  (" in out
    assert "SIP" in out.split("no RGB folder")[0].splitlines()[-1]
    assert out.strip().splitlines()[-1] == "3 datasets checked: NOT usable: NLPR (1 problem(s)), SIP (1 problem(s))"


def test_eval_messages_name_the_likely_mistake(tmp_path):
    """A wrong dataset name lists what --data-root holds; a --data-root or --pred one level too
    deep names its parent; maps without a GT image are counted in the notes, not dropped silently."""
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "rgbd" / "DES", data / "DES")
    maps = tmp_path / "JL-DCF"
    shutil.copytree(FIXTURES / "maps" / "JL-DCF" / "DES", maps / "DES")
    with pytest.raises(EvalError, match=r"dataset NJU2K: no folder NJU2K under --data-root .*data; found: DES"):
        evaluate_folders({"M": maps}, data, ["NJU2K"], tmp_path / "out", plots=False)
    with pytest.raises(EvalError, match=r"--data-root .*data/DES is itself a dataset folder \(GT/ inside\): pass its "
                       r"parent, --data-root .*data --datasets DES"):
        evaluate_folders({"M": maps}, data / "DES", ["DES"], tmp_path / "out", plots=False)
    with pytest.raises(EvalError, match=r"JL-DCF/DES holds 5 maps itself, not one folder per dataset: pass its parent, "
                       r"--pred .*JL-DCF"):
        evaluate_folders({"M": maps / "DES"}, data, ["DES"], tmp_path / "out", plots=False)
    shutil.copy(maps / "DES" / "RGBD_data_1.png", maps / "DES" / "extra_1.png")
    result = evaluate_folders({"M": maps}, data, ["DES"], tmp_path / "out", plots=False)
    assert "M/DES: 1 map(s) without a GT image were ignored (extra_1)" in result["notes"]
    assert result["results"]["M"]["DES"]["n_images"] == 5
