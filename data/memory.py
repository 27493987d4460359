"""Giving the memory a finished stage freed back to the system, so that the next stage starts from less.

The allocators keep what a stage frees for reuse: glibc's heap (pandas and
numpy) and Arrow's pool (mimalloc). The run's peak is reached in its later
stages, on top of whatever the earlier ones left held; returning it between
stages takes milliseconds and measured a sixth off the peak of a county's run.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa


def c_function(name: str):
    """A function of the system's C library, or None where it has none (`malloc_trim` and `prctl` are
    glibc's and Linux's: not on macOS or musl)."""
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library, use_errno=True), name) if library else None
    except (OSError, AttributeError):
        return None


_malloc_trim = c_function("malloc_trim")


def return_freed_memory() -> None:
    pa.default_memory_pool().release_unused()
    if _malloc_trim is not None:
        _malloc_trim(0)
