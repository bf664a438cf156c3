"""The ``matlab`` protocol against Fan's MATLAB toolbox (CODToolbox ``Onekey_Evaluation_Code``).

``tests/fixtures/matlab_reference/SINet_matlab_output.mat`` is the toolbox's own output on 3
COD10K images: its scalars and 256-point curves must be reproduced (wFm within 1e-8, the rest
within 1e-10), through the same folder evaluation the CLI runs.
"""
import json
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from eval import SODEvaluator, evaluate_folders
from eval.protocol import matlab_thresholds, round_centroid
from tests.helpers import FIXTURES, MAT_KEYS


@pytest.fixture(scope="module")
def matlab_run(tmp_path_factory):
    """Lay the fixture out as ROOT/COD10K/GT + SINet/COD10K (symlinks) and evaluate it."""
    import scipy.io as scipy_io  # reads the toolbox's .mat (scipy is a runtime dependency)

    ref = FIXTURES / "matlab_reference"
    tmp = tmp_path_factory.mktemp("matlab")
    (tmp / "data" / "COD10K").mkdir(parents=True)
    (tmp / "data" / "COD10K" / "GT").symlink_to(ref / "GT")
    (tmp / "SINet").mkdir()
    (tmp / "SINet" / "COD10K").symlink_to(ref / "maps" / "SINet")
    result = evaluate_folders({"SINet": tmp / "SINet"}, tmp / "data", ["COD10K"], tmp / "out",
                              protocol="matlab", plots=False)
    curves = json.loads((tmp / "out" / "curves.json").read_text())
    mat = {k: v for k, v in scipy_io.loadmat(ref / "SINet_matlab_output.mat").items() if not k.startswith("__")}
    return result, curves, mat


def test_scalars_match_the_toolbox(matlab_run):
    result, _, mat = matlab_run
    got = result["results"]["SINet"]["COD10K"]
    assert result["protocol"] == "matlab"
    assert got["n_images"] == 3 and got["wFm_n_images"] == 3
    for key, mat_key in MAT_KEYS.items():
        tol = 1e-8 if key == "wFm" else 1e-10
        assert got[key] == pytest.approx(mat[mat_key].item(), abs=tol), key


def test_curves_match_the_toolbox(matlab_run):
    _, curves, mat = matlab_run
    got = curves["curves"]["SINet"]["COD10K"]
    for key, mat_key in [("precision", "column_Pr"), ("recall", "column_Rec"), ("fm", "column_F"), ("em", "column_E")]:
        np.testing.assert_allclose(got[key], mat[mat_key].ravel(), rtol=0, atol=1e-10, err_msg=key)
    np.testing.assert_array_equal(curves["thresholds"], matlab_thresholds())


def test_colon_operator_thresholds():
    # docs/metrics.md, "Curve thresholds": `1:-1/255:0` has 256 values, 36 of which are not exactly t/255.
    thresholds = matlab_thresholds()
    exact = np.arange(255, -1, -1) / 255
    assert thresholds.shape == (256,) and thresholds[0] == 1 and thresholds[-1] == 0
    assert np.count_nonzero(thresholds != exact) == 36
    assert np.abs(thresholds - exact).max() < 1e-15


def test_centroid_rounding_differs_only_on_even_half():
    for index_sum in range(0, 60):
        for count in range(1, 9):
            mean = Decimal(index_sum) / Decimal(count)
            numpy_style = int(np.round(index_sum / count)) + 1  # PySODMetrics
            matlab_style = int((mean + 1).quantize(Decimal(1), rounding=ROUND_HALF_UP))  # MATLAB round
            assert round_centroid(index_sum, count, "pysodmetrics") == numpy_style
            assert round_centroid(index_sum, count, "matlab") == matlab_style


def test_empty_gt_weighted_f_is_nan_and_left_out_of_the_mean():
    rng = np.random.default_rng(0)
    gt = np.zeros((30, 40), np.uint8)
    gt[5:20, 8:30] = 255
    pred = rng.integers(0, 256, gt.shape, dtype=np.uint8)
    single = SODEvaluator("matlab")
    single.update(pred, gt)
    ev = SODEvaluator("matlab")
    ev.update(pred, gt)
    assert np.isnan(ev.update(pred, np.zeros_like(gt)).wfm)
    assert ev.wfm_count == 1 and ev.n_images == 2
    assert ev.results()["wFm"] == single.results()["wFm"]
    pysod = SODEvaluator()
    pysod.update(pred, np.zeros_like(gt))
    assert pysod.results()["wFm"] == 0.0  # PySODMetrics scores an empty GT 0


def test_e_measure_uses_strictly_greater_in_matlab():
    # A binary map: at threshold 1 nothing is "> 1" (MATLAB) but the ones are ">= 1" (PySODMetrics).
    gt = np.zeros((10, 10), np.uint8)
    gt[2:6, 2:6] = 255
    ev_m, ev_p = SODEvaluator("matlab"), SODEvaluator()
    ev_m.update(gt, gt)
    ev_p.update(gt, gt)
    n = gt.size
    assert ev_m.curves()["em"][0] == pytest.approx(n / 4 / (n - 1))  # all-zero map: xi = 0 everywhere
    assert ev_p.curves()["em"][0] == pytest.approx(n / (n - 1))  # perfect map
