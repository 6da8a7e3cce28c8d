"""Deadband < 0 sends every reading: repeated values, and repeated Bad readings without a value."""

from __future__ import annotations

import numpy as np

from historian.collect.exception import ExceptionFilter

BAD = np.uint16(0x808C)


def test_negative_deadband_sends_repeated_bad_readings() -> None:
    f = ExceptionFilter(np.array([-1.0, 0.0]), max_interval_ns=10**15)
    tags = np.array([0, 1])
    sent = []
    for t, v, q in [(1, 1.0, 0), (2, 1.0, 0), (3, np.nan, BAD), (4, np.nan, BAD), (5, np.nan, BAD)]:
        keep = f.admit(tags, np.array([t, t]), np.array([v, v]), np.array([q, q], np.uint16))
        sent.append(keep.tolist())
    # tag 0 (deadband -1): all five; tag 1 (deadband 0): changes only (first Bad, not repeats)
    assert [s[0] for s in sent] == [True] * 5
    assert [s[1] for s in sent] == [True, False, True, False, False]
