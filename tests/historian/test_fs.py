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
