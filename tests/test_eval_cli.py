"""``python -m eval``: layout, outputs, errors, atomic output folder, light imports."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from eval import METRIC_KEYS, SODEvaluator, evaluate_folders, format_table
from eval.cli import main
from tests.helpers import make_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_outputs_and_json_shape(tmp_path):
    data, folders = make_dataset(tmp_path)
    out = tmp_path / "out"
    assert main(["--pred", str(folders["A"]), f"Second={folders['B']}", "--data-root", str(data),
                 "--datasets", "DS", "--out", str(out)]) == 0
    names = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    assert {"metrics.json", "metrics.csv", "table.md", "table.tex", "curves.json",
            "plots/DS_pr.png", "plots/DS_pr.pdf", "plots/DS_fm.png", "plots/DS_fm.pdf"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "pysodmetrics"
    assert set(metrics["results"]) == {"A", "Second"}  # folder name, or LABEL=
    entry = metrics["results"]["A"]["DS"]
    assert all(isinstance(entry[k], float) for k in METRIC_KEYS) and entry["n_images"] == 6
    ev = SODEvaluator()  # the folder evaluation agrees with the in-memory API on the same files
    for gt_path in sorted((data / "DS" / "GT").glob("*.png")):
        ev.update(cv2.imread(str(folders["A"] / "DS" / gt_path.name), 0), cv2.imread(str(gt_path), 0))
    assert {k: entry[k] for k in METRIC_KEYS} == pytest.approx({k: ev.results()[k] for k in METRIC_KEYS}, abs=1e-12)
    table = (out / "table.md").read_text()
    best_sm = max(metrics["results"][m]["DS"]["Sm"] for m in ("A", "Second"))
    assert f"**{best_sm:.3f}**" in table
    tex = (out / "table.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and r"\textbf{" in tex
    assert "Second" in format_table(metrics) and "DS" in format_table(metrics)
    assert len((out / "metrics.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize("gt_folder", ["masks", "Mask", "test_masks", "gt"])
def test_gt_folder_variants(tmp_path, gt_folder):
    data, folders = make_dataset(tmp_path, n=2, gt_folder=gt_folder, methods=("A",))
    result = evaluate_folders(folders, data, ["DS"], tmp_path / "out", plots=False)
    assert result["results"]["A"]["DS"]["n_images"] == 2


def test_missing_prediction_lists_stems_and_leaves_nothing(tmp_path, capsys):
    data, folders = make_dataset(tmp_path)
    (folders["B"] / "DS" / "im3.png").unlink()
    (folders["B"] / "DS" / "im5.png").unlink()
    out = tmp_path / "out"
    code = main(["--pred", str(folders["A"]), str(folders["B"]), "--data-root", str(data),
                 "--datasets", "DS", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "B/DS: 2 of 6 (im3, im5)" in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_allow_missing_skips_warns_and_records(tmp_path):
    data, folders = make_dataset(tmp_path)
    (folders["B"] / "DS" / "im3.png").unlink()
    with pytest.warns(UserWarning, match="im3"):
        result = evaluate_folders(folders, data, ["DS"], tmp_path / "out", allow_missing=True, plots=False)
    assert result["results"]["B"]["DS"]["n_images"] == 5 and result["results"]["B"]["DS"]["n_missing"] == 1
    assert result["results"]["A"]["DS"]["n_images"] == 6 and result["results"]["A"]["DS"]["n_missing"] == 0


def test_unreadable_file_is_named_and_nothing_is_written(tmp_path, capsys):
    data, folders = make_dataset(tmp_path)
    bad = folders["A"] / "DS" / "im2.png"
    bad.write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["--pred", str(folders["A"]), "--data-root", str(data), "--datasets", "DS",
                 "--out", str(out), "--no-plots"]) == 1
    assert f"error: {bad}: unreadable image" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_existing_output_is_refused_unless_overwrite(tmp_path, capsys):
    data, folders = make_dataset(tmp_path, n=2, methods=("A",))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    args = ["--pred", str(folders["A"]), "--data-root", str(data), "--datasets", "DS", "--out", str(out), "--no-plots"]
    assert main(args) == 1 and "not empty" in capsys.readouterr().err
    assert (out / "keep.txt").exists()
    assert main(args + ["--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "metrics.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_results_do_not_depend_on_worker_count(tmp_path):
    data, folders = make_dataset(tmp_path, n=40, methods=("A",))
    one = evaluate_folders(folders, data, ["DS"], tmp_path / "o1", workers=1, plots=False)
    two = evaluate_folders(folders, data, ["DS"], tmp_path / "o2", workers=2, plots=False)
    assert one == two


def test_worker_pool_after_opencv_threads_were_used_does_not_hang(tmp_path):
    # test.py --eval (and a notebook) use OpenCV's thread pool before evaluating with workers.
    data, folders = make_dataset(tmp_path, n=40, methods=("A",))
    code = (f"import cv2, numpy as np\n"
            f"cv2.GaussianBlur(np.zeros((2000, 2000), np.float32), (31, 31), 5)\n"
            f"from eval import evaluate_folders\n"
            f"r = evaluate_folders({{'A': {str(folders['A'])!r}}}, {str(data)!r}, ['DS'], {str(tmp_path / 'o')!r},"
            f" workers=2, plots=False)\n"
            f"print(r['results']['A']['DS']['n_images'])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "40", result.stderr[-1000:]


def test_resized_predictions_are_noted(tmp_path):
    data, folders = make_dataset(tmp_path, n=2, methods=("A",))
    pred = folders["A"] / "DS" / "im0.png"
    cv2.imwrite(str(pred), cv2.resize(cv2.imread(str(pred), 0), (17, 13)))
    result = evaluate_folders(folders, data, ["DS"], tmp_path / "out", plots=False)
    assert any("1 predictions were resized" in note for note in result["notes"])


def test_command_is_light_and_never_imports_torch():
    code = "import sys, eval.cli; print(sorted(m for m in ('torch', 'matplotlib', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    helped = subprocess.run([sys.executable, "-m", "eval", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0 and "examples:" in helped.stdout


def test_help_shows_the_statistics_options_with_examples():
    helped = subprocess.run([sys.executable, "-m", "eval", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0
    text = " ".join(helped.stdout.split())
    for words in ("--ci N", "--ci-level L", "--seed SEED", "--compare A B", "--reference LABEL", "--bold {best,tied}",
                  "CDINet=runs/seed0/maps,runs/seed1/maps", "'CDINet=runs/seed*/maps'", "--ci 0",
                  "numbers on another split are not comparable"):
        assert words in text, words
