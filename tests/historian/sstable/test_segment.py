"""SegmentWriter / SegmentReader round trips and corruption detection on real files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from historian.fs import Faults, FaultyFileSystem, FileSystem
from historian.model import PointBatch
from historian.sstable import SegmentCorruptError, SegmentReader, SegmentWriter
from historian.sstable.format import FOOTER, INDEX_DTYPE


def make(path: str, n_series: int = 30, n: int = 1000, chunk: int = 128) -> PointBatch:
    rng = np.random.default_rng(1)
    series = np.repeat(np.arange(n_series, dtype=np.uint32) * 3, n)
    ts = np.tile(np.arange(n, dtype=np.int64) * 1_000_000_000, n_series) + 5
    values = np.round(rng.normal(size=len(ts)) * 100) / 10
    quality = (rng.integers(0, 3, len(ts)) << 14).astype(np.uint16)
    batch = PointBatch(series, ts, values, quality, True)
    w = SegmentWriter(FileSystem(), path, "pco", chunk)
    w.add_batch(batch)
    info = w.finish()
    assert info.points == len(ts) and info.series_count == n_series
    assert info.file_bytes == os.path.getsize(path)
    return batch


def test_round_trip_ranges_and_last(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "a.tbs")
    batch = make(path)
    r = SegmentReader(FileSystem(), path)
    assert r.points == len(batch) and r.series_ids().tolist() == list(range(0, 90, 3))
    ts, v, q = r.read(6, 10_000_000_005, 500_000_000_005)
    sel = (batch.series == 6) & (batch.ts >= 10_000_000_005) & (batch.ts < 500_000_000_005)
    assert np.array_equal(ts, batch.ts[sel]) and np.array_equal(v, batch.values[sel])
    assert np.array_equal(q, batch.quality[sel])
    assert len(r.read(7, 0, 2**62)[0]) == 0  # absent series
    assert len(r.read(6, 2**61, 2**62)[0]) == 0
    assert r.last(87) == (int(batch.ts[-1]), float(batch.values[-1]), int(batch.quality[-1]))
    full = r.read_all()
    assert np.array_equal(full.ts, batch.ts) and np.array_equal(full.series, batch.series)
    assert r.verify() == []


def test_bit_flip_in_chunk_fails_reads_of_that_chunk_only(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "a.tbs")
    make(path)
    idx = SegmentReader(FileSystem(), path).index
    victim = idx[idx["series"] == 9][2]
    fs = FaultyFileSystem(Faults(flip_bits=[("a.tbs", int(victim["offset"]) + 5)]))
    r = SegmentReader(fs, path)
    with pytest.raises(SegmentCorruptError, match=f"series 9 at offset {int(victim['offset'])}"):
        r.read(9, 0, 2**62)
    assert len(r.read(12, 0, 2**62)[0]) == 1000
    problems = r.verify()
    assert len(problems) == 1 and problems[0].offset == int(victim["offset"])


@pytest.mark.parametrize("where", ["index", "footer", "header"])
def test_bit_flip_in_metadata_fails_open(tmp_path: object, where: str) -> None:
    path = os.path.join(str(tmp_path), "a.tbs")
    make(path)
    size = os.path.getsize(path)
    offset = {"header": 2, "footer": size - FOOTER.size + 3, "index": size - FOOTER.size - 7}
    fs = FaultyFileSystem(Faults(flip_bits=[("a.tbs", offset[where])]))
    with pytest.raises(SegmentCorruptError):
        SegmentReader(fs, path)


def test_truncated_file_fails_open(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "a.tbs")
    make(path)
    os.truncate(path, os.path.getsize(path) - INDEX_DTYPE.itemsize)
    with pytest.raises(SegmentCorruptError):
        SegmentReader(FileSystem(), path)


def test_series_must_ascend(tmp_path: object) -> None:
    w = SegmentWriter(FileSystem(), os.path.join(str(tmp_path), "b.tbs"))
    one = np.array([1], np.int64)
    w.add(5, one, np.array([1.0]), np.zeros(1, np.uint16))
    with pytest.raises(ValueError, match="ascending"):
        w.add(5, one, np.array([1.0]), np.zeros(1, np.uint16))
    w.abandon()


def test_sstable_never_imports_lsm() -> None:
    import pathlib

    root = pathlib.Path(__file__).parents[3] / "historian" / "sstable"
    for f in root.glob("*.py"):
        text = f.read_text()
        assert "import historian.lsm" not in text and "from historian.lsm" not in text, f
