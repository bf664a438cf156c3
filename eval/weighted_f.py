"""Weighted F-measure (Margolin et al., CVPR 2014), beta^2 = 1.

PySODMetrics ``WeightedFmeasure.cal_wfm`` / MATLAB ``WFb.m``:
``E = |p - G|``; background pixels take E at their nearest GT pixel (``bwdist`` indices) giving
``Et``; ``EA`` = ``Et`` filtered by a 7x7 Gaussian, sigma 5, zero padding
(``fspecial``/``imfilter``); ``MIN = EA where (G and EA < E) else E``; ``B = 1`` on G,
``2 - exp(ln(0.5)/5 * D)`` off G; ``Ew = MIN * B``; ``TPw = |G| - sum Ew(G)``,
``FPw = sum Ew(~G)``, ``R = 1 - mean Ew(G)``, ``P = TPw / (TPw + FPw + eps)``,
``Q = 2 R P / (R + P + eps)``.

Only what can change the result is computed, and everything that depends on the GT alone is
prepared once per GT (:class:`WeightedFGroundTruth`):

- ``EA`` is only read on GT pixels, so ``Et`` only matters within 3 pixels (the filter's reach)
  of the GT, and the filter runs on the GT's bounding box grown by 3 pixels.
- The nearest GT pixel of those background pixels is found among the offsets at their exact
  distance, breaking ties as SciPy's ``distance_transform_edt(return_indices=True)`` does
  (PySODMetrics' reference): smallest column, then smallest row. D comes from OpenCV's exact
  (``DIST_MASK_PRECISE``) transform: its float32 output squared and rounded recovers the integer
  squared distance exactly while that is below 2^22 (images up to about 2000 px in diagonal;
  larger ones use SciPy's transform), and its float64 root is the value SciPy gives.
- Off the GT, ``Ew = p * B``, so ``FPw`` is one dot product with the precomputed ``B``.
"""
import cv2
import numpy as np

from .protocol import EPS

BETA2 = 1.0
_REACH = 3  # half-width of the 7x7 filter
_SEARCH = 4  # a pixel within 3 (Chebyshev) of the GT has its nearest GT pixel within sqrt(18)
_FLOAT32_EXACT = 1 << 22  # squared distances below this survive float32 sqrt, square, round


def _gaussian_1d(size: int = 7, sigma: float = 5.0) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (separable, normalised)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


_KERNEL = _gaussian_1d()


def _offset_table() -> tuple[np.ndarray, np.ndarray]:
    """``dy[d2, j], dx[d2, j]``: the j-th offset of squared length d2 in SciPy's tie order
    (dx, then dy), padded to 8 columns by repeating the last (a pixel at exact distance
    sqrt(d2) always hits before the padding)."""
    dy = np.zeros((2 * _REACH * _REACH + 1, 8), np.intp)
    dx = np.zeros_like(dy)
    groups: dict[int, list[tuple[int, int]]] = {}
    for d2, x, y in sorted(
        (y * y + x * x, x, y)
        for y in range(-_SEARCH, _SEARCH + 1)
        for x in range(-_SEARCH, _SEARCH + 1)
        if 0 < y * y + x * x <= 2 * _REACH * _REACH
    ):
        groups.setdefault(d2, []).append((y, x))
    for d2, offsets in groups.items():
        offsets += offsets[-1:] * (8 - len(offsets))
        dy[d2], dx[d2] = np.array(offsets).T
    return dy, dx


_DY, _DX = _offset_table()


class WeightedFGroundTruth:
    """Everything the weighted F needs from a non-empty GT mask."""

    def __init__(self, mask: np.ndarray):
        h, w = mask.shape
        self.n_fg = int(np.count_nonzero(mask))
        background = (~mask).view(np.uint8)
        if h * h + w * w < _FLOAT32_EXACT:
            dist = cv2.distanceTransform(background, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        else:  # float32 can no longer tell integers apart: SciPy's exact, slower transform
            from scipy.ndimage import distance_transform_edt

            dist = distance_transform_edt(background)
        dist2 = np.rint(dist.astype(np.float64) ** 2)
        # B off the GT and 0 on it, so that FPw = sum(p * B) over the background is one product.
        weight = np.sqrt(dist2)
        weight *= np.log(0.5) / 5
        np.exp(weight, out=weight)
        np.subtract(2, weight, out=weight)
        weight[mask] = 0
        self.bg_weight = weight.ravel()

        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        y0, y1 = max(rows[0] - _REACH, 0), min(rows[-1] + _REACH + 1, h)
        x0, x1 = max(cols[0] - _REACH, 0), min(cols[-1] + _REACH + 1, w)
        self.box = (slice(y0, y1), slice(x0, x1))
        self.mask = np.ascontiguousarray(mask[self.box])
        self.band_dst, self.band_src = self._band_sources(self.mask, dist2[self.box])

    @staticmethod
    def _band_sources(mask: np.ndarray, dist2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of background pixels within 3 of the GT and of their nearest GT pixel."""
        near = cv2.dilate(mask.view(np.uint8), np.ones((2 * _REACH + 1,) * 2, np.uint8))
        band = np.flatnonzero(near.view(bool) & ~mask)
        width = mask.shape[1]
        padded_width = width + 2 * _SEARCH
        by, bx = np.divmod(band, width)
        d2 = dist2.ravel()[band].astype(np.intp)
        candidates = ((by + _SEARCH) * padded_width + bx + _SEARCH)[:, None] + (_DY * padded_width + _DX)[d2]
        first = np.pad(mask, _SEARCH).ravel()[candidates].argmax(axis=1)  # first GT hit
        return band, band + _DY[d2, first] * width + _DX[d2, first]

    def score(self, p: np.ndarray) -> float:
        """Weighted F of the normalised prediction ``p`` (float64, the GT's shape)."""
        crop = p[self.box]
        err = np.abs(crop - self.mask)
        err_t = err.copy()
        err_t.ravel()[self.band_dst] = err.ravel()[self.band_src]
        err_a = cv2.sepFilter2D(err_t, cv2.CV_64F, _KERNEL, _KERNEL, borderType=cv2.BORDER_CONSTANT)
        ew_fg = np.minimum(err_a, err)[self.mask].sum()
        tpw = self.n_fg - ew_fg
        fpw = np.einsum("i,i->", p.ravel(), self.bg_weight)  # not np.dot: BLAS threads
        recall = 1 - ew_fg / self.n_fg
        precision = tpw / (tpw + fpw + EPS)
        return float((1 + BETA2) * recall * precision / (recall + BETA2 * precision + EPS))
