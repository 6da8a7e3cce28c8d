"""``Historian.warm_up(on_done)`` signals the end of the kernel load (bench_bus times from it)."""

from __future__ import annotations

import threading
from pathlib import Path

from historian.lsm.engine import Historian


def test_warm_up_calls_on_done_once_the_kernels_are_loaded(tmp_path: Path) -> None:
    done = threading.Event()
    took: list[float] = []
    caller: list[str] = []

    def on_done(seconds: float) -> None:
        took.append(seconds)
        caller.append(threading.current_thread().name)
        done.set()

    db = Historian.open(str(tmp_path / "db"))
    try:
        db.warm_up(on_done)
        assert done.wait(120.0), "warm-up did not finish within 120 s"
    finally:
        db.close()
    assert len(took) == 1 and took[0] >= 0.0
    assert caller == ["historian-warm-up"]  # off the caller's thread: open is not delayed
