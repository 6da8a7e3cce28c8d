"""Recovery refuses a corrupt WAL (issue 11, defects 2 and 3) and keeps every byte.

A torn tail (the end of the newest segment, nothing valid after it) is the only
damage recovery may cut off; everything else raises CorruptDataError naming
file, offset and sequence range, and the directory is left exactly as it was.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from historian import FsyncPolicy, Historian, Options, PointBatch
from historian.errors import CorruptDataError
from historian.lsm import filenames
from historian.wal import WalCorruptError

S = 1_000_000_000
RECORD = 8 + 13 + 10 * 22  # one 10-point batch
SEAL = 8 + 13  # the clean-close record


def opts(**kw: object) -> Options:
    base: dict[str, object] = {
        "fsync": FsyncPolicy.always(),
        "memtable_bytes": 1 << 20,
        "background": False,
        "bucket_ns": 100 * S,
    }
    base.update(kw)
    return Options(**base)  # type: ignore[arg-type]


def write_100_points(root: str, **kw: object) -> None:
    """Ten 10-point batches, fsync=always, cleanly closed."""
    db = Historian.open(root, opts(**kw))
    for i in range(10):
        db.write(
            PointBatch.from_arrays(
                np.full(10, 1), (i * 10 + np.arange(10)) * S, np.arange(10, dtype=float)
            )
        )
    db.close()


def wal_files(root: str) -> list[str]:
    d = filenames.wal_dir(root)
    return [os.path.join(d, n) for n in sorted(os.listdir(d))]


def snapshot(root: str) -> dict[str, str]:
    """Relative path -> sha256 of every file except the lock file."""
    out = {}
    for base, _, names in os.walk(root):
        for n in names:
            p = os.path.join(base, n)
            if n != filenames.LOCK:
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def flip(path: str, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0x01]))


def test_flipped_byte_mid_wal_refuses_open_and_keeps_the_file(tmp_path: object) -> None:
    root = str(tmp_path)
    write_100_points(root)
    [wal] = wal_files(root)
    assert os.path.getsize(wal) == 16 + 10 * RECORD + SEAL == 2447
    offset = 16 + 2 * RECORD + 60  # inside record 3 (seq 3)
    flip(wal, offset)
    before = snapshot(root)
    with pytest.raises(CorruptDataError) as err:
        Historian.open(root, opts())
    msg = str(err.value)
    assert os.path.basename(wal) in msg
    assert f"offset {16 + 2 * RECORD}" in msg and "seq 3..3" in msg
    assert "twinbench historian repair" in msg
    assert os.path.getsize(wal) == 2447
    assert snapshot(root) == before
    damage = err.value.damage  # type: ignore[attr-defined]
    assert (damage.first_seq, damage.last_seq, damage.resume_offset) == (3, 3, 16 + 3 * RECORD)


def test_refusal_does_not_leave_the_directory_locked(tmp_path: object) -> None:
    root = str(tmp_path)
    write_100_points(root)
    [wal] = wal_files(root)
    flip(wal, 16 + 5 * RECORD + 100)
    for _ in range(2):  # the second attempt must fail on the data, not on the lock
        with pytest.raises(WalCorruptError):
            Historian.open(root, opts())


def test_damage_in_an_older_segment_refuses_open(tmp_path: object) -> None:
    root = str(tmp_path)
    write_100_points(root, wal_segment_bytes=3 * RECORD)
    segs = wal_files(root)
    assert len(segs) >= 3
    flip(segs[-2], 16 + RECORD - 1)  # the last byte of the older segment's last record
    before = snapshot(root)
    with pytest.raises(WalCorruptError, match=os.path.basename(segs[-2])):
        Historian.open(root, opts())
    assert snapshot(root) == before


def test_missing_oldest_unflushed_segment_refuses_open(tmp_path: object) -> None:
    root = str(tmp_path)
    write_100_points(root, wal_segment_bytes=3 * RECORD)
    segs = wal_files(root)
    os.remove(segs[0])  # seq 1..3 (30 points): nothing was ever flushed
    before = snapshot(root)
    with pytest.raises(CorruptDataError, match=r"missing.*seq 1\.\.3"):
        Historian.open(root, opts())
    assert snapshot(root) == before


def test_missing_middle_segment_refuses_open(tmp_path: object) -> None:
    root = str(tmp_path)
    write_100_points(root, wal_segment_bytes=3 * RECORD)
    segs = wal_files(root)
    os.remove(segs[1])
    with pytest.raises(CorruptDataError, match=r"missing.*seq 4\.\.6"):
        Historian.open(root, opts())


def test_missing_flushed_segment_is_fine(tmp_path: object) -> None:
    """Segments wholly <= flushed_seq are garbage awaiting deletion: no gap to complain about."""
    root = str(tmp_path)
    db = Historian.open(root, opts(wal_segment_bytes=3 * RECORD))
    for i in range(4):
        db.write(PointBatch.from_arrays([1] * 10, (i * 10 + np.arange(10)) * S, [0.0] * 10))
    db.flush()
    for i in range(4, 6):
        db.write(PointBatch.from_arrays([1] * 10, (i * 10 + np.arange(10)) * S, [0.0] * 10))
    db.close()
    db = Historian.open(root, opts())
    assert len(db.read(1, 0, 2**62)[0]) == 60
    db.close()


def test_torn_tail_of_newest_segment_is_cut_and_the_store_keeps_working(tmp_path: object) -> None:
    root = str(tmp_path)
    write_100_points(root)
    [wal] = wal_files(root)
    os.truncate(wal, 16 + 10 * RECORD - 5)  # a crash (no seal) while record 10 was appended
    db = Historian.open(root, opts())
    assert db.recovery_report["dropped_bytes"] == RECORD - 5
    assert len(db.read(1, 0, 2**62)[0]) == 90
    assert os.path.getsize(wal) == 16 + 9 * RECORD
    db.close()


def test_flip_in_last_record_of_a_cleanly_closed_wal_refuses(tmp_path: object) -> None:
    """The clean-close seal follows the record: its bytes were synced, so no torn tail."""
    root = str(tmp_path)
    write_100_points(root)
    [wal] = wal_files(root)
    flip(wal, 16 + 9 * RECORD + 30)
    with pytest.raises(WalCorruptError, match=r"seq 10\.\.10"):
        Historian.open(root, opts())
    assert os.path.getsize(wal) == 2447


def test_flip_in_last_record_after_a_crash_is_a_torn_tail(tmp_path: object) -> None:
    """Without the seal (a crash), nothing tells it from a torn append: cut and reported."""
    root = str(tmp_path)
    write_100_points(root)
    [wal] = wal_files(root)
    os.truncate(wal, 16 + 10 * RECORD)  # as if the process died before close()
    flip(wal, 16 + 9 * RECORD + 30)
    db = Historian.open(root, opts())
    assert db.recovery_report["reason"] == "record checksum mismatch"
    assert len(db.read(1, 0, 2**62)[0]) == 90
    db.close()
