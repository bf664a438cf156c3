"""Which test split a GT folder is: the known lists in ``eval/splits/`` (see its SOURCES.md).

A dataset is looked up by its ``--datasets`` name, then by its folder's name, each with the other
names of the same benchmark (``utils.layout.dataset_aliases``: DES = RGBD135, DUT-RGBD = DUT,
STERE = STEREO, NJU2K = NJUD, in any case). The folder's GT stems are then compared with the list:

- ``matches``: the same names;
- ``subset``: some of the list's names and nothing else ("subset (n of N)");
- ``differs``: names the list lacks ("differs (k names not in the split, m split names missing)");
- ``unknown dataset``: no list for it.

Numbers on a folder that is not the list (or is only a subset) are not comparable with papers that
used the list. ``stems_sha256`` (of the sorted stems, one per line, each ending in a newline) lets
two folders of an unknown dataset be compared too.
"""
import hashlib
from pathlib import Path

from utils.layout import dataset_aliases

SPLITS_DIR = Path(__file__).with_name("splits")
_EXAMPLES = 5
NOT_COMPARABLE = "its numbers are not comparable with papers that used that split"


def known_splits() -> dict[str, Path]:
    """``{list name: file}`` of the shipped lists (``DUT``, ``LFSD``, ``NJU2K``, ...)."""
    return {path.stem: path for path in sorted(SPLITS_DIR.glob("*.txt"))}


def read_split(path: Path) -> list[str]:
    """The names of a split list (one per line; blank lines ignored)."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def find_split(*names: str) -> str | None:
    """The list for the first of ``names`` (or another name of its benchmark) that has one."""
    lists = {name.lower(): name for name in known_splits()}
    for name in names:
        for alias in dataset_aliases(name):
            if alias.lower() in lists:
                return lists[alias.lower()]
    return None


def stems_digest(stems) -> str:
    return hashlib.sha256("".join(f"{stem}\n" for stem in sorted(stems)).encode()).hexdigest()


def check_split(stems, *names: str) -> dict:
    """Compare a GT folder's ``stems`` with the known list of the dataset called ``names``.

    Returns ``{"status", "summary", "split", "split_size", "n_images", "not_in_split",
    "missing_from_split", "examples_not_in_split", "examples_missing", "stems_sha256"}``
    (``split`` and the counts are None for an unknown dataset).
    """
    stems = set(stems)
    split = find_split(*names)
    result = {"status": "unknown dataset", "summary": "is of an unknown dataset (no known split list)",
              "split": split, "split_size": None, "n_images": len(stems), "not_in_split": None,
              "missing_from_split": None, "stems_sha256": stems_digest(stems)}
    if split is None:
        return result
    listed = set(read_split(known_splits()[split]))
    extra, missing = sorted(stems - listed), sorted(listed - stems)
    result.update(split_size=len(listed), not_in_split=len(extra), missing_from_split=len(missing),
                  examples_not_in_split=extra[:_EXAMPLES], examples_missing=missing[:_EXAMPLES])
    if not extra and not missing:
        result.update(status="matches", summary=f"matches the {split} test split ({len(listed)} names)")
    elif not extra:
        result.update(status="subset", summary=f"is a subset ({len(stems)} of {len(listed)}) of the {split} test split")
    else:
        result.update(status="differs", summary=f"differs from the {split} test split ({len(extra)} names not in "
                                                f"the split, {len(missing)} split names missing)")
    return result


def off_split(check: dict) -> bool:
    """Whether the folder is of a known dataset but not its test split (a subset, or different):
    its numbers are then not comparable with papers that used the split."""
    return check["status"] in ("subset", "differs")


def split_note(dataset: str, check: dict) -> str | None:
    """A line for the notes when the folder is a known dataset but not its list."""
    if not off_split(check):
        return None
    shown = ", ".join(check["examples_not_in_split"] or check["examples_missing"])
    return f"{dataset}: the GT folder {check['summary']} (e.g. {shown}): {NOT_COMPARABLE}"
