"""The ledger must catch every kind of damage a pipeline can do to points, per phase."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.accounting import Ledger, LedgerError, read_back
from harness.load.synthetic import SyntheticSource
from historian.model import PointBatch

T0 = 1_767_225_600 * 1_000_000_000


def _run(
    n_batches: int = 20, size: int = 50, series: int = 7, acked: bool = True
) -> tuple[Ledger, list[PointBatch]]:
    src = SyntheticSource(np.arange(1, series + 1), seed=3, start_ns=T0)
    ledger = Ledger()
    batches = []
    for i in range(n_batches):
        b = src.batch(i * 1_000_000, size)
        ledger.record(i, b, "steady" if i < n_batches // 2 else "fault")
        if acked:
            ledger.mark_acked(i)
        batches.append(b)
    return ledger, batches


def _per_series(batch: PointBatch) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    s = batch.sorted()
    out = {}
    for sid in np.unique(s.series):
        m = s.series == sid
        out[int(sid)] = (s.ts[m].copy(), s.values[m].copy())
    return out


@pytest.mark.parametrize("force_lexsort", [False, True])
def test_a_perfect_read_back_is_clean(force_lexsort: bool) -> None:
    ledger, batches = _run()
    r = ledger.reconcile(_per_series(PointBatch.concat(batches)), force_lexsort=force_lexsort)
    assert r.clean and r.unexpected == 0
    assert r.total.produced == r.total.stored == r.total.acknowledged == 1_000
    assert r.phases["steady"].produced == r.phases["fault"].produced == 500


@pytest.mark.parametrize("force_lexsort", [False, True])
def test_dropped_duplicated_changed_and_reordered_points_are_each_caught(
    force_lexsort: bool,
) -> None:
    ledger, batches = _run()
    stored = _per_series(PointBatch.concat(batches))
    ts3, v3 = stored[3]
    stored[3] = (np.delete(ts3, [0, 5]), np.delete(v3, [0, 5]))  # 2 lost from the first half
    ts4, v4 = stored[4]
    stored[4] = (np.insert(ts4, 10, ts4[10]), np.insert(v4, 10, v4[10]))  # 1 duplicate
    ts5, v5 = stored[5]
    v5 = v5.copy()
    v5[-1] = np.nextafter(v5[-1], np.inf)  # a one-ulp change in the last (fault) point
    stored[5] = (ts5, v5)
    ts6, v6 = stored[6]
    ts6, v6 = ts6.copy(), v6.copy()
    ts6[[1, 2]], v6[[1, 2]] = ts6[[2, 1]], v6[[2, 1]]  # swapped: one backwards step
    stored[6] = (ts6, v6)

    r = ledger.reconcile(stored, force_lexsort=force_lexsort)
    assert not r.clean
    t = r.total
    assert (t.lost, t.duplicated, t.changed, t.reordered) == (2, 1, 1, 1)
    assert t.stored == 998 and t.unacked_missing == 0 and r.unexpected == 0
    assert r.phases["steady"].lost == 2 and r.phases["fault"].lost == 0
    assert r.phases["fault"].changed == 1
    assert r.lost_examples[0] == (3, int(ts3[0]))
    series, ts, expected, got = r.changed_examples[0]
    assert ts == int(ts5[-1])
    assert series == 5 and got == np.nextafter(expected, np.inf)


def test_missing_points_of_unacked_batches_are_not_losses() -> None:
    ledger, batches = _run(acked=False)
    for i in range(0, 20, 2):
        ledger.mark_acked(i)
    kept = PointBatch.concat([b for i, b in enumerate(batches) if i % 4 != 1])  # drop unacked ones
    r = ledger.reconcile(_per_series(kept))
    assert r.total.lost == 0
    assert r.total.unacked_missing == 5 * 50 and r.total.acknowledged == 500


def test_nan_matches_nan_but_signed_zero_does_not_match() -> None:
    ledger = Ledger()
    b = PointBatch.from_arrays([1, 1, 1], [10, 20, 30], [np.nan, 0.0, 1.5])
    ledger.record("b0", b, "steady")
    ledger.mark_acked("b0")
    other_nan = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), np.float64)[0]
    r = ledger.reconcile({1: (np.array([10, 20, 30]), np.array([other_nan, -0.0, 1.5]))})
    assert r.total.changed == 1 and r.changed_examples[0][1] == 20


def test_points_nobody_produced_are_unexpected() -> None:
    ledger, batches = _run(n_batches=2)
    stored = _per_series(PointBatch.concat(batches))
    ts, v = stored[1]
    stored[1] = (np.append(ts, ts[-1] + 1), np.append(v, 1.0))
    stored[99] = (np.array([T0]), np.array([2.0]))
    r = ledger.reconcile(stored)
    assert r.unexpected == 2 and r.total.stored == 100 and not r.clean


def test_ledger_misuse_is_reported() -> None:
    ledger, batches = _run(n_batches=1)
    with pytest.raises(LedgerError, match="twice"):
        ledger.record(0, batches[0], "steady")
    with pytest.raises(LedgerError, match="never recorded"):
        ledger.mark_acked(42)


def test_value_free_ledger_recomputes_values_from_the_source() -> None:
    src = SyntheticSource(np.arange(10), seed=9, start_ns=T0)
    ledger = Ledger(expected_values=src.expected_values)
    batches = [src.batch(i, 100) for i in range(5)]
    for i, b in enumerate(batches):
        ledger.record(i, b, "steady")
        ledger.mark_acked(i)
    all_points = PointBatch.concat(batches).sorted()
    values = all_points.values.copy()
    values[7] += 0.01
    r = ledger.reconcile(PointBatch.from_arrays(all_points.series, all_points.ts, values))
    assert r.total.changed == 1 and r.total.stored == 500


def test_read_back_uses_the_historian_read_signature() -> None:
    class FakeDb:  # stands in for historian.Historian.read's shape only
        def read(
            self, series: int, start_ns: int, end_ns: int
        ) -> tuple[list[int], list[float], list[int]]:
            return [start_ns + series], [float(series)], [0]

    out = read_back(FakeDb(), [1, 2], 100, 200)
    assert out[2][0].tolist() == [102] and out[2][1].tolist() == [2.0]


@settings(max_examples=40, deadline=None)
@given(
    drop=st.sets(st.integers(0, 299), max_size=20),
    dup=st.sets(st.integers(0, 299), max_size=20),
    force_lexsort=st.booleans(),
)
def test_counts_match_the_damage_done(drop: set[int], dup: set[int], force_lexsort: bool) -> None:
    ledger, batches = _run(n_batches=6, size=50, series=4)
    allp = PointBatch.concat(batches).sorted()
    keep = np.array([i for i in range(300) if i not in drop] + sorted(dup - drop), dtype=np.int64)
    damaged = allp.take(np.sort(keep, kind="stable"))
    r = ledger.reconcile(damaged, force_lexsort=force_lexsort)
    assert r.total.lost == len(drop)
    assert r.total.duplicated == len(dup - drop)
    assert r.total.reordered == 0 and r.total.changed == 0


@pytest.mark.slow
def test_one_million_points_reconcile_quickly() -> None:
    import time

    src = SyntheticSource(np.arange(1_000), seed=1, start_ns=T0)
    ledger = Ledger()
    batches = []
    for i in range(200):
        b = src.batch(i * 1_000_000, 5_000)
        ledger.record(i, b, "steady")
        ledger.mark_acked(i)
        batches.append(b)
    stored = PointBatch.concat(batches).sorted()
    t = time.perf_counter()
    r = ledger.reconcile(stored)
    assert time.perf_counter() - t < 5.0  # ~0.2 s measured; 10 M in benchmarks/bench_accounting.py
    assert r.clean and r.total.stored == 1_000_000


def test_empty_ledger_and_empty_read_back() -> None:
    r = Ledger().reconcile({})
    assert r.clean and r.total.produced == 0 and r.phases == {}
    ledger, _ = _run(n_batches=2)
    r = ledger.reconcile({})
    assert r.total.lost == 100 and r.total.stored == 0
    r = Ledger().reconcile({1: (np.array([5, 4]), np.array([1.0, 2.0]))})
    assert r.unexpected == 2 and r.total.reordered == 1
