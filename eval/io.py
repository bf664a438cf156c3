"""Finding the files of a folder evaluation, on the project's shared layout core.

Layout: a method's folder holds ``<DATASET>/<stem>.png``; the GT of a dataset lives in
``ROOT/<DATASET>/<GT folder>/``, and the inputs shown by ``python -m eval.qualitative`` beside it
in its RGB and depth folders. Folder names are those datasets/ accepts (``utils/layout.py``:
``GT``, ``Mask``, ``masks``, ``test_masks``, ... in any case). Files pair by stem. Maps and GT are
decoded by ``utils.images.read_gray_map`` (OpenCV 8-bit gray, as PySODEvalToolkit).
"""
from pathlib import Path

from utils.errors import EvalError
from utils.images import read_gray_map as read_gray
from utils.layout import images_by_stem, role_dir

__all__ = ["find_gt_folder", "find_input_folder", "list_images", "read_gray"]


def find_gt_folder(dataset_dir: Path) -> Path:
    """The one GT folder of ``dataset_dir``."""
    return role_dir(dataset_dir, "gt")


def find_input_folder(dataset_dir: Path, role: str) -> Path:
    """The one ``role`` (``"rgb"`` or ``"depth"``) folder of ``dataset_dir``."""
    return role_dir(dataset_dir, role)


def list_images(folder: Path) -> dict[str, Path]:
    """``{stem: path}`` of the images in ``folder`` (not recursive); a stem stored twice
    (``a.png`` and ``a.jpg``) is an error, since either could be the map that was meant."""
    by_stem, _ = images_by_stem(folder)
    for stem, paths in by_stem.items():
        if len(paths) > 1:
            raise EvalError(f"{folder}: two images with stem {stem!r} ({', '.join(p.name for p in paths)})")
    return {stem: paths[0] for stem, paths in by_stem.items()}
