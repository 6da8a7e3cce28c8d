"""The ingest checkpoint goes through the file-system seam, so faults reach it too."""

from __future__ import annotations

from pathlib import Path

import pytest

from historian.errors import DiskFullError
from historian.fs import Faults, FaultyFileSystem, SimulatedCrash
from historian.ingest.checkpoint import (
    Checkpoint,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)


def _cp(seq: int) -> Checkpoint:
    return Checkpoint("TWINBENCH", 0, seq, seq, seq * 10)


@pytest.mark.parametrize("point", ["before_rename", "before_dir_sync"])
def test_a_crash_mid_save_leaves_the_old_checkpoint(tmp_path: Path, point: str) -> None:
    path = checkpoint_path(tmp_path, 0)
    fs = FaultyFileSystem()
    save_checkpoint(path, _cp(5), fs)
    fs.faults.crash_at = f"{path.name}.{point}"
    with pytest.raises(SimulatedCrash):
        save_checkpoint(path, _cp(9), fs)
    # the power cut dropped what was not fsynced: the rename's directory entry included
    assert load_checkpoint(path) == _cp(5)
    save_checkpoint(path, _cp(11))  # a leftover temp file does not get in the way
    assert load_checkpoint(path) == _cp(11)


def test_a_full_disk_fails_the_save_and_keeps_the_old_checkpoint(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path, 0)
    fs = FaultyFileSystem(Faults())
    save_checkpoint(path, _cp(3), fs)
    fs.faults.disk_full = True
    with pytest.raises(DiskFullError):
        save_checkpoint(path, _cp(4), fs)
    assert load_checkpoint(path, fs) == _cp(3)
