"""Keep glibc's malloc from returning torch's large CPU buffers to the kernel after every step.

A CPU training step of a 3D CNN allocates and frees the same few activation and gradient buffers (megabytes each)
over and over. glibc serves blocks above its *mmap threshold* with a fresh ``mmap`` and gives them back with
``munmap`` when freed, and trims the top of the heap once more than the *trim threshold* is free, so every step
faults the same pages in again. The thresholds adapt upward on their own, but only for blocks freed after being
mapped, and the trim threshold follows the mmap threshold at twice its size.

Measured on the 2-core CI machine (torch 2.13 CPU, glibc 2.36; ``benchmarks/malloc_thresholds.py``, fresh
processes, median of 30-40 steps): the book's SimCLR step (ResNet-10 at 1/4 width, 2 x 64 views of 6 x 40 x 40
voxels) faulted 350-520 k pages and took 301-331 ms with glibc's defaults, 54-99 k and 258-287 ms with
``mmap 32 MiB, trim 1 GiB`` (1.13x); a forward pass of 64 views (``embed``) 42-53 ms against 27-41 ms. Setting
only the trim threshold made it worse (2.46 M faults, 414 ms): any explicit setting switches off the adaptive
mmap threshold, which then stays at its 128 KiB default. World generation (numpy, forked workers) was unchanged.
The losses are bitwise the same; the cost is that up to ``trim_threshold`` of freed memory stays with the process.

This is a process-wide setting of the C library, so it is applied once, only on glibc, and never over a choice
the user made with the ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` environment variables.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_applied: dict | None = None


def _glibc():
    """The loaded glibc, or None on other C libraries (macOS, Windows, musl)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory(mmap_threshold: int = 32 * 2**20, trim_threshold: int = 2**30) -> dict:
    """Raise glibc's mmap and trim thresholds for this process (once; later calls return the first result).

    Parameters
    ----------
    mmap_threshold : int
        Bytes; blocks at least this large get their own ``mmap`` (glibc default: 128 KiB, adaptive up to 32 MiB,
        the largest value glibc accepts on 64-bit).
    trim_threshold : int
        Bytes of free memory at the top of the heap before glibc gives it back to the kernel.

    Returns
    -------
    dict
        ``{"applied": bool, "reason": str}``: applied is False on non-glibc systems, when the user set one of the
        ``MALLOC_*_THRESHOLD_`` environment variables, or when ``mallopt`` rejected a value.
    """
    global _applied
    if _applied is not None:
        return _applied
    user_set = [v for v in _ENV_VARS if v in os.environ]
    libc = None if user_set else _glibc()
    if user_set:
        result = {"applied": False, "reason": f"left to the environment ({', '.join(user_set)})"}
    elif libc is None:
        result = {"applied": False, "reason": "not glibc"}
    elif libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) != 1 or \
            libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) != 1:
        result = {"applied": False, "reason": "mallopt rejected a threshold"}
    else:
        result = {"applied": True, "reason": f"mmap threshold {mmap_threshold} B, trim threshold {trim_threshold} B"}
    _applied = result
    return result
