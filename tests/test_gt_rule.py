"""One GT rule everywhere: a mask of only 0 and 1 is read as 0/255 by datasets/, ``datasets.check``,
``python -m eval`` and ``eval.qualitative`` alike, with a note per dataset in metrics.json.

The real fixtures are rewritten with their GT as 0/1 (8-bit, and 16-bit) in a temporary folder;
references: the 0/255 originals through the same commands, PySODMetrics on the originals, and
the MATLAB toolbox's own output on its three COD10K images.
"""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import py_sod_metrics  # the reference implementation (requirements-dev.txt)
import pytest
from PIL import Image

from datasets import RGBDSODDataset, build_test_transform, check
from eval import METRIC_KEYS, SODEvaluator, evaluate_folders
from eval.cli import main as eval_main
from eval.qualitative import GAP, fit_tile, qualitative_figure
from tests.helpers import FIXTURES, MAT_KEYS, locate, read_png

DES = FIXTURES / "rgbd" / "DES"
JLDCF = FIXTURES / "maps" / "JL-DCF"


def rewrite_zero_one(gt_dir: Path, dtype=np.uint8) -> None:
    """Every PNG mask in ``gt_dir`` rewritten as 0/1 (``> 128`` of its stored values)."""
    for path in sorted(gt_dir.glob("*.png")):
        stored = np.array(Image.open(path).convert("L"))
        cv2.imwrite(str(path), (stored > 128).astype(dtype))


def zero_one_copy(source: Path, target: Path, dtype=np.uint8) -> Path:
    """``source`` (a dataset folder) copied to ``target`` with every GT rewritten as 0/1."""
    shutil.copytree(source, target)
    rewrite_zero_one(target / "GT", dtype)
    return target


@pytest.fixture(scope="module")
def des01(tmp_path_factory) -> Path:
    """A data root holding DES with its GT stored as 0/1 (8-bit PNG)."""
    root = tmp_path_factory.mktemp("des01")
    zero_one_copy(DES, root / "DES")
    values = {tuple(np.unique(np.array(Image.open(p)))) for p in (root / "DES" / "GT").glob("*.png")}
    assert values == {(0, 1)}  # the rewrite did what it says
    return root


def run_eval(data_root: Path, out: Path, *extra: str) -> dict:
    assert eval_main(["--pred", str(JLDCF), "--data-root", str(data_root), "--datasets", "DES",
                      "--out", str(out), "--no-plots", "--ci", "200", *extra]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_eval_scores_zero_one_gt_as_the_0_255_originals(des01, tmp_path, capsys):
    original = run_eval(FIXTURES / "rgbd", tmp_path / "orig")
    zero_one = run_eval(des01, tmp_path / "zero_one")
    assert zero_one["results"] == original["results"]  # every metric, count and interval
    curves = [json.loads((tmp_path / name / "curves.json").read_text()) for name in ("orig", "zero_one")]
    assert curves[0] == curves[1]
    assert zero_one["results"]["JL-DCF"]["DES"]["maxFm"] > 0.5  # not the old 0.000
    notes = [n for n in zero_one["notes"] if "0/1" in n]
    assert notes == ["DES: 5 of 5 GT masks store 0/1; read as 0/255, as datasets/ and training read them "
                     "(the references' > 128 would score them as empty)"]
    assert f"note: {notes[0]}" in capsys.readouterr().out  # printed too
    assert zero_one["gt_values"] == {"DES": {"0/255": 0, "0/1": 5, "other values": 0, "faint": 0}}
    assert original["gt_values"]["DES"]["0/255"] == 5 and not any("0/1" in n for n in original["notes"])


def test_zero_one_gt_equals_pysodmetrics_on_the_originals(des01):
    """Independent reference: PySODMetrics on the 0/255 GT, ours on the 0/1 GT (in memory too)."""
    sm, mae, fm = py_sod_metrics.Smeasure(), py_sod_metrics.MAE(), py_sod_metrics.Fmeasure()
    ours = SODEvaluator()
    for gt_path in sorted((DES / "GT").glob("*.png")):
        pred = cv2.imread(str(JLDCF / "DES" / gt_path.name), cv2.IMREAD_GRAYSCALE)
        for metric in (sm, mae, fm):
            metric.step(pred, cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE))
        ours.update(pred, cv2.imread(str(des01 / "DES" / "GT" / gt_path.name), cv2.IMREAD_GRAYSCALE))
    got = ours.results()
    assert got["Sm"] == pytest.approx(float(sm.get_results()["sm"]), abs=1e-12)
    assert got["MAE"] == pytest.approx(float(mae.get_results()["mae"]), abs=1e-12)
    assert got["maxFm"] == pytest.approx(float(fm.get_results()["fm"]["curve"].max()), abs=1e-12)


def test_matlab_protocol_on_zero_one_gt_matches_the_toolbox(tmp_path):
    import scipy.io as scipy_io

    ref = FIXTURES / "matlab_reference"
    (tmp_path / "data" / "COD10K").mkdir(parents=True)
    shutil.copytree(ref / "GT", tmp_path / "data" / "COD10K" / "GT")
    rewrite_zero_one(tmp_path / "data" / "COD10K" / "GT")
    (tmp_path / "SINet").mkdir()
    (tmp_path / "SINet" / "COD10K").symlink_to(ref / "maps" / "SINet")
    result = evaluate_folders({"SINet": tmp_path / "SINet"}, tmp_path / "data", ["COD10K"], tmp_path / "out",
                              protocol="matlab", plots=False, bootstrap=None)
    mat = scipy_io.loadmat(ref / "SINet_matlab_output.mat")
    got = result["results"]["SINet"]["COD10K"]
    for key, mat_key in MAT_KEYS.items():
        assert got[key] == pytest.approx(mat[mat_key].item(), abs=1e-8 if key == "wFm" else 1e-10), key
    assert result["gt_values"]["COD10K"]["0/1"] == 3


def test_16_bit_zero_one_and_faint_masks(tmp_path):
    """A 16-bit 0/1 mask (OpenCV's 8-bit decoding keeps only its high byte, all 0) scores as its
    0/255 original; a mask with no value above 128 is scored empty and noted."""
    data = tmp_path / "data"
    zero_one_copy(DES, data / "DES", dtype=np.uint16)
    assert Image.open(data / "DES" / "GT" / "RGBD_data_1.png").mode.startswith("I")
    faint = data / "DES" / "GT" / "RGBD_data_2.png"
    cv2.imwrite(str(faint), (cv2.imread(str(DES / "GT" / faint.name), 0) > 128).astype(np.uint8) * 100)
    result = evaluate_folders({"JL-DCF": JLDCF}, data, ["DES"], tmp_path / "out", plots=False, bootstrap=None)
    ev = SODEvaluator()  # the reference numbers: the originals, the faint one as an empty mask
    for gt_path in sorted((DES / "GT").glob("*.png")):
        gt = cv2.imread(str(gt_path), 0) * (gt_path.name != faint.name)
        ev.update(cv2.imread(str(JLDCF / "DES" / gt_path.name), 0), gt)
    got, expected = result["results"]["JL-DCF"]["DES"], ev.results()
    assert {k: got[k] for k in METRIC_KEYS} == pytest.approx({k: expected[k] for k in METRIC_KEYS}, abs=1e-12)
    assert result["gt_values"]["DES"] == {"0/255": 0, "0/1": 4, "other values": 0, "faint": 1}
    assert any(n.startswith("DES: 4 of 5 GT masks store 0/1") for n in result["notes"])
    assert "DES: 1 of 5 GT masks are not empty but have no value above 128: scored as all background" \
        in " ".join(result["notes"])


def test_qualitative_gt_column_shows_the_zero_one_mask_as_white(des01, tmp_path):
    size, cell_w, stem = 96, 128, "RGBD_data_1"  # DES is 640 x 480
    out = tmp_path / "fig"
    qualitative_figure(des01, "DES", {"JL-DCF": JLDCF}, out, stems=[stem], size=size)
    figure = read_png(out.with_suffix(".png"))
    rgb = fit_tile(read_png(DES / "RGB" / f"{stem}.jpg"), size, cell_w)
    x0, y0, error = locate(figure, rgb)  # the first tile
    assert error < 3
    expected = fit_tile(cv2.imread(str(DES / "GT" / f"{stem}.png"), 0), size, cell_w)  # the 0/255 original
    x = x0 + 2 * (cell_w + GAP)  # the GT column
    shown = figure[y0:y0 + size, x:x + cell_w].astype(int)
    assert np.abs(shown - expected).mean() < 2
    assert (shown > 225).mean() > 0.05  # white object pixels: not a black tile


def test_check_reports_zero_one_masks(des01, capsys):
    assert check.main([str(des01 / "DES")]) == 0
    text = capsys.readouterr().out
    assert "GT:        0/1: 5 (read as 0/255)" in [line.strip() for line in text.splitlines()]
    assert check.main([str(DES)]) == 0
    assert "GT:        0/255: 5" in [line.strip() for line in capsys.readouterr().out.splitlines()]


def test_training_reads_zero_one_gt_as_the_originals(des01):
    zero_one = RGBDSODDataset(des01 / "DES", build_test_transform(64))
    original = RGBDSODDataset(DES, build_test_transform(64))
    for i in range(len(original)):
        assert zero_one[i]["name"] == original[i]["name"]
        assert np.array_equal(zero_one[i]["gt"].numpy(), original[i]["gt"].numpy())
        assert zero_one[i]["gt"].max() == 1
