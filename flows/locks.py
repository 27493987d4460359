"""Locks that keep two runs from writing over each other.

A run holds its folder's lock from start to finish: a second run of the same
inputs and settings (the same run id) stops at once with a clear message
instead of interleaving its writes. Files shared between runs (the published
folder's pointer, the analysts' decision store, the model file) are written
under short locks. The locks are operating-system locks: a killed run cannot
leave one held.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from data.errors import SfmatchError


class RunInProgress(SfmatchError):
    """Another process holds this run's lock."""


@contextmanager
def run_lock(run_root: Path):
    lock = FileLock(str(run_root / ".run.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunInProgress(
            f"run {run_root.name} is already in progress in another process (same inputs and settings); "
            "wait for it to finish, or give --run-id to run separately"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def shared_lock(path: Path, timeout: float = 120):
    """A short lock beside a file several runs or commands write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path.with_name(f".{path.name}.lock")), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise SfmatchError(f"{path} is locked by another process for longer than {timeout:.0f}s") from None
    try:
        yield
    finally:
        lock.release()
