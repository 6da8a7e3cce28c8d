"""Manifest: round trip, checksum, and atomic replacement under a crash."""

from __future__ import annotations

import os

import pytest

from historian.fs import Faults, FaultyFileSystem, FileSystem, SimulatedCrash
from historian.lsm import filenames
from historian.lsm.manifest import (
    FileMeta,
    ManifestCorruptError,
    ManifestState,
    read_manifest,
    write_manifest,
)

META = FileMeta(7, 2, 3600, 3600, 7199, 100, 3, 4096)


def test_round_trip_and_apply(tmp_path: object) -> None:
    root = str(tmp_path)
    assert read_manifest(FileSystem(), root) is None
    state = ManifestState().apply(add=(META,), flushed_seq=12, next_file_number=8)
    write_manifest(FileSystem(), root, state)
    back = read_manifest(FileSystem(), root)
    assert back == state and back.flushed_seq == 12
    later = back.apply(remove=frozenset({7}), flushed_seq=5)
    assert later.files == () and later.flushed_seq == 12  # flushed_seq never goes back


def test_checksum_mismatch_is_refused(tmp_path: object) -> None:
    root = str(tmp_path)
    write_manifest(FileSystem(), root, ManifestState(files=(META,)))
    size = os.path.getsize(os.path.join(root, filenames.MANIFEST))
    fs = FaultyFileSystem(Faults(flip_bits=[(filenames.MANIFEST, size - 3)]))
    with pytest.raises(ManifestCorruptError, match="checksum"):
        read_manifest(fs, root)


@pytest.mark.parametrize("point", ["manifest.before_rename", "manifest.before_dir_sync"])
def test_crash_during_edit_leaves_old_manifest(tmp_path: object, point: str) -> None:
    root = str(tmp_path)
    old = ManifestState(flushed_seq=1)
    write_manifest(FileSystem(), root, old)
    fs = FaultyFileSystem(Faults(crash_at=point))
    with pytest.raises(SimulatedCrash):
        write_manifest(fs, root, ManifestState(flushed_seq=2, files=(META,)))
    assert read_manifest(FileSystem(), root) == old
