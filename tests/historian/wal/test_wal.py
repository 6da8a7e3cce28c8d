"""WAL writer + reader on real files, with faults injected through historian.fs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from historian.errors import DiskFullError
from historian.fs import Faults, FaultyFileSystem, FileSystem
from historian.lsm.filenames import parse_wal_segment_name, wal_segment_name
from historian.model import PointBatch
from historian.options import FsyncPolicy
from historian.wal import WalCorruptError, WalReader, WalWriteError, WalWriter, list_segments

SEAL = 8 + 13


def batch(i: int, n: int = 50) -> PointBatch:
    rng = np.random.default_rng(i)
    return PointBatch.from_arrays(
        rng.integers(0, 100, n), np.arange(n) + i * 1000, rng.normal(size=n), np.full(n, i)
    )


def writer(
    fs: FileSystem, d: str, policy: str = "always", seg: int = 1 << 20, nxt: int = 1
) -> WalWriter:
    return WalWriter(fs, d, wal_segment_name, FsyncPolicy.parse(policy), seg, 1)


def replay(
    fs: FileSystem, d: str, after: int = 0
) -> tuple[list[tuple[int, PointBatch]], WalReader]:
    r = WalReader(fs, d, parse_wal_segment_name)
    return list(r.replay(after)), r


@pytest.mark.parametrize("policy", ["always", "interval_ms=2", "never"])
def test_round_trip_and_rotation(tmp_path: object, policy: str) -> None:
    d = str(tmp_path)
    fs = FileSystem()
    w = writer(fs, d, policy, seg=3000)
    seqs = [w.append(batch(i)) for i in range(20)]
    w.close()
    assert seqs == list(range(1, 21))
    assert len(list_segments(fs, d, parse_wal_segment_name)) > 3
    got, r = replay(fs, d)
    assert [s for s, _ in got] == seqs
    for s, b in got:
        ref = batch(s - 1)
        assert np.array_equal(b.ts, ref.ts) and np.array_equal(b.values, ref.values)
        assert np.array_equal(b.series, ref.series) and np.array_equal(b.quality, ref.quality)
    assert r.report.dropped_bytes == 0
    got, _ = replay(fs, d, after=15)
    assert [s for s, _ in got] == [16, 17, 18, 19, 20]


@pytest.mark.parametrize("cut", [1, 7, 8, 30, 200])
def test_torn_tail_is_dropped_and_reported(tmp_path: object, cut: int) -> None:
    d = str(tmp_path)
    fs = FileSystem()
    w = writer(fs, d)
    for i in range(5):
        w.append(batch(i))
    w.close()
    path = list_segments(fs, d, parse_wal_segment_name)[-1][1]
    size = os.path.getsize(path) - SEAL  # as after a crash: no clean-close seal
    os.truncate(path, size - cut)
    got, r = replay(fs, d)
    assert [s for s, _ in got] == [1, 2, 3, 4]
    record_len = 8 + 13 + 50 * 22
    assert r.report.dropped_bytes == record_len - cut
    assert r.report.valid_length == size - record_len


def test_bit_flip_mid_newest_segment_is_corruption_not_a_torn_tail(tmp_path: object) -> None:
    d = str(tmp_path)
    w = writer(FileSystem(), d)
    for i in range(5):
        w.append(batch(i))
    w.close()
    record_len = 8 + 13 + 50 * 22
    offset = 16 + 2 * record_len + 100  # inside record 3's columns; records 4, 5 are intact
    fs = FaultyFileSystem(Faults(flip_bits=[("wal-", offset)]))
    with pytest.raises(WalCorruptError, match=r"seq 3\.\.3") as err:
        replay(fs, d)
    assert err.value.damage is not None
    assert err.value.damage.offset == 16 + 2 * record_len
    assert err.value.damage.resume_offset == 16 + 3 * record_len
    salvager = WalReader(fs, d, parse_wal_segment_name)
    salvaged = list(salvager.replay(salvage=True))
    assert [s for s, _ in salvaged] == [1, 2, 4, 5]
    assert [(x.first_seq, x.last_seq) for x in salvager.report.damage] == [(3, 3)]


def test_bit_flip_in_last_record_of_newest_segment_is_a_torn_tail(tmp_path: object) -> None:
    d = str(tmp_path)
    w = writer(FileSystem(), d)
    for i in range(5):
        w.append(batch(i))
    w.close()
    path = list_segments(FileSystem(), d, parse_wal_segment_name)[-1][1]
    os.truncate(path, os.path.getsize(path) - SEAL)  # a crash: never sealed
    record_len = 8 + 13 + 50 * 22
    fs = FaultyFileSystem(Faults(flip_bits=[("wal-", 16 + 4 * record_len + 100)]))
    got, r = replay(fs, d)
    assert [s for s, _ in got] == [1, 2, 3, 4]
    assert r.report.reason == "record checksum mismatch"
    assert r.report.dropped_bytes == record_len
    assert r.report.torn_segment == path


def test_corruption_in_older_segment_raises(tmp_path: object) -> None:
    d = str(tmp_path)
    w = writer(FileSystem(), d, seg=2000)
    for i in range(6):
        w.append(batch(i))
    w.close()
    first = list_segments(FileSystem(), d, parse_wal_segment_name)[0][1]
    fs = FaultyFileSystem(Faults(flip_bits=[(os.path.basename(first), 40)]))
    with pytest.raises(WalCorruptError, match="checksum"):
        replay(fs, d)


def test_enospc_fails_write_and_recovers_when_space_returns(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    w = writer(fs, d)
    assert w.append(batch(0)) == 1
    fs.faults.disk_full = True
    with pytest.raises(DiskFullError):
        w.append(batch(1))
    fs.faults.disk_full = False
    assert w.append(batch(2)) == 2
    w.close()
    got, r = replay(fs, d)
    assert [s for s, _ in got] == [1, 2]
    assert np.array_equal(got[1][1].ts, batch(2).ts)
    assert r.report.dropped_bytes == 0


def test_short_write_is_rolled_back(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    w = writer(fs, d)
    w.append(batch(0))
    fs.faults.short_write_after = 100
    with pytest.raises(WalWriteError, match="short write"):
        w.append(batch(1))
    assert w.append(batch(2)) == 2
    w.close()
    got, r = replay(fs, d)
    assert [s for s, _ in got] == [1, 2] and r.report.dropped_bytes == 0


def test_fsync_failure_is_not_acknowledged_and_poisons(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    w = writer(fs, d, "always")
    w.append(batch(0))
    fs.faults.fsync_error = True
    with pytest.raises(WalWriteError, match="fsync"):
        w.append(batch(1))
    fs.faults.fsync_error = False
    with pytest.raises(WalWriteError, match="reopen"):
        w.append(batch(2))
    w.close()


def test_crash_drops_unsynced_records_only(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    w = writer(fs, d, "never")
    w.append(batch(0))
    w.sync()
    w.append(batch(1))  # handed to the OS, never fsynced
    fs.crash()
    got, r = replay(FileSystem(), d)
    assert [s for s, _ in got] == [1]
    assert r.report.dropped_bytes == 0  # the whole unsynced record vanished


def test_group_commit_shares_fsyncs(tmp_path: object) -> None:
    import threading

    d = str(tmp_path)
    fs = FileSystem()
    w = writer(fs, d, "always")
    seqs: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        for i in range(30):
            s = w.append(batch(i, 10))
            with lock:
                seqs.append(s)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.synced_seq == 120
    w.close()
    assert sorted(seqs) == list(range(1, 121))
    got, _ = replay(fs, d)
    assert [s for s, _ in got] == list(range(1, 121))


def test_clean_close_seals_the_segment(tmp_path: object) -> None:
    d = str(tmp_path)
    w = writer(FileSystem(), d)
    for i in range(3):
        w.append(batch(i))
    w.close()
    path = list_segments(FileSystem(), d, parse_wal_segment_name)[-1][1]
    record_len = 8 + 13 + 50 * 22
    assert os.path.getsize(path) == 16 + 3 * record_len + SEAL
    got, r = replay(FileSystem(), d)
    assert [s for s, _ in got] == [1, 2, 3] and r.report.dropped_bytes == 0
    # damage in the last record is now corruption: the seal after it was fsynced
    fs = FaultyFileSystem(Faults(flip_bits=[("wal-", 16 + 2 * record_len + 100)]))
    with pytest.raises(WalCorruptError, match=r"seq 3\.\.3"):
        replay(fs, d)
    # a damaged seal itself is a torn tail: every record is still there
    fs = FaultyFileSystem(Faults(flip_bits=[("wal-", 16 + 3 * record_len + 10)]))
    got, r = replay(fs, d)
    assert [s for s, _ in got] == [1, 2, 3] and r.report.dropped_bytes == SEAL


def test_seal_is_skipped_when_disk_is_full_at_close(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    w = writer(fs, d)
    w.append(batch(0))
    fs.faults.disk_full = True
    w.close()  # no seal, no error: the record was fsynced already
    got, r = replay(FileSystem(), d)
    assert [s for s, _ in got] == [1] and r.report.dropped_bytes == 0
