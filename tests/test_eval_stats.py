"""Uncertainty in the evaluation: bootstrap intervals, paired comparisons, runs, per-image files, splits.

Every expected interval comes from a reference loop written here: the resample indices are drawn
with numpy's ``Generator`` as ``eval/bootstrap.py`` documents (``default_rng(seed).integers(0, n,
size=(B, n))``), then each resample's number is recomputed in Python from per-image values taken
from PySODMetrics 1.6.2 (scalars) or from per-image histograms (curves), and the interval is
``np.percentile`` of them. The project's bootstrap is never used to get an expected value.
"""
import csv
import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import py_sod_metrics  # the per-image reference values (requirements-dev.txt)
import pytest

from eval import Bootstrap, ImageScores, SODEvaluator, check_split, compare, evaluate_folders, load_npz
from eval.bootstrap import MIN_IMAGES_FOR_VERDICT
from eval.bootstrap_coverage import SHAPES, SIZES, coverage
from eval.cli import main
from tests.helpers import SPLITS, blob_pair, make_methods

SCALARS = {"Sm": "sms", "wFm": "weighted_fms", "MAE": "maes", "adpFm": "adaptive_fms", "adpEm": "adaptive_ems"}
CURVE_STATS = {"meanFm": (0, np.mean), "maxFm": (0, np.max), "meanEm": (1, np.mean), "maxEm": (1, np.max)}
EPS = np.spacing(1)


def pysod_per_image(pairs) -> dict:
    """PySODMetrics' own per-image lists: the five scalars, and the F and E curves (n, 256)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure's deprecation notice
        m = dict(Sm=py_sod_metrics.Smeasure(), wFm=py_sod_metrics.WeightedFmeasure(), MAE=py_sod_metrics.MAE(),
                 F=py_sod_metrics.Fmeasure(), E=py_sod_metrics.Emeasure())
        for pred, gt in pairs:
            for metric in m.values():
                metric.step(pred, gt)
    values = {key: np.array(getattr(m[{"adpFm": "F", "adpEm": "E"}.get(key, key)], attr)).ravel()
              for key, attr in SCALARS.items()}
    values["curves"] = np.stack([np.array(m["F"].changeable_fms), np.array(m["E"].changeable_ems)], axis=1)
    return values


def loop_interval(n, statistic, resamples, level, seed, percentile=np.percentile):
    """The reference: one Generator draws the (B, n) indices; a Python loop recomputes."""
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    stats = [statistic(row) for row in idx]
    return percentile(stats, [100 * (1 - level) / 2, 100 * (1 + level) / 2])


def histograms(pred, gt):
    """PySODMetrics' preprocessing (min-max, ``uint8(p * 255)``), then 256-bin histograms of the
    prediction on the GT and on the background, and the GT's size."""
    p = pred / 255.0
    if p.max() > p.min():
        p = (p - p.min()) / (p.max() - p.min())
    q = (p * 255).astype(np.uint8)
    g = gt > 128
    return np.bincount(q[g], minlength=256), np.bincount(q[~g], minlength=256), g.size


def curves_from_histograms(hist_fg, hist_bg, size):
    """F (beta^2 = 0.3) and E curves, thresholds 255 down to 0, straight from docs/metrics.md
    ("F-measure", "E-measure")."""
    tp = np.cumsum(hist_fg[::-1]).astype(float)
    n_pred = tp + np.cumsum(hist_bg[::-1])
    n_fg = hist_fg.sum()
    precision = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0)
    recall = tp / max(n_fg, 1)
    f = np.where(tp > 0, 1.3 * precision * recall / np.maximum(0.3 * precision + recall, EPS), 0)
    if n_fg == 0:
        enhanced = size - n_pred
    elif n_fg == size:
        enhanced = n_pred
    else:
        enhanced = 0
        fm_mean, g_mean = n_pred / size, n_fg / size
        for fm, g, count in [(1, 1, tp), (1, 0, n_pred - tp), (0, 1, n_fg - tp), (0, 0, size - n_pred - n_fg + tp)]:
            a, b = fm - fm_mean, g - g_mean
            xi = 2 * a * b / (a * a + b * b + EPS)
            enhanced = enhanced + (1 + xi) ** 2 / 4 * count
    return np.stack([f, enhanced / (size - 1 + EPS)])


def read_pairs(data: Path, folder: Path, dataset="DS"):
    """(pred, gt) of a method's folder, in the order of the GT file names."""
    gts = sorted((data / dataset / "GT").glob("*.png"))
    return [(cv2.imread(str(folder / dataset / p.name), 0), cv2.imread(str(p), 0)) for p in gts]


# ------------------------------------------------------------------------------------ intervals
def test_scalar_intervals_equal_a_loop_over_pysodmetrics_per_image_values():
    rng = np.random.default_rng(0)
    pairs = [blob_pair(rng, 0.2) for _ in range(25)] + [(rng.integers(0, 256, (30, 30), dtype=np.uint8),
                                                          np.zeros((30, 30), np.uint8))]  # an empty GT
    ev = SODEvaluator()
    for pred, gt in pairs:
        ev.update(pred, gt)
    got = ev.confidence_intervals(resamples=300, level=0.9, seed=7)
    ref = pysod_per_image(pairs)
    for key in SCALARS:
        expected = loop_interval(len(pairs), lambda row: np.mean(ref[key][row]), 300, 0.9, 7)
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-12, err_msg=key)
        assert got[key][0] < ev.results()[key] < got[key][1], key


def test_curve_intervals_equal_a_loop_over_resampled_per_image_histograms():
    rng = np.random.default_rng(1)
    pairs = [blob_pair(rng, 0.25) for _ in range(20)]
    pairs += [(rng.integers(0, 256, (20, 25), dtype=np.uint8), np.full((20, 25), 255, np.uint8))]  # full GT
    hists = [histograms(pred, gt) for pred, gt in pairs]
    # the reference's own curves agree with PySODMetrics' mean curves on the full set
    full = np.mean([curves_from_histograms(*h) for h in hists], axis=0)
    np.testing.assert_allclose(full, pysod_per_image(pairs)["curves"].mean(axis=0), rtol=0, atol=1e-12)
    ev = SODEvaluator()
    for pred, gt in pairs:
        ev.update(pred, gt)
    got = ev.confidence_intervals(resamples=150, level=0.95, seed=3)
    for key, (row, reduce) in CURVE_STATS.items():
        def statistic(images):
            mean_curve = np.mean([curves_from_histograms(*hists[i]) for i in images], axis=0)
            return reduce(mean_curve[row])

        expected = loop_interval(len(pairs), statistic, 150, 0.95, 3)
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-12, err_msg=key)


def synthetic_scores(rng, n_runs, n, protocol="pysodmetrics", nan_wfm=()):
    values = {key: rng.random((n_runs, n)) for key in SCALARS}
    values["wFm"][:, list(nan_wfm)] = np.nan
    return ImageScores(tuple(f"s{i}" for i in range(n)), values, rng.random((n_runs, n, 4, 256)), protocol,
                       tuple(str(r) for r in range(n_runs)))


def test_interval_of_the_run_mean_and_matlab_undefined_weighted_f():
    rng = np.random.default_rng(2)
    scores = synthetic_scores(rng, 3, 40, "matlab", nan_wfm=(0, 5, 6, 30))
    got = Bootstrap(400, 0.8, 11).confidence_intervals(scores)
    v, c = scores.values, scores.curves
    for key in ("Sm", "MAE", "adpEm"):
        expected = loop_interval(40, lambda row: np.mean([np.mean(v[key][r][row]) for r in range(3)]), 400, 0.8, 11)
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-12, err_msg=key)
    # matlab wFm: each resample averages the drawn images where it is defined
    expected = loop_interval(40, lambda row: np.mean([np.nanmean(v["wFm"][r][row]) for r in range(3)]), 400, 0.8, 11,
                             percentile=np.nanpercentile)
    np.testing.assert_allclose(got["wFm"], expected, rtol=0, atol=1e-12)
    for key, row_index in (("maxFm", 2), ("meanEm", 3)):
        reduce = np.max if key.startswith("max") else np.mean
        expected = loop_interval(40, lambda row: np.mean([reduce(c[r][row, row_index].mean(axis=0)) for r in range(3)]),
                                 400, 0.8, 11)
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-12, err_msg=key)


def test_an_undefined_s_measure_gives_an_undefined_interval():
    scores = synthetic_scores(np.random.default_rng(3), 1, 10)
    scores.values["Sm"][0, 4] = np.nan  # both references' S on an object in the last column
    got = Bootstrap(50).confidence_intervals(scores)
    assert np.isnan(got["Sm"]).all() and not np.isnan(got["MAE"]).any()


def test_an_interval_shrinks_as_images_are_added():
    rng = np.random.default_rng(4)
    pairs = [blob_pair(rng, rng.uniform(0.05, 0.5)) for _ in range(240)]
    widths = []
    for n in (15, 240):
        ev = SODEvaluator()
        for pred, gt in pairs[:n]:
            ev.update(pred, gt)
        widths.append({k: hi - lo for k, (lo, hi) in ev.confidence_intervals(resamples=300).items()})
    for key, width in widths[1].items():
        assert 0 < width < widths[0][key] / 2, key


# ---------------------------------------------------------------------------------- comparisons
def test_paired_difference_equals_a_loop_and_a_method_against_itself_is_exactly_zero():
    n = MIN_IMAGES_FOR_VERDICT  # enough images for a verdict
    rng = np.random.default_rng(5)
    pairs_a = [blob_pair(rng, 0.15) for _ in range(n)]
    pairs_b = [(np.clip(p.astype(int) + rng.integers(-60, 60, p.shape), 0, 255).astype(np.uint8), g)
               for p, g in pairs_a]
    a, b = SODEvaluator(), SODEvaluator()
    for (pa, gt), (pb, _) in zip(pairs_a, pairs_b):
        a.update(pa, gt)
        b.update(pb, gt)
    got = compare(a, b, resamples=250, level=0.9, seed=2)
    ref_a, ref_b = pysod_per_image(pairs_a), pysod_per_image(pairs_b)
    assert got["n_images"] == n
    for key in ("Sm", "MAE", "wFm"):
        expected = loop_interval(n, lambda row: np.mean(ref_a[key][row]) - np.mean(ref_b[key][row]), 250, 0.9, 2)
        m = got["metrics"][key]
        np.testing.assert_allclose(m["ci"], expected, rtol=0, atol=1e-12, err_msg=key)
        assert m["difference"] == pytest.approx(np.mean(ref_a[key]) - np.mean(ref_b[key]), abs=1e-12)
        assert m["excludes_0"] == (expected[0] > 0 or expected[1] < 0)
    expected = loop_interval(n, lambda row: ref_a["curves"][row, 0].mean(0).max()
                             - ref_b["curves"][row, 0].mean(0).max(), 250, 0.9, 2)
    np.testing.assert_allclose(got["metrics"]["maxFm"]["ci"], expected, rtol=0, atol=1e-12)
    assert got["metrics"]["MAE"]["better"] == "first"  # the noisier copy has the larger MAE
    assert got["metrics"]["MAE"]["verdict"] == "first better"
    for m in compare(a, a, resamples=250)["metrics"].values():
        assert m["difference"] == 0.0 and m["ci"] == [0.0, 0.0] and not m["excludes_0"] and m["better"] is None
        assert m["verdict"] == "within noise"


def one_bad_image(tmp_path: Path, n: int):
    """A: good maps; B: A's maps with one image replaced by noise; C: noise everywhere. B is worse
    only on one image, so in the resamples that miss it (about a third) the difference is exactly 0:
    within noise of A, while C is clearly worse. Returns the CLI arguments but --out."""
    data, folders = make_methods(tmp_path, n, {"A": 0.02, "C": 0.6})
    shutil.copytree(folders["A"] / "DS", tmp_path / "B" / "DS")
    shutil.copy(folders["C"] / "DS" / "im03.png", tmp_path / "B" / "DS" / "im03.png")
    preds = ["A=" + str(folders["A"]), f"B={tmp_path / 'B'}", "C=" + str(folders["C"])]
    return ["--pred", *preds, "--data-root", str(data), "--datasets", "DS", "--no-plots", "--ci", "500",
            "--layout", "datasets-as-columns"]


def method_rows(table: Path) -> dict:
    """``{method: row}`` of a datasets-as-columns table.md."""
    return {line.split(" | ")[0][2:]: line for line in table.read_text().splitlines()
            if line.startswith("| ") and " | " in line}


def test_comparison_files_and_within_noise_bolding(tmp_path):
    """On MIN_IMAGES_FOR_VERDICT images (``one_bad_image``): B within noise of A (bold with --bold
    tied), C worse; comparisons give their verdicts."""
    args = one_bad_image(tmp_path, MIN_IMAGES_FOR_VERDICT)
    assert main([*args, "--out", str(tmp_path / "tied"), "--reference", "A", "--compare", "A", "A"]) == 0
    metrics = json.loads((tmp_path / "tied" / "metrics.json").read_text())
    assert metrics["bold"] == "tied" and metrics["best"]["DS"]["Sm"] == {"method": "A", "within_noise": ["B"]}
    rows = method_rows(tmp_path / "tied" / "table.md")
    assert rows["B"].count("**") >= 4 and "**" not in rows["C"]  # B's Sm and MAE at least
    sm_a, sm_b = metrics["results"]["A"]["DS"]["Sm"], metrics["results"]["B"]["DS"]["Sm"]
    assert f"**{sm_b:.3f}** ±" in rows["B"] and f"{sm_b:.3f}" != f"{sm_a:.3f}"  # bold, yet not the best value

    comparisons = json.loads((tmp_path / "tied" / "comparison.json").read_text())["comparisons"]
    pairs = [(c["first"], c["second"]) for c in comparisons]
    assert pairs == [("A", "A"), ("B", "A"), ("C", "A")]
    assert all(m["difference"] == 0.0 and m["ci"] == [0.0, 0.0] for m in comparisons[0]["metrics"].values())
    b_vs_a = comparisons[1]["metrics"]["Sm"]
    assert b_vs_a["ci"][1] == 0.0 and not b_vs_a["excludes_0"] and b_vs_a["better"] is None
    assert b_vs_a["verdict"] == "within noise"
    assert comparisons[2]["metrics"]["Sm"]["better"] == "second"
    assert comparisons[2]["metrics"]["MAE"]["better"] == "second"
    assert comparisons[2]["metrics"]["Sm"]["verdict"] == "second better"
    md = (tmp_path / "tied" / "comparison.md").read_text()
    assert "## B - A" in md and "within noise" in md and "**A better**" in md
    assert "too few images for a verdict |" not in md

    assert main([*args, "--out", str(tmp_path / "best"), "--bold", "best"]) == 0
    rows = method_rows(tmp_path / "best" / "table.md")
    assert "**" not in rows["B"] and "**" in rows["A"]
    assert not (tmp_path / "best" / "comparison.md").exists()


def test_too_few_images_give_no_verdict_and_no_within_noise_bolding(tmp_path):
    """One image fewer than MIN_IMAGES_FOR_VERDICT: the intervals are still there (C - A's excludes
    0), but no comparison says "better" or "within noise" and only best values are bold."""
    args = one_bad_image(tmp_path, MIN_IMAGES_FOR_VERDICT - 1)
    assert main([*args, "--out", str(tmp_path / "out"), "--reference", "A"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["best"]["DS"]["Sm"] == {"method": "A", "within_noise": None}
    assert any(f"fewer than {MIN_IMAGES_FOR_VERDICT}: too few for a verdict" in note for note in metrics["notes"])
    results, rows = metrics["results"], method_rows(tmp_path / "out" / "table.md")
    for key in metrics["table"]["metrics"]:  # B is bold only where its printed value is the best one
        best = f"{results[metrics['best']['DS'][key]['method']]['DS'][key]:.3f}"
        assert (f"**{results['B']['DS'][key]:.3f}**" in rows["B"]) == (f"{results['B']['DS'][key]:.3f}" == best)
    assert "**" in rows["A"] and "**" not in rows["B"].split(" | ")[1]  # B's Sm: a tie, no longer bold

    comparisons = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert comparisons["bootstrap"]["min_images_for_verdict"] == MIN_IMAGES_FOR_VERDICT
    c_vs_a = comparisons["comparisons"][1]["metrics"]
    assert c_vs_a["Sm"]["excludes_0"] and c_vs_a["Sm"]["ci"][1] < 0  # an interval that excludes 0, still
    for c in comparisons["comparisons"]:
        assert all(m["better"] is None and m["verdict"] == "too few images" for m in c["metrics"].values())
    md = (tmp_path / "out" / "comparison.md").read_text()
    assert md.count("| too few images for a verdict |") == 2 * 9 and "better**" not in md and "within noise |" not in md


def test_the_coverage_simulation_is_reproduced_by_a_loop():
    """``eval/bootstrap_coverage.py``'s MAE-like shape (scores Beta(0.8, 12) and Beta(0.9, 10)
    sharing Gamma(0.7) and Gamma(9) parts), recomputed here by a loop at n = 5 and at the
    threshold, equals the simulation's own code; far below 95% at 5, within 2 points from the threshold."""
    s, t, g_a, h_a, g_b, h_b = 0.7, 9.0, 0.1, 3.0, 0.2, 1.0
    truth = (s + g_a) / (s + g_a + t + h_a) - (s + g_b) / (s + g_b + t + h_b)
    looped = {}
    for n in (5, MIN_IMAGES_FOR_VERDICT):
        rng, held = np.random.default_rng([0, n, 1]), 0  # seed 0, the second shape
        for _ in range(4000):
            shared_s, shared_t = rng.gamma(s, size=n), rng.gamma(t, size=n)
            xa, ya = shared_s + rng.gamma(g_a, size=n), shared_t + rng.gamma(h_a, size=n)
            xb, yb = shared_s + rng.gamma(g_b, size=n), shared_t + rng.gamma(h_b, size=n)
            d = xa / (xa + ya) - xb / (xb + yb)
            low, high = np.percentile(d[rng.integers(0, n, size=(1000, n))].mean(axis=1), [2.5, 97.5])
            held += bool(low <= truth <= high)
        looped[n] = held / 4000
        assert looped[n] == coverage(1, n, 4000, 1000, 0), n
    assert looped[5] < 0.9 and abs(looped[MIN_IMAGES_FOR_VERDICT] - 0.95) <= 0.02


@pytest.mark.slow  # 4000 simulated data sets for each of the shapes at two sizes
def test_the_threshold_is_the_first_size_where_every_shape_is_covered():
    """MIN_IMAGES_FOR_VERDICT's rule (its docstring): every score shape's 95% interval covers
    within 2 points at the threshold, and some shape does not at the size of SIZES below it."""
    below = max(n for n in SIZES if n < MIN_IMAGES_FOR_VERDICT)
    at = [coverage(i, MIN_IMAGES_FOR_VERDICT, 4000, 1000, 0) for i in range(len(SHAPES))]
    assert all(abs(c - 0.95) <= 0.02 for c in at), at
    short = [coverage(i, below, 4000, 1000, 0) for i in range(len(SHAPES))]
    assert any(abs(c - 0.95) > 0.02 for c in short), short


# ---------------------------------------------------------------------- folder evaluation outputs
def test_folder_evaluation_writes_intervals_and_per_image_files(tmp_path):
    data, folders = make_methods(tmp_path, 12, {"A": 0.1})
    result = evaluate_folders(folders, data, ["DS"], tmp_path / "out", plots=False,
                              bootstrap=Bootstrap(200, 0.95, 4))
    entry = result["results"]["A"]["DS"]
    pairs = read_pairs(data, folders["A"])
    ref = pysod_per_image(pairs)
    for key in ("Sm", "MAE", "adpFm"):
        expected = loop_interval(12, lambda row: np.mean(ref[key][row]), 200, 0.95, 4)
        np.testing.assert_allclose(entry["ci"][key], expected, rtol=0, atol=1e-12, err_msg=key)
    expected = loop_interval(12, lambda row: ref["curves"][row, 1].mean(0).max(), 200, 0.95, 4)
    np.testing.assert_allclose(entry["ci"]["maxEm"], expected, rtol=0, atol=1e-12)
    assert result["bootstrap"]["resamples"] == 200 and result["bootstrap"]["seed"] == 4

    with open(tmp_path / "out" / "per_image" / "A" / "DS.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["stem"] for r in rows] == sorted(p.stem for p in (data / "DS" / "GT").glob("*.png"))
    for key in SCALARS:
        np.testing.assert_allclose([float(r[key]) for r in rows], ref[key], rtol=0, atol=1e-12, err_msg=key)
    np.testing.assert_allclose([float(r["maxFm"]) for r in rows], ref["curves"][:, 0].max(axis=1), atol=1e-12)
    with np.load(tmp_path / "out" / "per_image" / "A" / "DS.npz") as npz:
        assert npz["curves"].shape == (1, 12, 4, 256) and npz["curves"].dtype == np.float32
        np.testing.assert_allclose(npz["Sm"][0], ref["Sm"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(npz["curves"][0, :, 3], ref["curves"][:, 1], rtol=0, atol=1e-6)
    loaded = load_npz(tmp_path / "out" / "per_image" / "A" / "DS.npz").numbers()[0]
    assert loaded == pytest.approx({k: entry[k] for k in loaded}, abs=1e-6)
    half = f"{(entry['ci']['Sm'][1] - entry['ci']['Sm'][0]) / 2:.3f}".lstrip("0")  # e.g. ".012"
    assert f"| **{entry['Sm']:.3f}** ±{half} |" in (tmp_path / "out" / "table.md").read_text()
    assert r"{\scriptsize$\pm$" in (tmp_path / "out" / "table.tex").read_text()
    header = (tmp_path / "out" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "Sm_ci_low" in header and "maxEm_ci_high" in header


def test_ci_zero_turns_the_bootstrap_off(tmp_path, capsys):
    data, folders = make_methods(tmp_path, 4, {"A": 0.1, "B": 0.3})
    args = ["--pred", str(folders["A"]), str(folders["B"]), "--data-root", str(data), "--datasets", "DS",
            "--no-plots", "--ci", "0"]
    assert main([*args, "--out", str(tmp_path / "off")]) == 0
    metrics = json.loads((tmp_path / "off" / "metrics.json").read_text())
    assert metrics["bootstrap"] is None and metrics["bold"] == "best" and metrics["best"] == {}
    assert "ci" not in metrics["results"]["A"]["DS"]
    assert "±" not in (tmp_path / "off" / "table.md").read_text()
    assert (tmp_path / "off" / "per_image" / "A" / "DS.csv").exists()  # per-image files still
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "x"), "--compare", "A", "B"]) == 1
    assert capsys.readouterr().err == "error: --compare/--reference need the bootstrap (--ci > 0)\n"
    assert main([*args, "--out", str(tmp_path / "x"), "--bold", "tied"]) == 1
    assert "--bold tied needs the bootstrap" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("extra, words", [
    (["--compare", "A", "Z"], "--compare/--reference: 'Z' is not one of the methods: A"),
    (["--reference", "Z"], "--compare/--reference: 'Z' is not one of the methods: A"),
    (["--ci-level", "1.5"], "confidence level (--ci-level) must lie strictly between 0 and 1, got 1.5"),
])
def test_bad_statistics_options_are_one_line_errors(tmp_path, capsys, extra, words):
    data, folders = make_methods(tmp_path, 2, {"A": 0.1})
    code = main(["--pred", str(folders["A"]), "--data-root", str(data), "--datasets", "DS", "--out",
                 str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 1 and err == f"error: {words}\n"
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ runs
def test_several_runs_give_mean_std_per_run_numbers_and_the_interval_of_the_mean(tmp_path):
    data, folders = make_methods(tmp_path, 10, {"seed0": 0.1, "seed1": 0.15, "seed2": 0.3})
    runs = [folders[f"seed{i}"] for i in range(3)]
    out = tmp_path / "out"
    assert main(["--pred", "M=" + ",".join(map(str, runs)), "--data-root", str(data), "--datasets", "DS",
                 "--out", str(out), "--no-plots", "--ci", "300", "--seed", "5"]) == 0
    entry = json.loads((out / "metrics.json").read_text())["results"]["M"]["DS"]
    single = evaluate_folders({f"r{i}": run for i, run in enumerate(runs)}, data, ["DS"], tmp_path / "single",
                              plots=False, bootstrap=None)["results"]
    per_run = [single[f"r{i}"]["DS"] for i in range(3)]
    assert entry["runs"]["n"] == 3 and [r["folder"] for r in entry["runs"]["per_run"]] == list(map(str, runs))
    for key in ("Sm", "wFm", "maxFm", "meanEm"):
        values = [run[key] for run in per_run]
        assert [r[key] for r in entry["runs"]["per_run"]] == pytest.approx(values, abs=1e-12)
        assert entry[key] == pytest.approx(np.mean(values), abs=1e-12)
        assert entry["runs"]["std"][key] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    refs = [pysod_per_image(read_pairs(data, run)) for run in runs]
    expected = loop_interval(10, lambda row: np.mean([np.mean(ref["Sm"][row]) for ref in refs]), 300, 0.95, 5)
    np.testing.assert_allclose(entry["ci"]["Sm"], expected, rtol=0, atol=1e-12)
    expected = loop_interval(10, lambda row: np.mean([ref["curves"][row, 0].mean(0).max() for ref in refs]),
                             300, 0.95, 5)
    np.testing.assert_allclose(entry["ci"]["maxFm"], expected, rtol=0, atol=1e-12)
    expected = loop_interval(10, lambda row: np.mean(refs[2]["MAE"][row]), 300, 0.95, 5)  # the third run's own
    np.testing.assert_allclose(entry["runs"]["per_run"][2]["ci"]["MAE"], expected, rtol=0, atol=1e-12)
    with open(out / "per_image" / "M" / "DS.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30 and {r["run"] for r in rows} == {"1", "2", "3"}
    table = (out / "table.md").read_text()
    assert "| M (3 runs) |" in table and "| std over runs |" in table and "Runs of M on DS:" in table

    # a glob gives the same method
    assert main(["--pred", f"M={tmp_path / 'seed*'}", "--data-root", str(data), "--datasets", "DS",
                 "--out", str(tmp_path / "glob"), "--no-plots", "--ci", "300", "--seed", "5"]) == 0
    assert json.loads((tmp_path / "glob" / "metrics.json").read_text())["results"]["M"]["DS"] == entry


@pytest.mark.parametrize("pred, words", [
    ("{root}/seed*", "names 2 folders: give the method a LABEL="),
    ("M={root}/nothing*", "no folder matches"),
    ("M={root}/seed0,{root}/seed0", "method 'M' lists a folder twice"),
    ("M={root}/seed0,", "an empty folder name"),
])
def test_bad_run_lists_are_one_line_errors(tmp_path, capsys, pred, words):
    data, _ = make_methods(tmp_path, 2, {"seed0": 0.1, "seed1": 0.2})
    code = main(["--pred", pred.format(root=tmp_path), "--data-root", str(data), "--datasets", "DS", "--out",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and words in err and err.count("\n") == 1


# ---------------------------------------------------------------------------------------- splits
def read_list(name):
    return (SPLITS / f"{name}.txt").read_text().split()


def test_the_shipped_lists_have_the_sizes_datasets_md_gives():
    sizes = {"DUT": 400, "LFSD": 100, "NJU2K": 500, "NLPR": 300, "RGBD135": 135, "SIP": 929, "SSD": 80, "STERE": 1000}
    assert {p.stem: len(set(read_list(p.stem))) for p in SPLITS.glob("*.txt")} == sizes


def test_split_check_recognises_a_list_a_subset_and_one_changed_name():
    names = read_list("NJU2K")
    assert check_split(names, "NJU2K")["status"] == "matches"
    assert check_split(names, "njud")["split"] == "NJU2K"  # another name of the benchmark, any case
    subset = check_split(names[:485], "NJU2K")
    assert subset["status"] == "subset" and "subset (485 of 500)" in subset["summary"]
    changed = check_split(["000001_left"] + names[1:], "NJU2K")
    assert changed["status"] == "differs" and (changed["not_in_split"], changed["missing_from_split"]) == (1, 1)
    assert "1 names not in the split, 1 split names missing" in changed["summary"]
    assert changed["examples_not_in_split"] == ["000001_left"] and changed["examples_missing"] == [names[0]]
    assert check_split(read_list("RGBD135"), "DES")["status"] == "matches"
    assert check_split(read_list("STERE"), "X", "STEREO")["split"] == "STERE"  # by the folder's name
    unknown = check_split(["a", "b"], "COD10K")
    assert unknown["status"] == "unknown dataset" and unknown["split"] is None
    assert unknown["stems_sha256"] == check_split(["b", "a"], "OTHER")["stems_sha256"]


def test_folder_evaluation_reports_the_split(tmp_path):
    names = read_list("SSD")
    names[7] = "renamed"
    data, folders = make_methods(tmp_path, 0, {"A": 0.1}, dataset="SSD", stems=names)
    result = evaluate_folders(folders, data, ["SSD"], tmp_path / "out", plots=False, bootstrap=None)
    split = result["splits"]["SSD"]
    assert split["status"] == "differs" and split["split"] == "SSD" and split["n_images"] == 80
    assert any(n.startswith("SSD: the GT folder differs from the SSD test split (1 names not in the split, 1 split "
                            "names missing) (e.g. renamed): its numbers are not comparable") for n in result["notes"])
    assert "The GT folder differs from the SSD test split" in (tmp_path / "out" / "table.md").read_text()
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["splits"]["SSD"]["not_in_split"] == 1
