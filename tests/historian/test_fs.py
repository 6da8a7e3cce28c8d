"""The fault-injecting file system models what fsync protects."""

from __future__ import annotations

import os

import pytest

from historian.errors import DiskFullError
from historian.fs import Faults, FaultyFileSystem, SimulatedCrash


def read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def test_crash_keeps_only_synced_bytes_and_synced_names(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    a = fs.create(os.path.join(d, "a"))
    a.append(b"durable")
    a.sync()
    fs.sync_dir(d)
    a.append(b"-lost")
    b = fs.create(os.path.join(d, "b"))  # directory entry never synced
    b.append(b"x")
    b.sync()
    fs.crash()
    assert read(os.path.join(d, "a")) == b"durable"
    assert not os.path.exists(os.path.join(d, "b"))


def test_unsynced_rename_is_undone(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    for name, body in (("M", b"old"), ("M.tmp", b"new")):
        f = fs.create(os.path.join(d, name))
        f.append(body)
        f.sync()
    fs.sync_dir(d)
    fs.rename(os.path.join(d, "M.tmp"), os.path.join(d, "M"))
    fs.crash()
    assert read(os.path.join(d, "M")) == b"old"


def test_crash_point_raises_after_n_hits(tmp_path: object) -> None:
    fs = FaultyFileSystem(Faults(crash_at="p", crash_after_hits=2))
    fs.crash_point("p")
    fs.crash_point("other")
    with pytest.raises(SimulatedCrash):
        fs.crash_point("p")


def test_disk_full_and_bit_flip(tmp_path: object) -> None:
    d = str(tmp_path)
    path = os.path.join(d, "f")
    fs = FaultyFileSystem(Faults(disk_full=True))
    with pytest.raises(DiskFullError):
        fs.create(path)
    fs.faults.disk_full = False
    f = fs.create(path)
    f.append(b"\x00\x00")
    f.close()
    fs.faults.flip_bits = [("f", 1)]
    assert bytes(fs.mmap(path)) == b"\x00\x01"
    assert fs.read_bytes(path) == b"\x00\x01"


def test_write_atomic_replaces_file_durably(tmp_path: object) -> None:
    d = str(tmp_path)
    path = os.path.join(d, "state.json")
    fs = FaultyFileSystem()
    fs.write_atomic(path, b"one")
    fs.write_atomic(path, b"two")
    fs.crash()
    assert read(path) == b"two"
    assert not os.path.exists(path + ".tmp")


@pytest.mark.parametrize(
    ("point", "expected"),
    [("state.json.before_rename", b"one"), ("state.json.before_dir_sync", b"one")],
)
def test_write_atomic_crash_leaves_old_or_new(
    tmp_path: object, point: str, expected: bytes
) -> None:
    d = str(tmp_path)
    path = os.path.join(d, "state.json")
    fs = FaultyFileSystem()
    fs.write_atomic(path, b"one")
    fs.faults.crash_at = point
    with pytest.raises(SimulatedCrash):
        fs.write_atomic(path, b"two")
    assert read(path) == expected


def test_write_atomic_faults_leave_old_file_and_no_tmp(tmp_path: object) -> None:
    d = str(tmp_path)
    path = os.path.join(d, "state.json")
    fs = FaultyFileSystem()
    fs.write_atomic(path, b"one")
    fs.faults.fsync_error = True
    with pytest.raises(OSError):
        fs.write_atomic(path, b"two")
    fs.faults.fsync_error = False
    fs.faults.disk_full = True
    with pytest.raises(DiskFullError):
        fs.write_atomic(path, b"three")
    assert read(path) == b"one"
    assert not os.path.exists(path + ".tmp")


def durable_file(fs: FaultyFileSystem, path: str, body: bytes) -> None:
    f = fs.create(path)
    f.append(body)
    f.sync()
    f.close()
    fs.sync_dir(os.path.dirname(path))


def test_remove_is_undone_without_a_directory_fsync(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    path = os.path.join(d, "seg")
    durable_file(fs, path, b"segment")
    fs.remove(path)
    assert fs.pending_ops() == [f"remove {path}"]
    fs.crash()
    assert read(path) == b"segment"
    fs2 = FaultyFileSystem()
    fs2.remove(path)
    fs2.sync_dir(d)
    fs2.crash()
    assert not os.path.exists(path)


def test_truncate_is_undone_unless_the_file_or_directory_is_fsynced(tmp_path: object) -> None:
    d = str(tmp_path)
    path = os.path.join(d, "wal")
    fs = FaultyFileSystem()
    durable_file(fs, path, b"good-garbage")
    fs.truncate(path, 4)
    fs.crash()
    assert read(path) == b"good-garbage"
    fs = FaultyFileSystem()
    fs.truncate(path, 4)
    f = fs.open_append(path)
    f.sync()
    f.close()
    fs.crash()
    assert read(path) == b"good"


def test_rename_undo_puts_the_source_back(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    src, dst = os.path.join(d, "a.tmp"), os.path.join(d, "a")
    durable_file(fs, src, b"new")
    fs.rename(src, dst)
    fs.crash()
    assert read(src) == b"new" and not os.path.exists(dst)


def test_directory_fsync_covers_only_its_own_entries(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    sub = os.path.join(d, "wal")
    fs.makedirs(sub)  # durable: makedirs fsyncs the parent
    f = fs.create(os.path.join(sub, "w1"))
    f.append(b"x")
    f.sync()
    fs.sync_dir(d)  # the parent, not wal/: w1's name is still volatile
    fs.crash()
    assert os.path.isdir(sub) and not os.path.exists(os.path.join(sub, "w1"))


def test_unsynced_directory_loses_everything_in_it(tmp_path: object) -> None:
    d = str(tmp_path)
    fs = FaultyFileSystem()
    sub = os.path.join(d, "new")
    os.mkdir(sub)
    fs._made_dir(sub)  # as if made by a makedirs that forgot the parent fsync
    durable_file(fs, os.path.join(sub, "f"), b"synced")
    fs.crash()
    assert not os.path.exists(sub)


def test_torn_writes_keep_a_prefix_of_unsynced_bytes(tmp_path: object) -> None:
    d = str(tmp_path)
    kept = set()
    for seed in range(20):
        path = os.path.join(d, f"f{seed}")
        fs = FaultyFileSystem(Faults(torn_writes=True, seed=seed))
        durable_file(fs, path, b"sync")
        f = fs.open_append(path)
        f.append(b"0123456789")
        fs.crash()
        body = read(path)
        assert body == (b"sync" + b"0123456789")[: len(body)] and len(body) >= 4
        kept.add(len(body))
    assert len(kept) > 3


def test_cross_directory_rename_needs_both_directories_fsynced(tmp_path: object) -> None:
    d = str(tmp_path)
    q = os.path.join(d, "quarantine")
    fs = FaultyFileSystem()
    fs.makedirs(q)
    src, dst = os.path.join(d, "bad"), os.path.join(q, "bad")
    durable_file(fs, src, b"evidence")
    fs.rename(src, dst)
    fs.sync_dir(q)
    assert fs.pending_ops() == [f"rename {dst}"]  # the source directory still says "bad"
    fs.sync_dir(d)
    fs.crash()
    assert read(dst) == b"evidence" and not os.path.exists(src)
