"""Files that hold personal data or keys: readable and writable by their owner only, whatever the umask.

A run folder holds ingested extracts, the review queue, quarantine and
crosswalks; the published folder holds what was sent. Folders are made 0700
and files 0600. The flows and the `sfmatch` command work under a umask of 077,
so that everything they and the libraries they call (Parquet, pandas, Prefect's
result cache, Great Expectations' Data Docs) create is private from its first
byte; `restrict` then tightens a whole tree, for files another process wrote
(a Dask worker under its own umask) or that an earlier version left open.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
PRIVATE_UMASK = 0o077
OTHERS = stat.S_IRWXG | stat.S_IRWXO


@contextmanager
def private_umask() -> Iterator[None]:
    """Everything created inside is private to its owner; the caller's umask comes back afterwards."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def write_private(path: Path, content: bytes, replace: bool = False) -> Path:
    """Write a file readable by its owner only from its first byte; a new file unless `replace`.

    A replacement is written beside the target and renamed over it, so a reader sees the old file or the new
    one, never half of either.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not replace:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.chmod(path, FILE_MODE)  # O_CREAT's mode passes through the umask; this does not
        return path
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as handle:  # mkstemp makes it 0600
            handle.write(content)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


def restrict(root: Path) -> int:
    """Make `root` and everything under it private (folders 0700, files 0600); returns how many were changed.

    Symbolic links are left alone and not followed: a link's target is not part of the tree.
    """
    changed = 0
    if not root.exists():
        return changed
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = DIR_MODE if path.is_dir() else FILE_MODE
        if mode != wanted:
            os.chmod(path, wanted)
            changed += 1
    return changed


def exposed(root: Path) -> list[Path]:
    """Files and folders under `root` (itself included) that anyone but their owner could read, write or enter."""
    return [path for path in (root, *root.rglob("*"))
            if not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) & OTHERS]
