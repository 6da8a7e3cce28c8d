"""Property: a cold part read back through ColdPartSource is exactly the points written.

The part is really encoded (Parquet raw + rollups, tiny row groups so that
row-group pruning spans several groups) and read through the real source with
its ranged reads; only the object store is an in-memory dict here (the S3 path
is covered by the moto tests), so Hypothesis can run many examples.
"""

from __future__ import annotations

import builtins

import crc32c
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from historian.tier.coldcat import ColdPart, ObjectInfo
from historian.tier.parts import encode_raw, encode_rollups, level_ns, rollup_rows
from historian.tier.source import ColdPartSource, PartCache
from tests.strategies import float_arrays, quality_arrays


class DictStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        data = self.objects[key]
        return data if start is None else data[start:end]

    def size(self, key: str) -> int | None:
        return len(self.objects[key]) if key in self.objects else None

    def list(self, prefix: str) -> builtins.list[tuple[str, int]]:
        return [(k, len(v)) for k, v in self.objects.items() if k.startswith(prefix)]

    def delete(self, keys: builtins.list[str]) -> None:
        for k in keys:
            self.objects.pop(k, None)


@st.composite
def parts(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    values = draw(float_arrays(max_size=400))
    n = len(values)
    series = np.sort(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))).astype(np.uint32)
    gaps = draw(st.lists(st.integers(1, 90 * 10**9), min_size=n, max_size=n))
    ts = np.empty(n, np.int64)
    for sid in np.unique(series):  # strictly increasing per series
        idx = np.flatnonzero(series == sid)
        ts[idx] = 10**18 + np.cumsum(np.asarray(gaps, np.int64)[idx])
    return series, ts, values, draw(quality_arrays(n))


@settings(max_examples=60, deadline=None)
@given(parts(), st.integers(0, 2**40), st.integers(1, 2**42))
def test_cold_source_answers_equal_the_points(
    p: tuple[np.ndarray, ...], offset: int, width: int
) -> None:
    s, t, v, q = p
    assume(len(t) > 0)
    store = DictStore()
    blobs = {"raw": encode_raw(s, t, v, q, row_group_rows=16, zstd_level=3)}
    for lv in ("1m", "1h", "1d"):
        blobs[lv] = encode_rollups(rollup_rows(s, t, v, q, level_ns(lv)))
    objects = {}
    for k, b in blobs.items():
        store.put(k, b)
        objects[k] = ObjectInfo(k, len(b), crc32c.crc32c(b))
    part = ColdPart(
        1, "x", 0, objects, int(s.min()), int(s.max()), int(t.min()), int(t.max()), len(t), ()
    )
    src = ColdPartSource(store, part, PartCache(1 << 24))
    start = int(t.min()) + offset - 2**39
    end = start + width
    for sid in range(0, 6):
        m = s == sid
        want = m & (t >= start) & (t < end)
        ts, vals, qual = src.read(sid, start, end)
        np.testing.assert_array_equal(ts, t[want])
        np.testing.assert_array_equal(vals.view(np.uint64), v[want].view(np.uint64))  # NaN bits too
        np.testing.assert_array_equal(qual, q[want])
        before = t[m & (t <= start)]
        got = src.at_or_before(sid, start)
        assert (got.ts if got else None) == (int(before[-1]) if len(before) else None)
        after = t[m & (t >= start)]
        got = src.at_or_after(sid, start)
        assert (got.ts if got else None) == (int(after[0]) if len(after) else None)
        rows = src.chunk_stats(sid, start, end)
        # rows meet the range, are time-ordered, and cover every point of the range
        assert np.all(rows["min_ts"] <= end - 1) and np.all(rows["max_ts"] >= start)
        assert np.all(rows["min_ts"][1:] > rows["max_ts"][:-1])
        covered = np.zeros(len(t), bool)
        for a, b in zip(rows["min_ts"], rows["max_ts"], strict=True):
            covered |= m & (t >= a) & (t <= b)
        assert np.all(covered[want])
        assert int(rows["count"].sum()) == int(covered.sum())
