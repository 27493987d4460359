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


def _glibc_trim():
    """glibc's `malloc_trim`, or None on a system whose C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_malloc_trim = _glibc_trim()


def return_freed_memory() -> None:
    pa.default_memory_pool().release_unused()
    if _malloc_trim is not None:
        _malloc_trim(0)
