"""glibc malloc settings for the long-running server process (less RSS, same speed).

Two glibc defaults cost the server memory it never gives back:

- Each thread that allocates gets its own arena, up to 8 per core, and every
  arena keeps what its thread freed. The server's threads (event loop, flush,
  compaction, numba's warm-up, ``asyncio.to_thread`` workers) all allocate numpy
  temporaries. Two arenas are enough: those threads spend their time in numpy
  and I/O, not in malloc.
- The mmap threshold is dynamic: after a large block that came from ``mmap`` is
  freed, glibc raises the threshold to that block's size (up to 32 MB), so the
  next memtable columns and flush temporaries of that size come from the heap,
  where fragmentation keeps them resident after they are freed. A fixed 1 MB
  threshold keeps every large numpy array in its own mapping, returned to the
  kernel when freed; small allocations (a 1,000-point batch is 22 kB) are as before.

Measured with ``benchmarks/bench_rss.py`` (10 k tags, 50 k points/s, 120 s):
peak RSS 281 -> 255 MB and steady 233 -> 219 MB with both settings, the [heap]
mapping 60 -> 34 MB.

An operator's own ``MALLOC_ARENA_MAX`` / ``MALLOC_MMAP_THRESHOLD_`` /
``GLIBC_TUNABLES`` wins: that setting is left alone. On a C library without
glibc's ``mallopt`` (musl, macOS) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
"""``mallopt`` parameter numbers (glibc <malloc.h>)."""

SERVER_ARENA_MAX = 2
SERVER_MMAP_THRESHOLD = 1024 * 1024

_ENV = {M_ARENA_MAX: "MALLOC_ARENA_MAX", M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_"}


def tune_malloc(
    arena_max: int = SERVER_ARENA_MAX, mmap_threshold: int = SERVER_MMAP_THRESHOLD
) -> list[str]:
    """Apply the server's malloc settings; return the names of those applied.

    Call early, before the process starts its threads (arenas made before stay).
    A setting the environment already gives is skipped, all of them when
    ``GLIBC_TUNABLES`` is set.
    """
    if "GLIBC_TUNABLES" in os.environ:
        return []
    name = ctypes.util.find_library("c")
    if name is None:
        return []
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return []
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = []
    for param, value in ((M_ARENA_MAX, arena_max), (M_MMAP_THRESHOLD, mmap_threshold)):
        env = _ENV[param]
        if env not in os.environ and mallopt(param, value) == 1:
            applied.append(env)
    return applied
