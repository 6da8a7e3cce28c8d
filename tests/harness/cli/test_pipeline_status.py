"""The ``pipeline up`` status line folds the historian's applied notices correctly."""

from __future__ import annotations

import json

from harness.cli.pipeline_status import PipelineStatus

S = 1_000_000_000


def test_points_per_source_and_the_newest_batch_lag() -> None:
    clock = [100.0]
    st = PipelineStatus(now=lambda: clock[0])
    st.add_message(
        json.dumps({"t": 50 * S, "b": [["c0", 1, 49 * S, 400], ["c1", 1, 48 * S, 200]]}).encode()
    )
    # an older batch of c0 applied later (a redelivery) must not replace the newest's lag
    st.add_message(json.dumps({"t": 60 * S, "b": [["c0", 0, 10 * S, 100]]}).encode())
    clock[0] = 104.0
    line = st.line(consumer_lag=7)
    assert line == (
        "175 pts/s queryable | c0 125/s, c1 50/s | queryable lag 2.00 s | consumer lag 7 msgs"
    )
    assert st.total_points == 700


def test_a_quiet_window_and_malformed_notices() -> None:
    clock = [0.0]
    st = PipelineStatus(now=lambda: clock[0])
    st.add_message(b"not json")
    st.add_message(b'{"t": 1}')
    clock[0] = 5.0
    assert st.line(consumer_lag=None) == "0 pts/s queryable | no data in the last 5 s"
    assert st.total_points == 0
