"""The warm-up step loads every engine kernel, so that none compiles inside a server."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import importlib, json, pkgutil
import historian.codec, historian.sstable.stats
from numba.core.registry import CPUDispatcher
from historian.lsm.warm import warm_up_every_kernel
warm_up_every_kernel()
mods = [importlib.import_module(m.name) for m in pkgutil.iter_modules(
    historian.codec.__path__, "historian.codec.")] + [historian.sstable.stats]
kernels = {}
for mod in mods:
    for name, obj in vars(mod).items():
        if not isinstance(obj, CPUDispatcher) or obj.__module__ != mod.__name__:
            continue
        if obj.targetoptions.get("inline") == "always":
            continue  # compiled into its callers, never on its own
        kernels[f"{mod.__name__}.{name}"] = obj
# A kernel called only by other kernels is compiled into them: loaded from the cache,
# the caller runs without the callee's own dispatcher ever compiling. So a kernel is
# reached if it compiled, or if a reached kernel calls it (transitively).
reached = {k for k, d in kernels.items() if d.signatures}
grown = True
while grown:
    grown = False
    for key in list(reached):
        py = kernels[key].py_func
        for callee in py.__code__.co_names:
            obj = py.__globals__.get(callee)
            hit = [k for k, d in kernels.items() if d is obj and k not in reached]
            reached.update(hit)
            grown = grown or bool(hit)
missing = sorted(set(kernels) - reached)
print(json.dumps({"seen": len(kernels), "missing": missing}))
"""


def test_every_codec_kernel_is_compiled_by_the_warm_up() -> None:
    """A kernel the warm-up misses compiles at its first use in a serving historian
    (seconds of GIL: a p99 failure in the first full run after an install). A new
    codec or kernel must be reached by ``historian.lsm.warm`` to pass this."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600, check=True
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["seen"] > 20, found  # the probe really found the kernels
    assert found["missing"] == [], found


def test_the_warm_up_command_says_how_long_it_took() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "historian.lsm.warm"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert out.stdout.startswith("numba kernels loaded in "), out.stdout
