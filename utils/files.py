"""Writing files and folders atomically: the one place that does it (torch-free).

A file is written to a temporary name in its own folder (``.<name>.tmp-XXXX``), optionally
fsync'ed, and renamed over the target (``os.replace``); a folder is filled under a temporary
name and swapped in when complete. A crash, ``kill -9`` or full disk in between leaves the
previous file or folder as it was and no partial one under the real name.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Union

PathLike = Union[str, os.PathLike]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: PathLike, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to (by any library); when the block ends
    without an error it is renamed to ``path``. ``durable``: fsync the file and its folder too
    (checkpoints: survive a power loss)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as stream:
                os.fsync(stream.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], None], durable: bool = False) -> None:
    """Call ``write(stream)`` on a temporary file beside ``path``, then rename it to ``path``."""
    with atomic_file(path, durable) as tmp, open(tmp, "wb") as stream:
        write(stream)


def atomic_write_bytes(path: PathLike, data: bytes, durable: bool = False) -> None:
    atomic_write(path, lambda stream: stream.write(data), durable)


def atomic_write_text(path: PathLike, text: str, durable: bool = False) -> None:
    atomic_write_bytes(path, text.encode(), durable)


@contextmanager
def atomic_folder(target: PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; when the block ends without an error,
    it replaces ``target`` (an existing one is moved aside, then deleted). On an error the
    temporary folder is deleted and ``target`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        partial.chmod(0o777 & ~_umask())  # mkdtemp makes it private (0700)
        yield partial
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(partial, target)
            shutil.rmtree(old)
        else:
            os.replace(partial, target)  # an empty folder is replaced by the rename
    finally:
        shutil.rmtree(partial, ignore_errors=True)
