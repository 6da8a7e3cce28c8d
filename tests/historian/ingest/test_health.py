"""What each store-write failure means for a stream message (issue 11, defect 1)."""

from __future__ import annotations

import errno

import pytest

from historian.errors import (
    BatchValidationError,
    ClosedError,
    CorruptDataError,
    DiskFullError,
    HistorianError,
    OverloadedError,
    TimestampOutOfWindowError,
    UnknownSeriesError,
)
from historian.ingest.health import WriteHealth, classify, worst
from historian.wal.writer import WalWriteError


@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        (BatchValidationError("nan"), "invalid"),
        (UnknownSeriesError("x"), "invalid"),
        (TimestampOutOfWindowError("2100"), "invalid"),
        (DiskFullError(errno.ENOSPC, "full"), "transient"),
        (OverloadedError("busy"), "transient"),
        (ClosedError("closed"), "transient"),
        (TimeoutError(), "transient"),
        (OSError(errno.EIO, "io"), "transient"),
        (HistorianError("other"), "transient"),
        (RuntimeError("a bug"), "transient"),  # never an excuse to drop data
        (WalWriteError("WAL fsync failed"), "fatal"),
        (CorruptDataError("bad block"), "fatal"),
    ],
)
def test_only_a_batch_invalid_in_itself_may_leave_the_stream(exc: Exception, verdict: str) -> None:
    assert classify(exc) == verdict


def test_health_logs_each_change_once_and_recovers() -> None:
    lines: list[str] = []
    h = WriteHealth(base_delay_s=0.1, max_delay_s=0.4, log=lines.append)
    for _ in range(5):
        h.transient(DiskFullError(errno.ENOSPC, "full"))
    # tuples: `h.state == ...` would leave h.state narrowed for mypy past h.succeeded()
    assert (h.state, h.delay_s, len(lines)) == ("backing-off", 0.4, 1)
    assert "DiskFullError" in lines[0] and "nothing acked or dead-lettered" in lines[0]
    h.succeeded()
    assert (h.state, h.condition) == ("ok", "") and "resumed" in lines[-1]
    h.fatal(WalWriteError("fsync failed"))
    h.succeeded()  # a failed store stays failed until the process restarts
    assert h.state == "failed"
    assert worst(["ok", "backing-off"]) == "backing-off" and worst(["failed", "ok"]) == "failed"
