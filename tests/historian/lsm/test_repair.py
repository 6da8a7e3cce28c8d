"""`twinbench historian repair`: salvage into a new directory, original untouched."""

from __future__ import annotations

import os

import numpy as np
import pytest
from typer.testing import CliRunner

from historian import FsyncPolicy, Historian, Options, PointBatch
from historian.cli import app
from historian.errors import CorruptDataError
from historian.lsm import filenames
from historian.lsm.inspect import verify
from historian.lsm.repair import RepairUsageError, repair

from .test_recovery import RECORD, flip, snapshot, wal_files, write_100_points

S = 1_000_000_000


def opts() -> Options:
    return Options(fsync=FsyncPolicy.always(), background=False, bucket_ns=100 * S)


def points(root: str, series: int = 1) -> list[int]:
    db = Historian.open(root, opts())
    try:
        return [int(t) // S for t in db.read(series, 0, 2**62)[0]]
    finally:
        db.close()


def test_repair_keeps_records_before_and_after_mid_wal_damage(tmp_path: object) -> None:
    src, out = os.path.join(str(tmp_path), "src"), os.path.join(str(tmp_path), "out")
    write_100_points(src)
    [wal] = wal_files(src)
    flip(wal, 16 + 2 * RECORD + 60)
    before = snapshot(src)
    rep = repair(src, out)
    assert snapshot(src) == before  # not one byte of the source changed
    [d] = rep.dropped
    assert (d.file, d.offset, d.what, d.points) == (wal, 16 + 2 * RECORD, "seq 3..3", 10)
    assert rep.wal_records == 9 and rep.wal_points == 90
    assert points(out) == [t for t in range(100) if not 20 <= t < 30]
    assert verify(out).ok
    with pytest.raises(CorruptDataError):  # the source still refuses, as it should
        Historian.open(src, opts())


def test_repair_salvages_intact_chunks_of_a_damaged_segment(tmp_path: object) -> None:
    src, out = os.path.join(str(tmp_path), "src"), os.path.join(str(tmp_path), "out")
    db = Historian.open(
        src, Options(fsync=FsyncPolicy.always(), chunk_max_points=50, bucket_ns=10**6 * S)
    )
    db.write(
        PointBatch.from_arrays(
            np.repeat([1, 2], 200), np.tile(np.arange(200) * S, 2), np.arange(400.0)
        )
    )
    db.flush()
    db.write(PointBatch.from_arrays([3], [7 * S], [7.0]))  # stays in the WAL
    db.close()
    [seg] = [n for n in os.listdir(src) if filenames.parse_segment_name(n)]
    flip(os.path.join(src, seg), 40)  # inside the first chunk (series 1, ts 0..49)
    before = snapshot(src)
    rep = repair(src, out)
    assert snapshot(src) == before
    [d] = rep.dropped
    assert (
        d.file == os.path.join(src, seg) and d.points == 50 and d.what == f"series 1 ts 0..{49 * S}"
    )
    assert rep.segments_rewritten == 1 and rep.segment_points == 350 and rep.wal_points == 1
    assert points(out, 1) == list(range(50, 200))
    assert points(out, 2) == list(range(200)) and points(out, 3) == [7]
    assert verify(out).ok


def test_repair_reports_a_missing_wal_segment(tmp_path: object) -> None:
    src, out = os.path.join(str(tmp_path), "src"), os.path.join(str(tmp_path), "out")
    write_100_points(src, wal_segment_bytes=3 * RECORD)
    os.remove(wal_files(src)[0])
    rep = repair(src, out)
    [d] = rep.dropped
    assert d.what == "seq 1..3" and "missing" in d.reason
    assert points(out) == list(range(30, 100))


def test_repair_of_a_corrupt_manifest_rebuilds_it_from_the_files(tmp_path: object) -> None:
    src, out = os.path.join(str(tmp_path), "src"), os.path.join(str(tmp_path), "out")
    db = Historian.open(src, opts())
    db.write(PointBatch.from_arrays([1] * 10, np.arange(10) * S, np.arange(10.0)))
    db.flush()
    db.write(PointBatch.from_arrays([1] * 10, (10 + np.arange(10)) * S, np.arange(10.0)))
    db.close()
    flip(os.path.join(src, filenames.MANIFEST), 30)
    rep = repair(src, out)
    assert [d.what for d in rep.dropped] == ["MANIFEST"] and rep.notes
    assert points(out) == list(range(20))


def test_repair_usage_errors(tmp_path: object) -> None:
    src, out = os.path.join(str(tmp_path), "src"), os.path.join(str(tmp_path), "out")
    os.makedirs(out)
    with pytest.raises(RepairUsageError, match="not a historian data directory"):
        repair(str(tmp_path), os.path.join(str(tmp_path), "x"))
    write_100_points(src)
    with pytest.raises(RepairUsageError, match="already exists"):
        repair(src, out)
    db = Historian.open(src, opts())
    try:
        with pytest.raises(RepairUsageError, match="another process"):
            repair(src, os.path.join(str(tmp_path), "y"))
    finally:
        db.close()


def test_repair_cli_prints_what_was_dropped_and_exit_codes(tmp_path: object) -> None:
    src, out = os.path.join(str(tmp_path), "src"), os.path.join(str(tmp_path), "out")
    write_100_points(src)
    [wal] = wal_files(src)
    flip(wal, 16 + 5 * RECORD + 30)
    runner = CliRunner()
    res = runner.invoke(app, ["repair", src, "--output", out])
    assert res.exit_code == 0, res.output
    assert f"dropped: {wal} at offset {16 + 5 * RECORD}: seq 6..6, 10 points" in res.output
    assert "9 WAL records (90 points)" in res.output and "was not changed" in res.output
    res = runner.invoke(app, ["repair", src, "--output", out])
    assert res.exit_code == 2 and "already exists" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["repair", str(tmp_path / "nope"), "--output", str(tmp_path / "o2")])  # type: ignore[operator]
    assert res.exit_code == 2 and "not a historian data directory" in res.output
