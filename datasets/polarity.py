"""Depth polarity measured from the GT, and the ``invert_depth`` decision that follows from it.

Each model expects one convention, its ``InputSpec.near`` (CDINet's authors re-processed every
depth map to near = bright; docs/datasets.md, "Depth polarity"); benchmark copies store either. Salient objects stand in
front of their background, so in a sample whose GT has object and background pixels the
object's mean depth (min-max normalised, at the GT's size) is higher than the background's when
the map stores near = bright. A dataset is called near = bright when that holds in at least
:data:`BRIGHT` of its measured samples, near = dark when in at most :data:`DARK`, else unclear.

``python -m datasets.check`` measures every sample; test.py and train.py measure up to
:data:`SAMPLE_LIMIT` samples spread evenly over each dataset, at the moment the maps or the
model would be made, say what ``auto`` decided and when the setting in use contradicts the
measurement.

The same maps are counted for holes (:class:`DepthHoles`: pixels stored as 0 or non-finite,
``utils.images.depth_holes``). In a near = dark map (millimetres, say) 0 is nearer than any
measured point, and it stays so whether the map is inverted (for a near = bright model) or not;
test.py warns when more than :data:`HOLE_SHARE` of the pixels are holes there (``data.preprocess.depth_holes:
far`` fills them with the farthest valid value).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import cv2
import numpy as np

from utils.images import depth_holes, minmax_depth, read_depth_raw, read_gt

from .pairing import Sample

BRIGHT, DARK = 0.7, 0.3  # share of samples whose object is brighter, for a clear verdict
SAMPLE_LIMIT = 50  # samples measured by test.py and train.py (datasets.check: all)
AUTO = "auto"  # the invert_depth setting that applies the measured verdict
HOLE_SHARE = 0.01  # share of hole pixels above which test.py warns about inverted depth

InvertSetting = Union[bool, str]  # True, False or "auto"


def object_background_means(raw_depth: np.ndarray, gt: np.ndarray) -> Optional[tuple[float, float]]:
    """Mean normalised depth inside and outside the GT (``> 127``), with the depth resized to
    the GT's size (OpenCV bilinear); None when the GT lacks object or background pixels."""
    inside = gt > 127
    if not inside.any() or inside.all():
        return None
    height, width = gt.shape
    depth = cv2.resize(minmax_depth(raw_depth), (width, height), interpolation=cv2.INTER_LINEAR)
    return float(depth[inside].mean()), float(depth[~inside].mean())


@dataclass(frozen=True)
class DepthHoles:
    """Hole pixels (``utils.images.depth_holes``) in the depth maps of one dataset.

    ``maps``: maps counted; ``with_holes``: those with at least one hole; ``pixels`` /
    ``holes``: all their pixels / their hole pixels.
    """

    maps: int = 0
    with_holes: int = 0
    pixels: int = 0
    holes: int = 0

    @staticmethod
    def count(raw: np.ndarray) -> tuple[int, int]:
        """``(hole pixels, pixels)`` of one depth map as read."""
        return int(np.count_nonzero(depth_holes(raw))), int(raw.size)

    @classmethod
    def from_counts(cls, counts: Sequence[tuple[int, int]]) -> "DepthHoles":
        """From :meth:`count` of each map."""
        return cls(len(counts), sum(holes > 0 for holes, _ in counts), sum(p for _, p in counts),
                   sum(holes for holes, _ in counts))

    @property
    def share(self) -> float:
        """Hole pixels over all pixels counted (0 when nothing was counted)."""
        return self.holes / self.pixels if self.pixels else 0.0

    @property
    def many(self) -> bool:
        """More than :data:`HOLE_SHARE` of the pixels are holes."""
        return self.share > HOLE_SHARE

    def describe(self) -> str:
        """E.g. ``3.00% of the pixels stored as 0 or invalid, in 5/5 maps``."""
        if not self.holes:
            return f"none stored as 0 or invalid ({self.maps} maps)"
        return f"{100 * self.share:.2f}% of the pixels stored as 0 or invalid, in {self.with_holes}/{self.maps} maps"

    def to_dict(self) -> dict:
        """For test_info.json and log.jsonl."""
        return {"maps": self.maps, "maps_with_holes": self.with_holes, "share": round(self.share, 6)}


@dataclass(frozen=True)
class Polarity:
    """What the depth maps of one dataset say about their convention.

    ``inside`` / ``outside``: per measured sample, the mean depth inside / outside its GT;
    ``holes``: the holes of the maps read for it.
    """

    inside: tuple[float, ...] = ()
    outside: tuple[float, ...] = ()
    holes: DepthHoles = DepthHoles()

    @classmethod
    def from_pairs(cls, means: Sequence[tuple[float, float]], holes: DepthHoles = DepthHoles()) -> "Polarity":
        return cls(tuple(m[0] for m in means), tuple(m[1] for m in means), holes)

    @property
    def samples(self) -> int:
        return len(self.inside)

    @property
    def brighter(self) -> int:
        """Samples whose object is brighter than its background."""
        return sum(i > o for i, o in zip(self.inside, self.outside))

    @property
    def verdict(self) -> str:
        """``near = bright``, ``near = dark``, ``unclear`` or ``unknown`` (nothing measured)."""
        if not self.samples:
            return "unknown"
        share = self.brighter / self.samples
        return "near = bright" if share >= BRIGHT else "near = dark" if share <= DARK else "unclear"

    def invert_for(self, near: str) -> Optional[bool]:
        """The ``invert_depth`` that gives a model expecting ``near`` (``bright`` or ``dark``, its
        ``InputSpec.near``) its convention; None without a clear verdict."""
        stored = {"near = bright": "bright", "near = dark": "dark"}.get(self.verdict)
        return None if stored is None else stored != near

    def evidence(self) -> str:
        """E.g. ``mean depth 0.18 inside the GT vs 0.34 outside; brighter inside in 0/5 samples``."""
        if not self.samples:
            return "no GT with both object and background pixels"
        return (f"mean depth {np.mean(self.inside):.2f} inside the GT vs {np.mean(self.outside):.2f} outside; "
                f"brighter inside in {self.brighter}/{self.samples} samples")

    def to_dict(self) -> dict:
        """For test_info.json and log.jsonl."""
        record = {"verdict": self.verdict, "samples": self.samples, "brighter_inside": self.brighter}
        if self.samples:
            record.update(mean_inside=round(float(np.mean(self.inside)), 4),
                          mean_outside=round(float(np.mean(self.outside)), 4))
        return {**record, "holes": self.holes.to_dict()}


def spread(count: int, limit: int) -> list[int]:
    """``min(count, limit)`` indices spread evenly over ``range(count)``, first and last included."""
    if count <= limit:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, limit)})


def measure_polarity(samples: Sequence[Sample], limit: int = SAMPLE_LIMIT) -> Optional[Polarity]:
    """The polarity (and holes) of the depth maps of ``samples`` from up to ``limit`` of those
    that have a GT file; None when none has (nothing can be measured). Unreadable files raise
    DatasetError."""
    with_gt = [sample for sample in samples if sample.gt is not None]
    if not with_gt:
        return None
    means, counts = [], []
    for index in spread(len(with_gt), limit):
        raw = read_depth_raw(with_gt[index].depth)
        counts.append(DepthHoles.count(raw))
        means.append(object_background_means(raw, read_gt(with_gt[index].gt)))
    return Polarity.from_pairs([m for m in means if m is not None], DepthHoles.from_counts(counts))


@dataclass(frozen=True)
class DepthDecision:
    """Whether a dataset's depth is inverted, why, and what the measurement said.

    ``setting``: what was asked (True, False or ``"auto"``); ``polarity``: the measurement, None
    when the dataset has no GT ("unverified"); ``near``: the model's convention (``InputSpec.near``).
    """

    setting: InvertSetting
    invert: bool
    polarity: Optional[Polarity]
    near: str = "bright"

    @property
    def wanted(self) -> Optional[bool]:
        """The ``invert_depth`` the measurement calls for (None: no clear verdict or no GT)."""
        return None if self.polarity is None else self.polarity.invert_for(self.near)

    @property
    def contradicted(self) -> bool:
        """The measurement clearly says the other convention than the one in use."""
        return self.wanted is not None and self.wanted != self.invert

    @property
    def stored_near_dark(self) -> bool:
        """The setting in use takes the stored maps to be near = dark."""
        return self.invert != (self.near == "dark")

    def describe(self) -> str:
        other = "dark" if self.near == "bright" else "bright"
        use = f"inverted (near = {other} -> near = {self.near})" if self.invert else "used as stored"
        asked = "measured verdict" if self.setting == AUTO else ("asked for" if self.setting else "default")
        return f"{use} ({asked})"

    def to_dict(self) -> dict:
        return {"invert": self.invert, "setting": self.setting, "decision": self.describe(), "model_near": self.near,
                "polarity": self.polarity.to_dict() if self.polarity is not None else "unverified (no GT)"}

    def warning(self, dataset: str, fix: Callable[[bool], str], model: str = "CDINet") -> Optional[str]:
        """One line for the console when the setting contradicts the measurement, or ``auto``
        could not decide; ``fix(invert)`` names the option that sets ``invert_depth`` to ``invert``;
        ``model`` is the title of the model the depth is fed to."""
        if self.polarity is None:
            return None if self.setting != AUTO else (
                f"{dataset}: depth polarity unverified (no GT to measure it); depth used as stored")
        if self.setting == AUTO and self.wanted is None:
            return (f"{dataset}: depth polarity {self.polarity.verdict} ({self.polarity.evidence()}); used as "
                    f"stored: inspect some depth maps; if near is dark there, {fix(True)}")
        if not self.contradicted:
            return None
        now = "inverted" if self.invert else "used as stored"
        return (f"{dataset}: depth looks {self.polarity.verdict} ({self.polarity.evidence()}) but is {now}; "
                f"{model} expects near = {self.near}: {fix(not self.invert)}")

    def console_line(self, dataset: str, fix: Callable[[bool], str], model: str = "CDINet") -> Optional[str]:
        """The line test.py and train.py print for a dataset: ``warning: ...`` (:meth:`warning`),
        else, for ``auto``, ``note: ...`` saying what it decided; None when there is nothing to say."""
        warning = self.warning(dataset, fix, model)
        if warning:
            return f"warning: {warning}"
        if self.setting == AUTO and self.polarity is not None:
            return (f"note: {dataset}: invert_depth {AUTO}: depth {self.polarity.verdict} "
                    f"({self.polarity.evidence()}): {'inverted' if self.invert else 'used as stored'}")
        return None

    def holes_warning(self, dataset: str, fix: str) -> Optional[str]:
        """A line when the maps are taken as near = dark and more than :data:`HOLE_SHARE` of the
        pixels measured are holes: stored as 0 there, they are fed as the nearest points. ``fix``
        names the option that fills them with the far value."""
        if not self.stored_near_dark or self.polarity is None or not self.polarity.holes.many:
            return None
        how = "inverted" if self.invert else "as stored"
        return (f"{dataset}: depth has holes ({self.polarity.holes.describe()}); near = dark and {how}, they are "
                f"fed as the nearest points: {fix} gives them the farthest valid depth")


def decide(setting: InvertSetting, polarity: Optional[Polarity], near: str = "bright") -> DepthDecision:
    """``invert_depth`` for one dataset fed to a model expecting ``near`` (``InputSpec.near``):
    ``setting`` True/False as given, ``"auto"`` the measured verdict (as stored when it is unclear
    or unmeasured)."""
    if setting == AUTO:
        invert = bool(polarity is not None and polarity.invert_for(near))
    elif isinstance(setting, bool):
        invert = setting
    else:
        raise ValueError(f"invert_depth must be true, false or {AUTO!r}, got {setting!r}")
    return DepthDecision(setting, invert, polarity, near)


def decide_and_say(label: str, setting: InvertSetting, samples: Sequence[Sample], near: str, model: str,
                   fix: Callable[[bool], str], holes_fix: Optional[str] = None, say: bool = True) -> DepthDecision:
    """The depth-polarity step of train.py and test.py for one dataset (``label`` in the lines):
    measure ``samples`` (:func:`measure_polarity`), decide ``setting`` for a model expecting
    ``near`` (:func:`decide`), and, with ``say``, print to stderr its console line and, when
    ``holes_fix`` names the option that fills holes, the holes warning."""
    decision = decide(setting, measure_polarity(samples), near)
    holes = decision.holes_warning(label, holes_fix) if holes_fix is not None else None
    for line in (decision.console_line(label, fix, model), holes and f"warning: {holes}"):
        if line and say:
            print(line, file=sys.stderr, flush=True)
    return decision
