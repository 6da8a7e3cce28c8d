"""Retention is computed from the wall clock, never from the newest data (issue 11, defect 4).

One point dated 2100 used to become the engine's "newest" time and, with
retention configured, expire every real point.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from historian import Historian
from historian.model import NS_PER_SECOND as NS
from historian.options import Options

YEAR_2100_NS = 4_102_444_800 * NS


def test_a_point_dated_2100_does_not_make_retention_delete_real_data(tmp_path: Path) -> None:
    hour = 3_600 * NS
    opts = Options(retention_ns=24 * hour, bucket_ns=hour, background=False)
    now = time.time_ns()
    db = Historian.open(str(tmp_path / "h"), opts)
    try:
        ts = now - 3 * hour + np.arange(100, dtype=np.int64) * 60 * NS  # the last ~3 hours
        db.write_arrays(np.full(100, 5), ts, np.arange(100.0))
        db.compact()
        assert len(db.read(5, 0, 2**62)[0]) == 100
        # the library's default window is open, so this write is accepted ...
        db.write_arrays([6], [YEAR_2100_NS], [1.0])
        db.compact()
        # ... and retention, from the wall clock, still deletes nothing
        got_ts, got_v, _ = db.read(5, 0, 2**62)
        assert len(got_ts) == 100 and np.array_equal(got_v, np.arange(100.0))
    finally:
        db.close()


def test_retention_deletes_what_is_older_than_the_wall_clock_allows(tmp_path: Path) -> None:
    hour = 3_600 * NS
    opts = Options(retention_ns=24 * hour, bucket_ns=hour, background=False)
    now = time.time_ns()
    db = Historian.open(str(tmp_path / "h"), opts)
    try:
        db.write_arrays([1, 1], [now - 72 * hour, now - hour], [1.0, 2.0])
        db.compact()
        assert db.read(1, 0, 2**62)[1].tolist() == [2.0]
    finally:
        db.close()
