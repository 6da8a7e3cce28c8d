"""Compaction under faults: ENOSPC, EIO, a crash mid-merge, and a corrupt input segment."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from historian import FsyncPolicy, Historian, Options, PointBatch
from historian.errors import DiskFullError
from historian.fs import Faults, FaultyFileSystem, FileSystem, SimulatedCrash
from historian.lsm import filenames
from historian.lsm.inspect import verify
from historian.lsm.quarantine import QUARANTINE_DIR

S = 1_000_000_000


def opts(**kw: object) -> Options:
    base: dict[str, object] = {
        "fsync": FsyncPolicy.always(),
        "background": False,
        "bucket_ns": 10**6 * S,
        "chunk_max_points": 50,
        "l0_compaction_trigger": 100,  # compaction only when asked (or when a test lowers it)
    }
    base.update(kw)
    return Options(**base)  # type: ignore[arg-type]


def two_l0_files(root: str, fs: FileSystem | None = None) -> None:
    """Series 1 and 2, 200 points each, in two L0 files (second overwrites ts 100..199 of s1)."""
    db = Historian.open(root, opts(), fs)
    db.write(
        PointBatch.from_arrays(
            np.repeat([1, 2], 200), np.tile(np.arange(200) * S, 2), np.arange(400.0)
        )
    )
    db.flush()
    db.write(PointBatch.from_arrays([1] * 100, (100 + np.arange(100)) * S, np.full(100, -1.0)))
    db.flush()
    db.close()


def expected_s1() -> list[float]:
    return [float(v) for v in range(100)] + [-1.0] * 100


def read(db: Historian, series: int) -> tuple[list[int], list[float]]:
    ts, v, _ = db.read(series, 0, 2**62)
    return [int(t) // S for t in ts], v.tolist()


def segment_files(root: str) -> list[str]:
    return sorted(n for n in os.listdir(root) if filenames.parse_segment_name(n) is not None)


@pytest.mark.parametrize("fault", ["disk_full", "fsync_error"])
def test_compaction_fault_leaves_inputs_live_and_retries_cleanly(
    tmp_path: object, fault: str
) -> None:
    root = str(tmp_path)
    two_l0_files(root)
    fs = FaultyFileSystem()
    db = Historian.open(root, opts(), fs)
    before = segment_files(root)
    fs.faults.path_contains = ".tbs"
    setattr(fs.faults, fault, True)
    with pytest.raises(DiskFullError if fault == "disk_full" else OSError):
        db.compact()
    assert segment_files(root) == before  # partial outputs abandoned, inputs untouched
    assert read(db, 1)[1] == expected_s1()
    setattr(fs.faults, fault, False)
    db.compact()
    assert db.stats().levels[0].files == 0 and read(db, 1)[1] == expected_s1()
    db.close()
    db = Historian.open(root, opts())
    assert read(db, 1)[1] == expected_s1() and len(read(db, 2)[0]) == 200
    db.close()


@pytest.mark.parametrize("point", ["compaction.after_segment", "compaction.after_manifest"])
def test_crash_mid_merge_loses_nothing_and_leaves_no_orphans(tmp_path: object, point: str) -> None:
    root = str(tmp_path)
    two_l0_files(root)
    fs = FaultyFileSystem(Faults(crash_at=point))
    db = Historian.open(root, opts(), fs)
    with pytest.raises(SimulatedCrash):
        db.compact()
    fs.unlock(db._lock_fd)  # the "process" died holding the lock
    db = Historian.open(root, opts())
    assert read(db, 1)[1] == expected_s1() and len(read(db, 2)[0]) == 200
    live = {filenames.segment_name(f.number) for f in db._version.files}
    assert set(segment_files(root)) == live  # orphans of the interrupted merge are gone
    db.compact()
    assert read(db, 1)[1] == expected_s1()
    db.close()


def flip(path: str, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0x01]))


def test_corrupt_input_is_quarantined_salvaged_and_reported(tmp_path: object) -> None:
    root = str(tmp_path)
    two_l0_files(root)
    first = os.path.join(root, segment_files(root)[0])
    flip(first, 40)  # first chunk of series 1 (ts 0..49) in the older file
    with open(first, "rb") as fh:
        damaged = fh.read()
    db = Historian.open(root, opts())
    db.compact()  # does not raise: the damaged file is set aside, the rest is merged
    copy = os.path.join(root, QUARANTINE_DIR, os.path.basename(first))
    with open(copy, "rb") as fh:
        assert fh.read() == damaged  # every byte kept
    with open(copy + ".json") as fh:
        note = json.load(fh)
    assert note["points_listed"] == 400 and note["points_salvaged"] == 350
    ts, v = read(db, 1)
    assert ts == list(range(50, 200)) and v == expected_s1()[50:]
    assert len(read(db, 2)[0]) == 200
    st = db.stats()
    assert st.levels[0].files == 0 and st.compaction_error == ""
    [line] = st.quarantined
    assert os.path.basename(first) in line and "50 of 400 points" in line
    db.close()
    rep = verify(root)
    assert rep.ok, rep.problems
    assert any("quarantined segment" in w and os.path.basename(first) in w for w in rep.warnings)


def test_unreadable_input_is_quarantined_whole(tmp_path: object) -> None:
    root = str(tmp_path)
    two_l0_files(root)
    second = os.path.join(root, segment_files(root)[1])
    os.truncate(second, os.path.getsize(second) - 3)  # footer gone: nothing salvageable
    db = Historian.open(root, opts())
    db.compact()
    assert not os.path.exists(second)  # dropped from the live set...
    assert os.path.exists(os.path.join(root, QUARANTINE_DIR, os.path.basename(second)))  # ...kept
    assert read(db, 1)[1] == [float(v) for v in range(200)]  # the overwrite was in that file
    [line] = db.stats().quarantined
    assert "100 of 100 points" in line
    db.close()


@pytest.mark.slow
def test_background_compaction_backs_off_and_reports_its_error(tmp_path: object) -> None:
    root = str(tmp_path)
    two_l0_files(root)
    fs = FaultyFileSystem(Faults(disk_full=True, path_contains=".tbs"))
    db = Historian.open(root, opts(background=True, l0_compaction_trigger=2), fs)
    try:
        deadline = time.monotonic() + 30
        while db.compaction_failures == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        n0 = db.compaction_failures
        time.sleep(6.0)  # a fixed 0.7 s retry period makes ~8 attempts here; backoff ~4
        assert db.compaction_failures - n0 <= 5, db.compaction_failures - n0
        assert "no space left" in db.stats().compaction_error
        assert db.stats().compaction_failures >= 1
        fs.faults.disk_full = False
        deadline = time.monotonic() + 60
        # the merge is published before the error is cleared: wait for both (read between
        # the two, the error was still there under load)
        while time.monotonic() < deadline:
            st = db.stats()
            if st.levels[0].files == 0 and st.compaction_error == "":
                break
            time.sleep(0.1)
        assert db.stats().levels[0].files == 0, "compaction did not resume after space came back"
        assert db.stats().compaction_error == ""
    finally:
        db.close()
