"""Per-chunk stats in segment files (format v2): equal to the stats of the decoded chunks,
version-1 files still read, damaged stats blocks refused."""

from __future__ import annotations

import math
import os
import struct

import crc32c
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.fs import FileSystem
from historian.sstable import SegmentCorruptError, SegmentReader, SegmentWriter
from historian.sstable.format import FOOTER, FOOTER_V2, HEADER, HEADER_MAGIC, INDEX_DTYPE

Arrays = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]


def reference(ts: list[int], v: list[float], q: list[int]) -> dict[str, float]:
    """The stats of one chunk, computed point by point (the definition in segment.md)."""
    usable = [(qq >> 14) < 2 and math.isfinite(x) for x, qq in zip(v, q, strict=True)]
    vals = [x for x, u in zip(v, usable, strict=True) if u]
    out: dict[str, float] = {
        "count": len(ts),
        "n": len(vals),
        "good_count": sum(1 for qq in q if qq >> 14 == 0),
        "bad_count": sum(1 for qq in q if qq >> 14 >= 2),
        "first_value": v[0],
        "last_value": v[-1],
        "first_quality": q[0],
        "last_quality": q[-1],
        "sum": sum(vals),
        "tw_step": 0.0,
        "tw_linear": 0.0,
        "dur_step": 0,
        "dur_linear": 0,
        "good_duration": 0,
        "bad_duration": 0,
    }
    if vals:
        out["min"], out["max"] = min(vals), max(vals)
        out["min_at"] = next(
            t for t, x, u in zip(ts, v, usable, strict=True) if u and x == out["min"]
        )
        out["max_at"] = next(
            t for t, x, u in zip(ts, v, usable, strict=True) if u and x == out["max"]
        )
        mean = sum(vals) / len(vals)
        out["m2"] = sum((x - mean) ** 2 for x in vals)
    for i in range(len(ts) - 1):
        dt = ts[i + 1] - ts[i]
        if usable[i]:
            out["tw_step"] += v[i] * dt
            out["dur_step"] += dt
        if usable[i] and usable[i + 1]:
            out["tw_linear"] += (v[i] + v[i + 1]) / 2 * dt
            out["dur_linear"] += dt
        if q[i] >> 14 == 0:
            out["good_duration"] += dt
        if q[i] >> 14 >= 2:
            out["bad_duration"] += dt
    return out


@st.composite
def series_points(draw: st.DrawFn) -> Arrays:
    n = draw(st.integers(1, 200))
    gaps = draw(st.lists(st.integers(1, 10**10), min_size=n, max_size=n))
    ts = np.cumsum(np.array(gaps, np.int64)) - 10**9 * draw(st.integers(0, 10**6))
    special = st.sampled_from([math.nan, math.inf, -math.inf])
    v = draw(
        st.lists(
            st.one_of(st.floats(-1e6, 1e6), st.integers(-5, 5).map(float), special),
            min_size=n,
            max_size=n,
        )
    )
    q = draw(
        st.lists(
            st.sampled_from([0, 0x0096, 0x4000, 0x4095, 0x8000, 0x808C, 0xC000]),
            min_size=n,
            max_size=n,
        )
    )
    return ts, np.array(v), np.array(q, np.uint16)


@settings(max_examples=60, deadline=None)
@given(points=series_points(), chunk=st.integers(1, 64))
def test_stats_equal_those_of_the_decoded_chunks(
    tmp_path_factory: pytest.TempPathFactory, points: Arrays, chunk: int
) -> None:
    ts, v, q = points
    path = os.path.join(str(tmp_path_factory.mktemp("s")), "s.tbs")
    w = SegmentWriter(FileSystem(), path, "pco", chunk, stats_min_points=1)
    w.add(3, ts, v, q)
    w.finish()
    r = SegmentReader(FileSystem(), path)
    rows = r.chunk_stats(3, -(2**63), 2**63 - 1)
    assert len(rows) == len(r.index) and rows["has_stats"].all()
    for row, (_, (cts, cv, cq)) in zip(rows, r.scan(), strict=True):
        assert int(row["min_ts"]) == int(cts[0]) and int(row["max_ts"]) == int(cts[-1])
        want = reference(cts.tolist(), cv.tolist(), cq.tolist())
        for name, expected in want.items():
            got = row[name].item()
            scale = max(1.0, abs(float(expected)))
            assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9 * scale) or (
                math.isnan(got) and math.isnan(expected)
            ), (name, got, expected)
        if want["n"] == 0:
            assert math.isnan(row["min"]) and math.isnan(row["max"])


def test_small_chunks_carry_no_stats(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "s.tbs")
    w = SegmentWriter(FileSystem(), path, "pco", 4096)  # default threshold: 1,024 points
    w.add(1, np.arange(100, dtype=np.int64), np.ones(100), np.zeros(100, np.uint16))
    w.add(2, np.arange(5200, dtype=np.int64), np.ones(5200), np.zeros(5200, np.uint16))
    w.add(3, np.arange(5000, dtype=np.int64), np.ones(5000), np.zeros(5000, np.uint16))
    w.finish()
    r = SegmentReader(FileSystem(), path)
    assert r.footer.version == 2 and r.footer.stats_entries == 3
    assert not r.chunk_stats(1, 0, 10**6)["has_stats"].any()
    assert r.chunk_stats(2, 0, 10**6)["has_stats"].tolist() == [True, True]  # 4096 + 1104
    assert r.chunk_stats(3, 0, 10**6)["has_stats"].tolist() == [True, False]  # 4096 + 904
    assert r.chunk_stats(3, 0, 10**6)["count"].tolist() == [4096, 904]


def downgrade_to_v1(path: str) -> None:
    """Rewrite a v2 file as the version-1 layout: no stats block, 64-byte footer."""
    with open(path, "rb") as fh:
        data = fh.read()
    f = FOOTER_V2.unpack_from(data, len(data) - FOOTER_V2.size)
    index_offset, entries = f[0], f[1]
    index_end = index_offset + entries * INDEX_DTYPE.itemsize
    head = FOOTER.pack(*f[:7], 1, f[8], 0, b"TBSEGEND")[:52]
    footer = head + struct.pack("<I", crc32c.crc32c(head)) + b"TBSEGEND"
    body = HEADER.pack(HEADER_MAGIC, 1) + data[HEADER.size : index_end]
    with open(path, "wb") as fh:
        fh.write(body + footer)


def test_version_1_files_still_read_without_stats(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "s.tbs")
    ts = np.arange(3000, dtype=np.int64) * 10
    v = np.sin(np.arange(3000.0))
    w = SegmentWriter(FileSystem(), path, "pco", 1024, stats_min_points=1)
    w.add(4, ts, v, np.zeros(3000, np.uint16))
    w.finish()
    v2 = SegmentReader(FileSystem(), path)
    assert v2.chunk_stats(4, 0, 10**9)["has_stats"].all()
    downgrade_to_v1(path)
    r = SegmentReader(FileSystem(), path)
    assert r.footer.version == 1 and r.footer.stats_entries == 0
    rts, rv, _ = r.read(4, 0, 10**9)
    assert np.array_equal(rts, ts) and np.array_equal(rv, v)
    rows = r.chunk_stats(4, 0, 10**9)
    assert len(rows) == 3 and not rows["has_stats"].any()
    assert rows["count"].tolist() == [1024, 1024, 952]
    assert r.at_or_before(4, 15) is not None and r.at_or_before(4, 15).ts == 10  # type: ignore[union-attr]
    assert r.verify() == []


def test_damaged_stats_block_is_refused(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "s.tbs")
    w = SegmentWriter(FileSystem(), path, "pco", 4096)
    w.add(1, np.arange(2000, dtype=np.int64), np.ones(2000), np.zeros(2000, np.uint16))
    w.finish()
    f = SegmentReader(FileSystem(), path).footer
    with open(path, "r+b") as fh:
        fh.seek(f.stats_offset + 50)
        byte = fh.read(1)
        fh.seek(f.stats_offset + 50)
        fh.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(SegmentCorruptError, match="stats checksum mismatch"):
        SegmentReader(FileSystem(), path)


def test_unknown_version_is_refused_by_name(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "s.tbs")
    w = SegmentWriter(FileSystem(), path)
    w.add(1, np.arange(3, dtype=np.int64), np.ones(3), np.zeros(3, np.uint16))
    w.finish()
    with open(path, "r+b") as fh:
        fh.seek(6)
        fh.write(struct.pack("<H", 9))
    with pytest.raises(SegmentCorruptError, match="version 9 is not readable"):
        SegmentReader(FileSystem(), path)
