"""Finding and decoding the files of a folder evaluation.

Layout: a method's folder holds ``<DATASET>/<stem>.png``; the GT of a dataset lives in
``ROOT/<DATASET>/<gt folder>/`` where the GT folder is ``GT``, ``Mask``, ``masks`` in any case,
or a split-prefixed variant such as DMRA/DCF's ``test_masks`` / ``train_masks``. The inputs shown
by ``python -m eval.qualitative`` live beside it in an RGB folder (``RGB``, ``Image``, ``images``)
and a depth folder (``depth``, ``depths``), found by the same rules. Files pair by stem. Maps and
GT are decoded by OpenCV as 8-bit gray (``cv2.IMREAD_GRAYSCALE``, as PySODEvalToolkit reads
them): colour is converted to luma by the decoder, 16-bit is reduced to its high byte, alpha is
dropped.
"""
import re
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
GT_FOLDER = re.compile(r"^((test|train|val)_)?(gt|gts|mask|masks)$", re.IGNORECASE)
INPUT_FOLDERS = {  # role: (folder name pattern, names for messages)
    "RGB": (re.compile(r"^((test|train|val)_)?(rgb|image|images)$", re.IGNORECASE), "RGB, Image, images"),
    "depth": (re.compile(r"^((test|train|val)_)?(depth|depths)$", re.IGNORECASE), "depth, depths"),
}


class EvalError(Exception):
    """A problem with the inputs, reported as one line naming the file or folder."""


def _find_folder(dataset_dir: Path, pattern: re.Pattern, role: str, names: str) -> Path:
    """The one subfolder of ``dataset_dir`` whose name matches ``pattern``."""
    if not dataset_dir.is_dir():
        raise EvalError(f"dataset folder not found: {dataset_dir}")
    found = sorted(p for p in dataset_dir.iterdir() if p.is_dir() and pattern.match(p.name))
    if not found:
        raise EvalError(f"no {role} folder ({names}, ...) in {dataset_dir}")
    if len(found) > 1:
        raise EvalError(f"several {role} folders in {dataset_dir}: {', '.join(p.name for p in found)}")
    return found[0]


def find_gt_folder(dataset_dir: Path) -> Path:
    """The one GT folder of ``dataset_dir`` (see the module docstring)."""
    return _find_folder(dataset_dir, GT_FOLDER, "GT", "GT, Mask, masks, test_masks")


def find_input_folder(dataset_dir: Path, role: str) -> Path:
    """The one ``role`` (``"RGB"`` or ``"depth"``) folder of ``dataset_dir``, for the figures
    of ``python -m eval.qualitative`` (see the module docstring)."""
    pattern, names = INPUT_FOLDERS[role]
    return _find_folder(dataset_dir, pattern, role, names)


def list_images(folder: Path) -> dict[str, Path]:
    """``{stem: path}`` of the images in ``folder`` (not recursive)."""
    if not folder.is_dir():
        raise EvalError(f"folder not found: {folder}")
    images: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            if path.stem in images:
                raise EvalError(f"two images with stem {path.stem!r} in {folder}")
            images[path.stem] = path
    return images


def read_image(path: Path, flags: int) -> np.ndarray:
    """Decode ``path`` with ``cv2.imread`` flags; an :class:`EvalError` naming it if that fails."""
    image = cv2.imread(str(path), flags)
    if image is None:
        raise EvalError(f"cannot read image: {path}")
    return image


def read_gray(path: Path) -> np.ndarray:
    """Decode ``path`` as an 8-bit single-channel image."""
    return read_image(path, cv2.IMREAD_GRAYSCALE)
