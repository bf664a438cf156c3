"""Pairing a dataset's RGB/depth/GT files by stem (the folders are found by ``utils/layout.py``).

Pairing is by file stem only, never by sorted order (the CDINet and BBS-Net releases sort three
independent listings and check only their counts, so one stray file shifts every pair). A stem
must be present in every folder in use; anything else is reported as a :class:`BadSample`
naming the file(s), which the dataset turns into a :class:`DatasetError` or skips on request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from utils.errors import DatasetError
from utils.layout import IMAGE_EXTENSIONS, find_role_dirs, images_by_stem, missing_folder_message

__all__ = ["BadSample", "DatasetSource", "FolderScan", "Sample", "as_source", "pair_samples", "read_list_file",
           "scan_source"]


@dataclass
class DatasetSource:
    """One dataset folder ``root`` holding RGB-like, depth-like and (optionally) GT-like folders.

    ``list_file``: optional text file of stems (one per line, extensions and ``#`` comments
    allowed), as given or relative to ``root``; only those samples are used.
    ``invert_depth``: invert the depth (``255 - d`` for 8-bit maps on the release's path, ``1 - d``
    after min-max otherwise), for datasets stored with near = dark (CDINet expects near = bright;
    ``datasets/polarity.py`` measures which; train.py and test.py resolve ``"auto"`` to a bool).
    ``name``: the ``"dataset"`` field of its samples; defaults to the root folder's name.
    """

    root: Union[str, Path]
    list_file: Union[str, Path, None] = None
    invert_depth: bool = False
    name: Union[str, None] = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.list_file is not None:
            self.list_file = Path(self.list_file)
        if self.name is None:
            self.name = self.root.name or self.root.resolve().name


SourceLike = Union[DatasetSource, str, Path]


def as_source(source: SourceLike) -> DatasetSource:
    """A DatasetSource from a source or a plain root path."""
    return source if isinstance(source, DatasetSource) else DatasetSource(source)


@dataclass(frozen=True)
class Sample:
    """One paired RGB-D sample: file paths (str) plus what the loader needs to read it;
    ``source``: the index of its source in an ``RGBDSODDataset``'s ``sources``."""

    dataset: str
    name: str
    rgb: str
    depth: str
    gt: Union[str, None]
    invert_depth: bool
    source: int = 0


@dataclass(frozen=True)
class BadSample:
    """A sample that cannot be used: ``kind`` is 'unpaired', 'ambiguous', 'empty file' or
    'load error'; ``reason`` is one line naming the file(s)."""

    dataset: str
    name: str
    kind: str
    reason: str


@dataclass
class FolderScan:
    """Image files per role of one source: ``files[role][stem]`` lists the paths of that stem
    (more than one means the stem is ambiguous, e.g. ``a.jpg`` and ``a.png``). A stem may lack
    a file of an ``optional`` role."""

    source: DatasetSource
    dirs: dict[str, Path]
    optional: tuple[str, ...] = ()
    files: dict[str, dict[str, list[Path]]] = field(default_factory=dict)
    ignored: dict[str, list[Path]] = field(default_factory=dict)


def scan_source(source: DatasetSource, require_gt: bool) -> FolderScan:
    """Locate and list the folders of ``source``; a missing or empty folder is a DatasetError.

    RGB and depth are always required; GT too when ``require_gt``. Otherwise a GT folder that
    exists is listed as optional (``scan.optional``): stems without a GT file are fine.
    """
    dirs = find_role_dirs(source.root)
    roles = ("rgb", "depth", "gt") if require_gt else ("rgb", "depth")
    for role in roles:
        if role not in dirs:
            raise DatasetError(missing_folder_message(source.root, role))
    listed = roles if require_gt or "gt" not in dirs else roles + ("gt",)
    scan = FolderScan(source, {role: dirs[role] for role in listed},
                      optional=() if require_gt else ("gt",))
    for role in listed:
        scan.files[role], scan.ignored[role] = images_by_stem(dirs[role])
        if not scan.files[role] and role not in scan.optional:
            raise DatasetError(f"{dirs[role]}: empty folder (no "
                               f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files)")
    return scan


def read_list_file(source: DatasetSource) -> list[str]:
    """Stems listed in ``source.list_file`` (blank lines and ``#`` comments skipped, a known
    image extension stripped); a missing, empty or duplicated entry is a DatasetError."""
    path = source.list_file
    if not path.is_file() and not path.is_absolute() and (source.root / path).is_file():
        path = source.root / path
    if not path.is_file():
        raise DatasetError(f"{source.list_file}: list file not found")
    stems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        entry = Path(entry).name
        stem = Path(entry).stem if Path(entry).suffix.lower() in IMAGE_EXTENSIONS else entry
        if stem in seen:
            raise DatasetError(f"{path}:{number}: '{stem}' is listed twice")
        seen.add(stem)
        stems.append(stem)
    if not stems:
        raise DatasetError(f"{path}: list file names no samples")
    return stems


def pair_samples(scan: FolderScan) -> tuple[list[Sample], list[BadSample]]:
    """Pair the files of ``scan`` by stem (in list-file order, else sorted by stem)."""
    source = scan.source
    required = tuple(role for role in scan.dirs if role not in scan.optional)
    if source.list_file is not None:
        stems = read_list_file(source)
    else:
        stems = sorted(set().union(*(scan.files[role] for role in required)))
    samples: list[Sample] = []
    bad: list[BadSample] = []
    for stem in stems:
        problem = _problem(scan, stem, required)
        if problem:
            bad.append(BadSample(source.name, stem, *problem))
            continue
        paths = {role: str(files[stem][0]) for role, files in scan.files.items() if files.get(stem)}
        samples.append(Sample(source.name, stem, paths["rgb"], paths["depth"], paths.get("gt"),
                              source.invert_depth))
    return samples, bad


def _problem(scan: FolderScan, stem: str, roles: tuple[str, ...]) -> tuple[str, str] | None:
    """(kind, reason) when ``stem`` cannot be paired, else None."""
    present = {role: files.get(stem, []) for role, files in scan.files.items()}
    for role, paths in present.items():
        if len(paths) > 1:
            return "ambiguous", f"{' and '.join(str(p) for p in paths)}: one stem, several files"
    missing = [role for role in roles if not present[role]]
    if missing:
        where = " and ".join(f"{scan.dirs[role]}/" for role in missing)
        have = [str(present[role][0]) for role in roles if present[role]]
        if not have:
            return "unpaired", f"'{stem}' (from {scan.source.list_file}) has no file in {where}"
        return "unpaired", f"{have[0]} has no counterpart in {where}"
    for paths in present.values():
        if paths and paths[0].stat().st_size == 0:
            return "empty file", f"{paths[0]}: empty file (0 bytes)"
    return None
