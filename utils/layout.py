"""Where RGB-D SOD data lives on disk, for datasets/ (training, test.py) and eval/ alike.

Torch-free, so ``python -m eval`` starts fast. A dataset folder holds one folder per role,
recognised by name in any case (docs/datasets.md, "Folder layouts"), optionally with a split
prefix (``test_``, ``train_``, ``val_``; DMRA and DCF store
``test_images/test_depth/test_masks``):

- RGB: ``RGB``, ``Image``, ``images``, ``img``, ``imgs``;
- depth: ``depth``, ``depths``;
- GT: ``GT``, ``gts``, ``Mask``, ``masks``.

Files are images with one of :data:`IMAGE_EXTENSIONS` and pair across folders by stem only
(never by sorted order: one stray file would shift every pair).
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

from .errors import DatasetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
SPLIT_PREFIXES = ("test_", "train_", "val_")
ROLE_NAMES = {
    "rgb": ("rgb", "image", "images", "img", "imgs"),
    "depth": ("depth", "depths"),
    "gt": ("gt", "gts", "mask", "masks"),
}
ROLE_LABELS = {"rgb": "RGB", "depth": "depth", "gt": "GT"}


def folder_role(name: str) -> str | None:
    """'rgb', 'depth' or 'gt' for a folder name such as ``Image`` or ``test_masks``, else None."""
    name = name.lower()
    for prefix in SPLIT_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return next((role for role, names in ROLE_NAMES.items() if name in names), None)


def find_role_dirs(root: Union[str, Path]) -> dict[str, Path]:
    """The folders of ``root`` playing the roles 'rgb', 'depth', 'gt' (absent roles omitted).

    Raises DatasetError when ``root`` is not a folder or when two folders claim one role.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found" if not root.exists()
                           else f"{root}: not a folder")
    found: dict[str, list[Path]] = {role: [] for role in ROLE_NAMES}
    for child in sorted(root.iterdir()):
        role = folder_role(child.name) if child.is_dir() else None
        if role:
            found[role].append(child)
    for role, dirs in found.items():
        if len(dirs) > 1:
            names = " and ".join(d.name for d in dirs)
            raise DatasetError(f"{root}: {names} both look like the {ROLE_LABELS[role]} folder;"
                               " keep one")
    return {role: dirs[0] for role, dirs in found.items() if dirs}


def missing_folder_message(root: Path, role: str) -> str:
    """One-line message for a dataset root that lacks the folder of ``role``."""
    names = "/".join(n if n != "rgb" else "RGB" for n in ROLE_NAMES[role])
    return (f"{root}: no {ROLE_LABELS[role]} folder (looked for {names}, any case, optionally "
            f"test_/train_/val_-prefixed); found: "
            f"{', '.join(sorted(p.name for p in root.iterdir())) or 'nothing'}")


def role_dir(root: Union[str, Path], role: str) -> Path:
    """The one folder of ``root`` playing ``role``; a DatasetError saying what is there if none."""
    dirs = find_role_dirs(root)
    if role not in dirs:
        raise DatasetError(missing_folder_message(Path(root), role))
    return dirs[role]


def images_by_stem(folder: Union[str, Path]) -> tuple[dict[str, list[Path]], list[Path]]:
    """Image files of ``folder`` by stem (several for an ambiguous stem such as ``a.jpg`` and
    ``a.png``), and the other entries, ignored (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found")
    by_stem: dict[str, list[Path]] = {}
    ignored: list[Path] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            by_stem.setdefault(path.stem, []).append(path)
        else:
            ignored.append(path)
    return by_stem, ignored


def unique_images(folder: Union[str, Path]) -> dict[str, Path]:
    """``{stem: path}`` of the images in ``folder`` (not recursive), for evaluation: a stem stored
    twice (``a.png`` and ``a.jpg``) is an error, since either could be the map that was meant."""
    by_stem, _ = images_by_stem(folder)
    for stem, paths in by_stem.items():
        if len(paths) > 1:
            raise DatasetError(f"{folder}: two images with stem {stem!r} ({', '.join(p.name for p in paths)})")
    return {stem: paths[0] for stem, paths in by_stem.items()}


def list_datasets(root: Union[str, Path]) -> list[str]:
    """Names of the subfolders of a benchmark ``root`` that look like datasets (an RGB-like and a
    depth-like folder inside), sorted; e.g. ``['DES', 'NJU2K', 'NLPR']``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found")
    names = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            dirs = find_role_dirs(child)
        except DatasetError:  # two RGB-like folders: still a dataset, reported when used
            names.append(child.name)
            continue
        if "rgb" in dirs and "depth" in dirs:
            names.append(child.name)
    return names


# Names one benchmark goes by (docs/datasets.md, "Dataset names"): the first is the one this project writes.
DATASET_ALIASES = (
    ("DES", "RGBD135"),
    ("DUT-RGBD", "DUT-D", "DUT"),
    ("STERE", "STEREO", "STEREO1000"),
    ("NJU2K", "NJUD", "NJU2000"),
)


def dataset_aliases(name: str) -> tuple[str, ...]:
    """``name`` followed by the other names of the same benchmark (case-insensitive match)."""
    for group in DATASET_ALIASES:
        if name.lower() in (n.lower() for n in group):
            return (name,) + tuple(n for n in group if n.lower() != name.lower())
    return (name,)


def find_dataset_folder(root: Union[str, Path], name: str) -> Path | None:
    """The folder of dataset ``name`` under ``root``: the exact name, else the same name in
    another case, else another name of the same benchmark (``DES`` finds ``RGBD135``)."""
    root = Path(root)
    if (root / name).is_dir():
        return root / name
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}
    for alias in dataset_aliases(name):
        if alias.lower() in children:
            return children[alias.lower()]
    return None
