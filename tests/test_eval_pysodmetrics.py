"""eval/ against PySODMetrics 1.6.2 (the ``pysodmetrics`` protocol's reference, a test dependency).

Every dataset-level number and the mean curves must agree within 1e-6 on random and structured
maps of mixed sizes, including the edge cases where conventions bite: empty GT, full GT, constant
predictions, single-pixel objects and centroids exactly on k + 0.5.
"""
import shutil
import warnings

import cv2
import numpy as np
import py_sod_metrics  # the reference implementation (requirements-dev.txt)
import pytest

from eval import METRIC_KEYS, SODEvaluator, evaluate_folders
from tests.helpers import FIXTURES

TOL = 1e-6


def reference(pairs, normalize=True):
    """PySODMetrics' dataset numbers and mean curves for (pred, gt) pairs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure's deprecation notice; numpy's empty-slice mean
        m = dict(sm=py_sod_metrics.Smeasure(), wfm=py_sod_metrics.WeightedFmeasure(),
                 mae=py_sod_metrics.MAE(), fm=py_sod_metrics.Fmeasure(), em=py_sod_metrics.Emeasure())
        for pred, gt in pairs:
            for metric in m.values():
                metric.step(pred, gt, normalize=normalize)
        f, e = m["fm"].get_results(), m["em"].get_results()
    scalars = dict(
        Sm=m["sm"].get_results()["sm"], wFm=m["wfm"].get_results()["wfm"], MAE=m["mae"].get_results()["mae"],
        adpFm=f["fm"]["adp"], meanFm=f["fm"]["curve"].mean(), maxFm=f["fm"]["curve"].max(),
        adpEm=e["em"]["adp"], meanEm=e["em"]["curve"].mean(), maxEm=e["em"]["curve"].max(),
    )
    curves = dict(precision=f["pr"]["p"], recall=f["pr"]["r"], fm=f["fm"]["curve"], em=e["em"]["curve"])
    return scalars, curves


def ours(pairs, **kwargs):
    ev = SODEvaluator(**kwargs)
    for pred, gt in pairs:
        ev.update(pred, gt)
    return ev.results(), ev.curves()


def assert_same(pairs, **kwargs):
    expected, expected_curves = reference(pairs)
    got, got_curves = ours(pairs, **kwargs)
    assert got["n_images"] == len(pairs)
    for key in METRIC_KEYS:
        assert got[key] == pytest.approx(expected[key], abs=TOL, nan_ok=True), key
    for key, curve in expected_curves.items():
        np.testing.assert_allclose(got_curves[key], curve, rtol=0, atol=TOL, err_msg=key)


def blob_pair(rng, h, w):
    yy, xx = np.mgrid[:h, :w]
    cy, cx, ry, rx = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1, h / 2), rng.uniform(1, w / 2)
    gt = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    pred = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), rng.uniform(1, 6)) * rng.uniform(0.3, 1)
    pred += rng.normal(0, 0.05, pred.shape).astype(np.float32)
    return np.clip(pred * 255, 0, 255).astype(np.uint8), gt.astype(np.uint8) * 255


def random_pair(rng, h, w):
    gt = (rng.random((h, w)) < rng.uniform(0.01, 0.6)).astype(np.uint8) * 255
    return rng.integers(0, 256, (h, w), dtype=np.uint8), gt


def sizes(rng, n, lo=8, hi=96):
    return [tuple(rng.integers(lo, hi, 2)) for _ in range(n)]


def test_random_and_blob_maps_of_mixed_sizes():
    rng = np.random.default_rng(0)
    pairs = [random_pair(rng, *s) for s in sizes(rng, 12)] + [blob_pair(rng, *s) for s in sizes(rng, 12)]
    assert_same(pairs)


def test_empty_and_full_gt_and_constant_predictions():
    rng = np.random.default_rng(1)
    pairs = []
    for h, w in sizes(rng, 6, 5, 60):
        pairs += [
            (rng.integers(0, 256, (h, w), dtype=np.uint8), np.zeros((h, w), np.uint8)),  # empty GT
            (rng.integers(0, 256, (h, w), dtype=np.uint8), np.full((h, w), 255, np.uint8)),  # full GT
            (np.full((h, w), rng.integers(0, 256), np.uint8), random_pair(rng, h, w)[1]),  # constant map
            (np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)),
            (np.full((h, w), 255, np.uint8), np.full((h, w), 255, np.uint8)),
            (np.full((h, w), 255, np.uint8), blob_pair(rng, h, w)[1]),
        ]
    assert_same(pairs)


def test_single_pixel_objects():
    rng = np.random.default_rng(2)
    pairs = []
    for h, w in sizes(rng, 10, 4, 50):
        gt = np.zeros((h, w), np.uint8)
        gt[rng.integers(h - 1), rng.integers(w - 1)] = 255  # not on the last row / column
        pairs += [(rng.integers(0, 256, (h, w), dtype=np.uint8), gt),
                  (np.full((h, w), rng.integers(0, 256), np.uint8), gt)]
    assert_same(pairs)


def test_object_on_the_last_column_gives_the_references_nan():
    # The centroid column is then W, the right quadrants are empty, and both references' S is NaN.
    gt = np.zeros((9, 7), np.uint8)
    gt[3, 6] = 255
    pred = np.random.default_rng(3).integers(0, 256, gt.shape, dtype=np.uint8)
    expected, _ = reference([(pred, gt)])
    assert np.isnan(expected["Sm"])
    got, _ = ours([(pred, gt)])
    assert np.isnan(got["Sm"])
    assert got["wFm"] == pytest.approx(expected["wFm"], abs=TOL)


@pytest.mark.parametrize("x0", [2, 3])  # the half-pixel mean's integer part even, then odd
def test_centroid_exactly_on_half_pixel(x0):
    rng = np.random.default_rng(x0)
    pairs = []
    for h, w, span in [(20, 17, 2), (31, 40, 4), (12, 64, 6)]:
        gt = np.zeros((h, w), np.uint8)
        gt[x0:x0 + span, x0:x0 + span] = 255
        rows, cols = np.nonzero(gt)
        assert cols.mean() % 1 == 0.5 and rows.mean() % 1 == 0.5
        pairs += [(rng.integers(0, 256, (h, w), dtype=np.uint8), gt), (blob_pair(rng, h, w)[0], gt)]
    assert_same(pairs)


def test_float_predictions_in_unit_range_match_the_unnormalised_reference():
    # A float map with min 0 and max 1 is unchanged by min-max, so it must equal PySODMetrics
    # with normalize=False (which takes the float map as is), without any 8-bit rounding.
    rng = np.random.default_rng(4)
    pairs = []
    for h, w in sizes(rng, 8):
        pred = rng.random((h, w))
        pred.flat[:2] = 0.0, 1.0
        pairs.append((pred, rng.random((h, w)) < 0.3))
    expected, expected_curves = reference(pairs, normalize=False)
    got, got_curves = ours(pairs)
    for key in METRIC_KEYS:
        assert got[key] == pytest.approx(expected[key], abs=TOL), key
    np.testing.assert_allclose(got_curves["em"], expected_curves["em"], atol=TOL)


class FakeTensor:
    """Stands in for a torch tensor (importing torch takes seconds): eval duck-types it."""

    def __init__(self, array):
        self.array = array

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array


def test_tensor_like_inputs_with_batch_dimensions():
    pred, gt = blob_pair(np.random.default_rng(5), 40, 50)
    got, _ = ours([(FakeTensor(pred[None, None]), FakeTensor(gt[None]))])
    expected, _ = reference([(pred, gt)])
    assert got["Sm"] == pytest.approx(expected["Sm"], abs=TOL)


def test_prediction_of_another_size_is_resized_bilinear_to_the_gt():
    rng = np.random.default_rng(6)
    pred, gt = blob_pair(rng, 60, 80)
    small = cv2.resize(pred, (53, 37), interpolation=cv2.INTER_AREA)
    resized = cv2.resize(small, (80, 60), interpolation=cv2.INTER_LINEAR)
    expected, _ = reference([(resized, gt)])
    got, _ = ours([(small, gt)])
    for key in METRIC_KEYS:
        assert got[key] == pytest.approx(expected[key], abs=TOL), key


def test_real_des_maps_of_jl_dcf(tmp_path):
    """The 5 real DES GTs (1-bit PNG) and JL-DCF's maps, through the folder evaluation."""
    gt_dir = FIXTURES / "rgbd" / "DES" / "GT"
    map_dir = FIXTURES / "maps" / "JL-DCF" / "DES"
    root = tmp_path / "data"
    shutil.copytree(gt_dir, root / "DES" / "GT")
    result = evaluate_folders({"JL-DCF": map_dir.parent}, root, ["DES"], tmp_path / "out", plots=False)
    got = result["results"]["JL-DCF"]["DES"]
    stems = sorted(p.stem for p in gt_dir.glob("*.png"))
    pairs = [(cv2.imread(str(map_dir / f"{s}.png"), cv2.IMREAD_GRAYSCALE),
              cv2.imread(str(gt_dir / f"{s}.png"), cv2.IMREAD_GRAYSCALE)) for s in stems]
    assert all(set(np.unique(gt)) == {0, 255} for _, gt in pairs)  # the 1-bit PNG decodes to 0/255
    expected, _ = reference(pairs)
    assert got["n_images"] == 5 and got["n_missing"] == 0
    for key in METRIC_KEYS:
        assert got[key] == pytest.approx(expected[key], abs=TOL), key


def test_large_image_distance_fallback_agrees(monkeypatch):
    # Images over ~2000 px in diagonal use SciPy's transform instead of OpenCV's float32 one;
    # force that branch on small maps: the weighted F must match PySODMetrics all the same.
    import eval.weighted_f

    monkeypatch.setattr(eval.weighted_f, "_FLOAT32_EXACT", 0)
    rng = np.random.default_rng(7)
    pairs = [blob_pair(rng, *s) for s in sizes(rng, 4)] + [random_pair(rng, *s) for s in sizes(rng, 4)]
    assert_same(pairs)
