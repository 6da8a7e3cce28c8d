"""The serve process's memory rules: heavy modules only on the paths that need them.

pyarrow (~25 MB resident with its allocations, measured by benchmarks/bench_rss.py)
is needed only for Arrow request and response bodies, so importing everything
``historian serve`` loads at start (server, ingest, engine, HTTP API) must not
import it; the first Arrow request does. And glibc's arenas are capped unless
the operator set the malloc tunables.
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

from historian.server.malloc import tune_malloc

SERVE_MODULES = (
    "historian.server.cli",
    "historian.server.process",
    "historian.ingest.service",
    "historian.lsm.engine",
    "historian.api.frontend",
    "historian.api.app",
    "historian.api.streams",
    "historian.api.write",
)

SCRIPT = """
import importlib, sys
for mod in {modules!r}:
    importlib.import_module(mod)
print(",".join(sorted(m for m in ("pyarrow", "duckdb") if m in sys.modules)) or "-")
from historian.api.encode import arrow_stream, values_table
from historian.query.columns import QueryColumns
arrow_stream(values_table(QueryColumns.from_arrays([0, 1], [1.0, 2.0], [0, 0])))
print("pyarrow" in sys.modules)
"""


def test_serve_imports_leave_pyarrow_to_arrow_requests() -> None:
    code = SCRIPT.format(modules=SERVE_MODULES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    eager, after_arrow = out.stdout.split()
    assert eager == "-", f"imported at serve start: {eager}"
    assert after_arrow == "True"  # and an Arrow answer still loads it on demand


def test_operator_malloc_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=8")
    assert tune_malloc() == []


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
    reason="mallopt is glibc's",
)
def test_malloc_tuned_on_glibc_except_what_the_environment_sets() -> None:
    tunables = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")
    env = {k: v for k, v in os.environ.items() if k not in tunables}
    code = "from historian.server.malloc import tune_malloc; print(*tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"]
    env["MALLOC_ARENA_MAX"] = "4"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["MALLOC_MMAP_THRESHOLD_"]
