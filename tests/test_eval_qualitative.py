"""``python -m eval.qualitative`` on the real DES fixtures: row choice and order, ranking against
PySODMetrics, figure files and sizes, tile content, depth handling, one-line errors, light imports."""
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import py_sod_metrics  # the reference S-measure (requirements-dev.txt)
import pytest

from eval.qualitative import GAP, fit_tile, main, pick_rows, qualitative_figure, read_depth
from tests.helpers import FIXTURES, locate, read_png

ROOT = Path(__file__).resolve().parents[1]
SIZE = 96  # cell height: small figures keep the tests fast
CELL_W = round(SIZE * 640 / 480)  # the DES images are 640 x 480


@pytest.fixture(scope="module")
def des(tmp_path_factory):
    """``(data_root, {label: method folder})``: JL-DCF's real maps, the GT as a perfect map, the
    GT shifted and blurred (scores that rank the images differently) and the inverted JL-DCF maps
    (all scoring 0), each folder holding ``DES/<stem>.png``."""
    data_root = FIXTURES / "rgbd"
    jldcf = FIXTURES / "maps" / "JL-DCF"
    tmp = tmp_path_factory.mktemp("methods")
    for name in ("Perfect", "Shifted", "Inverted"):
        (tmp / name / "DES").mkdir(parents=True)
    for gt_path in sorted((data_root / "DES" / "GT").glob("*.png")):
        shutil.copy(gt_path, tmp / "Perfect" / "DES" / gt_path.name)
        shifted = cv2.GaussianBlur(np.roll(cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE), 30, axis=1), (31, 31), 0)
        cv2.imwrite(str(tmp / "Shifted" / "DES" / gt_path.name), shifted)
        jl_map = cv2.imread(str(jldcf / "DES" / gt_path.name), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(tmp / "Inverted" / "DES" / gt_path.name), 255 - jl_map)
    return data_root, {"JL-DCF": jldcf, "Perfect": tmp / "Perfect", "Shifted": tmp / "Shifted",
                       "Inverted": tmp / "Inverted"}


def reference_ranking(data_root: Path, folder: Path) -> list[str]:
    """DES stems from best to worst S-measure of ``folder``'s maps, by PySODMetrics."""
    scores = {}
    for gt_path in sorted((data_root / "DES" / "GT").glob("*.png")):
        sm = py_sod_metrics.Smeasure()
        sm.step(cv2.imread(str(folder / "DES" / gt_path.name), cv2.IMREAD_GRAYSCALE),
                cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE))
        scores[gt_path.stem] = float(sm.get_results()["sm"])
    assert len(set(scores.values())) == len(scores)  # no ties: the order is well defined
    return sorted(scores, key=scores.get, reverse=True)


def gt_tile(data_root: Path, stem: str) -> np.ndarray:
    return fit_tile(cv2.imread(str(data_root / "DES" / "GT" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE), SIZE, CELL_W)


def test_explicit_stems_are_the_rows_in_that_order(des, tmp_path):
    data_root, preds = des
    stems = ["RGBD_data_4", "RGBD_data_1", "RGBD_data_5"]
    used = qualitative_figure(data_root, "DES", preds, tmp_path / "fig", stems=stems, size=SIZE)
    assert used == stems
    figure = read_png(tmp_path / "fig.png")
    rgb = fit_tile(cv2.cvtColor(cv2.imread(str(data_root / "DES" / "RGB" / "RGBD_data_4.jpg")), cv2.COLOR_BGR2RGB),
                   SIZE, CELL_W)
    x0, y0, error = locate(figure, rgb)  # the top-left tile: RGB of the first row
    assert error < 3
    for i, stem in enumerate(stems):
        x, y, error = locate(figure, gt_tile(data_root, stem))
        # The GT tile is in column 3 of row i; the Perfect column (5) shows the same image.
        assert error < 1 and y == y0 + i * (SIZE + GAP) and x in (x0 + 2 * (CELL_W + GAP), x0 + 4 * (CELL_W + GAP))
        region = figure[y:y + SIZE, x0 + 2 * (CELL_W + GAP):][:, :CELL_W]
        assert np.mean((region < 30) | (region > 225)) > 0.97  # a binary mask, not a photo


@pytest.mark.parametrize("rank_by", ["JL-DCF", "Shifted"])
def test_automatic_rows_are_best_median_worst_by_s_measure(des, tmp_path, rank_by):
    data_root, preds = des
    expected = reference_ranking(data_root, preds[rank_by])
    used = qualitative_figure(data_root, "DES", preds, tmp_path / "fig", n=3, rank_by=rank_by, size=SIZE)
    assert used == [expected[0], expected[2], expected[-1]]


def test_the_two_rankings_differ(des):  # else the test above could not tell --rank-by is used
    data_root, preds = des
    jl, shifted = (reference_ranking(data_root, preds[m]) for m in ("JL-DCF", "Shifted"))
    assert [jl[0], jl[2], jl[-1]] != [shifted[0], shifted[2], shifted[-1]]


def test_cli_default_ranks_by_the_first_method_and_n_covers_all(des, tmp_path, capsys):
    data_root, preds = des
    args = ["--data-root", str(data_root), "--dataset", "DES", "--size", str(SIZE), "--out", str(tmp_path / "f.png")]
    assert main(args + ["--pred", f"Sh={preds['Shifted']}", str(preds["JL-DCF"]), "--n", "2"]) == 0
    ranking = reference_ranking(data_root, preds["Shifted"])
    assert f"2 rows: {ranking[0]} {ranking[-1]}" in capsys.readouterr().out
    assert main(args + ["--pred", str(preds["JL-DCF"]), "--n", "9"]) == 0
    assert f"5 rows: {' '.join(reference_ranking(data_root, preds['JL-DCF']))}" in capsys.readouterr().out


def test_pick_rows_spreads_best_median_worst():
    scores = {f"s{i:02d}": 1 - i / 100 for i in range(21)}  # s00 best ... s20 worst
    assert pick_rows(scores, 6) == ["s00", "s01", "s09", "s10", "s19", "s20"]
    assert pick_rows(scores, 4) == ["s00", "s01", "s10", "s20"]
    assert pick_rows(scores, 2) == ["s00", "s20"]
    assert pick_rows({"b": 0.5, "a": 0.5, "c": 0.9}, 5) == ["c", "a", "b"]  # ties by stem


def test_png_and_pdf_grow_with_rows_and_columns(des, tmp_path):
    data_root, preds = des
    two = {k: preds[k] for k in ("JL-DCF", "Perfect")}
    stems = ["RGBD_data_1", "RGBD_data_2"]
    qualitative_figure(data_root, "DES", two, tmp_path / "base.pdf", stems=stems, size=SIZE)
    qualitative_figure(data_root, "DES", two, tmp_path / "rows", stems=stems + ["RGBD_data_3"], size=SIZE)
    qualitative_figure(data_root, "DES", {**two, "Inverted": preds["Inverted"]}, tmp_path / "cols", stems=stems,
                       size=SIZE)
    for name in ("base", "rows", "cols"):
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{n}.{s}" for n in ("base", "cols", "rows")
                                                          for s in ("pdf", "png")]
    base, rows, cols = (read_png(tmp_path / f"{name}.png").shape for name in ("base", "rows", "cols"))
    assert base[1] > 5 * CELL_W and base[0] > 2 * SIZE  # 5 columns, 2 rows, plus titles and labels
    assert abs(rows[0] - base[0] - (SIZE + GAP)) <= 1 and abs(rows[1] - base[1]) <= 1
    assert abs(cols[1] - base[1] - (CELL_W + GAP)) <= 1 and abs(cols[0] - base[0]) <= 1


def test_invert_depth_changes_only_the_depth_column(des, tmp_path):
    data_root, preds = des
    kwargs = dict(stems=["RGBD_data_2"], size=SIZE)
    qualitative_figure(data_root, "DES", {"JL-DCF": preds["JL-DCF"]}, tmp_path / "a", **kwargs)
    qualitative_figure(data_root, "DES", {"JL-DCF": preds["JL-DCF"]}, tmp_path / "b", invert_depth=True, **kwargs)
    a, b = read_png(tmp_path / "a.png"), read_png(tmp_path / "b.png")
    x0 = locate(a, gt_tile(data_root, "RGBD_data_2"))[0] - 2 * (CELL_W + GAP)
    changed = np.nonzero(np.any(a != b, axis=(0, 2)))[0]
    assert changed.size > CELL_W // 2
    assert changed.min() >= x0 + CELL_W + GAP and changed.max() < x0 + 2 * CELL_W + GAP


def test_depth_is_min_max_normalised_16_bit(tmp_path):
    depth = np.linspace(1000, 5000, 40 * 30).reshape(30, 40).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), depth)
    shown = read_depth(tmp_path / "d.png")
    assert shown.dtype == np.uint8 and shown[0, 0] == 0 and shown[-1, -1] == 255
    assert np.array_equal(read_depth(tmp_path / "d.png", invert=True), 255 - shown)
    assert np.all(np.diff(shown.ravel().astype(int)) >= 0)  # monotone: the high byte alone would not span 0-255


def run_cli(capsys, args) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_missing_stem_in_a_method_folder_is_one_line(des, tmp_path, capsys):
    data_root, preds = des
    partial = tmp_path / "Partial"
    shutil.copytree(preds["Perfect"], partial)
    (partial / "DES" / "RGBD_data_3.png").unlink()
    out = tmp_path / "fig"
    base = ["--data-root", str(data_root), "--dataset", "DES", "--size", str(SIZE), "--out", str(out)]
    code, err = run_cli(capsys, base + ["--pred", str(preds["JL-DCF"]), str(partial), "--stems", "RGBD_data_1",
                                        "RGBD_data_3"])
    assert code == 1 and err.count("\n") == 1
    assert f"no image 'RGBD_data_3' in {partial / 'DES'} (Partial)" in err
    code, err = run_cli(capsys, base + ["--pred", str(partial)])  # ranking needs every stem
    assert code == 1 and "'RGBD_data_3'" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [partial]  # nothing written, no temporary files
    assert main(base + ["--pred", str(partial), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "EvalError: no image 'RGBD_data_3'" in err


@pytest.mark.parametrize("change, named", [
    (["--dataset", "NOPE"], "{root}/NOPE: dataset folder not found"),
    (["--stems", "RGBD_data_9"], "no image 'RGBD_data_9' in {root}/DES/GT (GT)"),
    (["--rank-by", "Other"], "--rank-by 'Other' is not one of the methods: JL-DCF"),
])
def test_bad_arguments_are_one_line(des, tmp_path, capsys, change, named):
    data_root, preds = des
    args = {"--data-root": [str(data_root)], "--dataset": ["DES"], "--pred": [str(preds["JL-DCF"])],
            "--out": [str(tmp_path / "fig")]}
    args[change[0]] = change[1:]
    code, err = run_cli(capsys, [a for key, values in args.items() for a in [key, *values]])
    assert code == 1 and err == f"error: {named.format(root=data_root)}\n"
    assert not list(tmp_path.iterdir())


def test_unreadable_map_is_named(des, tmp_path, capsys):
    data_root, preds = des
    broken = tmp_path / "Broken"
    shutil.copytree(preds["Perfect"], broken)
    (broken / "DES" / "RGBD_data_2.png").write_bytes(b"not a png")
    code, err = run_cli(capsys, ["--data-root", str(data_root), "--dataset", "DES", "--pred", str(preds["JL-DCF"]),
                                 str(broken), "--stems", "RGBD_data_2", "--out", str(tmp_path / "fig")])
    bad = broken / "DES" / "RGBD_data_2.png"
    assert code == 1 and err == f"error: {bad}: unreadable image (not found or not a format OpenCV decodes)\n"


def test_help_has_examples_and_imports_stay_light():
    code = "import sys, eval.qualitative; print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    helped = subprocess.run([sys.executable, "-m", "eval.qualitative", "--help"], cwd=ROOT, capture_output=True,
                            text=True)
    assert helped.returncode == 0 and "examples:" in helped.stdout and "--rank-by" in helped.stdout
