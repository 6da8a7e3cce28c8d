"""Before a full run's services start: the numba cache holds every engine kernel.

A kernel missing from the cache is compiled inside the historian while it ingests (the
warm-up thread, the first L2 compaction: seconds of GIL each), which the run would
charge to the system as latency: the first ``stress`` run after a fresh clone failed
its nominal p99 at 140 ms where the runs after it passed. ``python -m
historian.lsm.warm`` compiles them in a process of its own, once per install.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

WARM_TIMEOUT_S = 600.0
WARM_MODULE_ENV = "TWINBENCH_WARM_MODULE"
"""Names the module run as the warm-up (default ``historian.lsm.warm``): the seam that
lets a test see a broken install's error without breaking the install."""


class WarmUpError(RuntimeError):
    """The kernels could not be loaded or compiled (numba or llvmlite is broken)."""


async def warm_numba_cache(say: Callable[[str], None]) -> float:
    """Run the warm-up process; return its wall time. Raises :class:`WarmUpError`."""
    say("loading the engine's numba kernels (compiled once after an install: ~1 min)")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    module = os.environ.get(WARM_MODULE_ENV) or "historian.lsm.warm"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), WARM_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise WarmUpError(
            f"loading the numba kernels took over {WARM_TIMEOUT_S:.0f} s; "
            f"run `python -m {module}` to see where it stops"
        ) from None
    text = out.decode(errors="replace").strip()
    if proc.returncode != 0:
        last = text.splitlines()[-1] if text else "no output"
        raise WarmUpError(
            f"`python -m {module}` failed (exit {proc.returncode}: {last}); numba or llvmlite "
            "is broken in this environment: reinstall them (pip install -c constraints.txt "
            f"-e .) and run `python -m {module}` to see the whole error"
        )
    took = loop.time() - t0
    say(f"numba kernels ready in {took:.1f} s")
    return took
