"""`twinbench historian inspect` / `verify` on real directories, through the real CLI app."""

from __future__ import annotations

import os

import numpy as np
from typer.testing import CliRunner

from historian import FsyncPolicy, Historian, Options
from historian.cli import app
from historian.lsm import filenames

S = 1_000_000_000


def build(root: str) -> Historian:
    db = Historian.open(root, Options(fsync=FsyncPolicy.always(), bucket_ns=100 * S))
    n = 300
    db.write_arrays(np.arange(n) % 3, np.arange(n) * S, np.arange(n, dtype=float))
    db.compact()
    db.write_arrays([1], [500 * S], [1.0])  # stays in the WAL
    return db


def test_inspect_lists_levels_and_files(tmp_path: object) -> None:
    root = str(tmp_path)
    build(root).close()
    out = CliRunner().invoke(app, ["inspect", root])
    assert out.exit_code == 0, out.output
    assert "L2: 3 files, 300 points" in out.output
    assert "series 3" in out.output and "B/pt" in out.output
    assert "WAL: 1 segments" in out.output


def test_inspect_counts_points_still_in_the_wal(tmp_path: object) -> None:
    # a `pipeline up` store after a stop: every acked point may still be in the WAL only
    root = str(tmp_path)
    db = Historian.open(root, Options(fsync=FsyncPolicy.always()))
    db.write_arrays(np.arange(1000) % 7, np.arange(1000) * S, np.ones(1000))
    db.write_arrays([1, 2], [2000 * S, 2001 * S], [2.0, 3.0])
    db.close()
    out = CliRunner().invoke(app, ["inspect", root])
    assert out.exit_code == 0, out.output
    assert "2 records / 1002 points not yet flushed" in out.output
    assert "total: 1002 points (0 in segments, 1002 in the WAL)" in out.output


def test_inspect_refuses_a_directory_that_is_not_a_store(tmp_path: object) -> None:
    outer = os.path.join(str(tmp_path), "run")
    os.makedirs(outer)
    out = CliRunner().invoke(app, ["inspect", outer])
    assert out.exit_code == 2
    assert "is not a historian store" in out.output and "Traceback" not in out.output
    Historian.open(os.path.join(outer, "historian")).close()  # a run dir with the store inside
    out = CliRunner().invoke(app, ["inspect", outer])
    assert out.exit_code == 2 and f"the store is probably {outer}/historian" in out.output


def test_verify_ok_then_names_the_corrupt_file(tmp_path: object) -> None:
    root = str(tmp_path)
    db = build(root)
    db.close()
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", root])
    assert ok.exit_code == 0 and "OK" in ok.output, ok.output
    victim = sorted(db._version.files, key=lambda f: f.number)[1]
    path = os.path.join(root, filenames.segment_name(victim.number))
    with open(path, "r+b") as fh:
        fh.seek(20)
        byte = fh.read(1)
        fh.seek(20)
        fh.write(bytes([byte[0] ^ 0x10]))
    bad = runner.invoke(app, ["verify", root])
    assert bad.exit_code == 1
    assert f"CORRUPT: {path}" in bad.output and "offset" in bad.output
    assert bad.output.count("CORRUPT") == 1


def test_verify_reports_corrupt_manifest(tmp_path: object) -> None:
    root = str(tmp_path)
    build(root).close()
    with open(os.path.join(root, filenames.MANIFEST), "r+b") as fh:
        fh.seek(30)
        fh.write(b"X")
    out = CliRunner().invoke(app, ["verify", root])
    assert out.exit_code == 1 and "MANIFEST" in out.output
