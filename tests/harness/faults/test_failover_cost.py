"""The failover measurements (harness.faults.cluster): gap, ack stall, per-kind worst cases."""

from __future__ import annotations

import pytest

from harness.faults.cluster import FailoverRecord, measure_failover, score_failovers

S = 1_000_000_000


def test_gap_is_the_first_ack_of_a_batch_sent_after_the_strike() -> None:
    batches = [
        (9 * S, int(10.5 * S)),  # sent before the strike, acked after: not the gap
        (10 * S + 1, 0),  # never acked
        (11 * S, 16 * S),  # the first post-strike batch acked: 6 s after the strike
        (12 * S, int(16.5 * S)),
        (30 * S, int(30.01 * S)),  # after the window: counts for the gap, not the stall
    ]
    cost = measure_failover(10 * S, 20 * S, batches)
    assert cost.election_gap_s == pytest.approx(6.0)
    assert cost.max_ack_stall_s == pytest.approx(5.0)  # 11 s -> 16 s
    assert cost.unacked_batches == 1


def test_no_ack_after_the_strike_has_no_gap() -> None:
    cost = measure_failover(10 * S, 20 * S, [(9 * S, 9 * S + 5), (11 * S, 0)])
    assert cost.election_gap_s is None and cost.unacked_batches == 1


def _record(role: str, signal: str, at_s: float) -> FailoverRecord:
    return FailoverRecord("n1", role, signal, "n1", int(at_s * S))


def test_score_splits_leader_crashes_from_the_rest_and_clips_windows() -> None:
    entries: list[dict[str, object]] = [{"end_s": 3.0}, {"end_s": 14.0}, {"end_s": 31.0}]
    records = [
        _record("follower", "SIGKILL", 2.0),
        _record("leader", "SIGKILL", 10.0),
        _record("leader", "SIGTERM", 30.0),
    ]
    batches = [
        (int(2.5 * S), int(2.6 * S)),  # follower: acked 0.6 s after its strike
        (int(9.0 * S), int(9.1 * S)),  # before the leader crash, in the follower's window
        (int(10.5 * S), int(17.0 * S)),  # leader crash: 7 s gap, 6.5 s stall
        (int(30.2 * S), int(30.3 * S)),  # clean stop: 0.3 s gap
    ]
    metrics = score_failovers(
        list(zip(entries, records, strict=True)), batches, origin_wall_ns=0, settle_s=5.0
    )
    assert metrics["failover.count"] == (3.0, "faults")
    assert metrics["failover.leader_crash_gap_s"][0] == pytest.approx(7.0)
    assert metrics["failover.gap_s"][0] == pytest.approx(0.6)  # worst of 0.6 and 0.3
    assert metrics["failover.max_ack_stall_s"][0] == pytest.approx(6.5)
    # the follower's window (2 s .. 3 + 5 s) stops at the next strike (10 s): its stall
    # is its own 0.1 s, not the leader crash's
    assert entries[0]["max_ack_stall_s"] == pytest.approx(0.1)
    assert entries[1]["election_gap_s"] == pytest.approx(7.0)
    assert entries[2]["unacked_batches"] == 0
