"""Truncated and bit-flipped files of every on-disk format the engine owns (docs/bad-input.md).

For each format, bytes across the whole file (every one in small files, a
stride in larger ones) are flipped, and the file is cut at many lengths, in a
fresh copy of a known store. The defined behaviour is asserted for each case;
the one invariant everywhere: the engine never returns wrong data silently.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from historian import FsyncPolicy, Historian, Options, PointBatch
from historian.errors import CorruptDataError
from historian.lsm import filenames
from historian.lsm.inspect import verify
from historian.lsm.manifest import ManifestCorruptError
from historian.wal import WalCorruptError

S = 1_000_000_000
RECORD = 8 + 13 + 10 * 22
SEAL = 8 + 13
WAL_SIZE = 16 + 10 * RECORD + SEAL


def opts() -> Options:
    return Options(
        fsync=FsyncPolicy.always(),
        background=False,
        bucket_ns=10**6 * S,
        memtable_bytes=1 << 20,
        chunk_max_points=40,
    )


def batch(i: int) -> PointBatch:
    return PointBatch.from_arrays(
        np.full(10, i % 3), (i * 10 + np.arange(10)) * S, i + np.arange(10) / 10
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """'wal': 10 records in one WAL segment; 'seg': the same data flushed to one segment."""
    out = {}
    for kind in ("wal", "seg"):
        root = str(tmp_path_factory.mktemp(kind))
        db = Historian.open(root, opts())
        for i in range(10):
            db.write(batch(i))
        if kind == "seg":
            db.flush()
        db.close()
        out[kind] = root
    return out


def all_points(db: Historian) -> dict[int, tuple[list[int], list[float]]]:
    out = {}
    for s in range(3):
        ts, v, _ = db.read(s, 0, 2**62)
        out[s] = (ts.tolist(), v.tolist())
    return out


def expected(batches: range) -> dict[int, tuple[list[int], list[float]]]:
    db_like: dict[int, dict[int, float]] = {s: {} for s in range(3)}
    for i in batches:
        b = batch(i)
        for s, t, v in zip(b.series.tolist(), b.ts.tolist(), b.values.tolist(), strict=True):
            db_like[s][t] = v
    return {s: ([t for t in sorted(m)], [m[t] for t in sorted(m)]) for s, m in db_like.items()}


def damaged_copy(src: str, dst: str, rel: str, flip: int | None, cut: int | None) -> str:
    shutil.copytree(src, dst)
    path = os.path.join(dst, rel)
    if flip is not None:
        with open(path, "r+b") as fh:
            fh.seek(flip)
            b = fh.read(1)
            fh.seek(flip)
            fh.write(bytes([b[0] ^ 0x01]))
    if cut is not None:
        os.truncate(path, cut)
    return path


def wal_rel(root: str) -> str:
    [name] = os.listdir(filenames.wal_dir(root))
    return os.path.join(filenames.WAL_DIR, name)


# ---------------------------------------------------------------------- WAL
@pytest.mark.parametrize("offset", range(0, WAL_SIZE, 3))
def test_wal_bit_flip(tmp_path: object, pristine: dict[str, str], offset: int) -> None:
    root = os.path.join(str(tmp_path), "db")
    path = damaged_copy(pristine["wal"], root, wal_rel(pristine["wal"]), offset, None)
    record = (offset - 16) // RECORD
    if offset < 16 or record < 10:
        # header, or a record with a valid one (or the seal) after it: refuse, change nothing
        with pytest.raises(WalCorruptError) as err:
            Historian.open(root, opts())
        assert os.path.getsize(path) == WAL_SIZE
        if offset >= 16:
            assert err.value.damage is not None and err.value.damage.first_seq == record + 1
        assert not verify(root).ok
    else:
        # the clean-close seal itself: a torn tail with no data in it
        db = Historian.open(root, opts())
        assert db.recovery_report["dropped_bytes"] == SEAL
        assert all_points(db) == expected(range(10))
        db.close()


@pytest.mark.parametrize("offset", range(16 + 9 * RECORD, 16 + 10 * RECORD, 7))
def test_wal_bit_flip_in_last_record_after_a_crash(
    tmp_path: object, pristine: dict[str, str], offset: int
) -> None:
    """Unsealed (the process died): the last record cannot be told from a torn append."""
    root = os.path.join(str(tmp_path), "db")
    damaged_copy(pristine["wal"], root, wal_rel(pristine["wal"]), offset, WAL_SIZE - SEAL)
    db = Historian.open(root, opts())
    assert db.recovery_report["dropped_bytes"] == RECORD
    assert all_points(db) == expected(range(9))
    db.close()


@pytest.mark.parametrize(
    "cut",
    [0, 1, 15, 16, 17, 16 + RECORD - 1, 16 + 5 * RECORD + 9, 16 + 10 * RECORD - 1, WAL_SIZE - 1],
)
def test_wal_truncated(tmp_path: object, pristine: dict[str, str], cut: int) -> None:
    root = os.path.join(str(tmp_path), "db")
    damaged_copy(pristine["wal"], root, wal_rel(pristine["wal"]), None, cut)
    db = Historian.open(root, opts())  # the newest segment: a cut always looks like a torn tail
    whole = max(0, (cut - 16) // RECORD)
    assert all_points(db) == expected(range(whole))
    assert db.write(batch(50)) == whole + 1  # and the store keeps working
    db.close()


def test_wal_truncated_older_segment_refuses(tmp_path: object) -> None:
    root = str(tmp_path)
    db = Historian.open(
        root, Options(fsync=FsyncPolicy.always(), background=False, wal_segment_bytes=3 * RECORD)
    )
    for i in range(10):
        db.write(batch(i))
    db.close()
    d = filenames.wal_dir(root)
    older = os.path.join(d, sorted(os.listdir(d))[1])
    os.truncate(older, os.path.getsize(older) - 7)
    with pytest.raises(WalCorruptError, match=os.path.basename(older)):
        Historian.open(root, opts())


# ------------------------------------------------------------------ segment
def segment_rel(root: str) -> str:
    [name] = [n for n in os.listdir(root) if filenames.parse_segment_name(n) is not None]
    return name


def test_segment_every_flip_is_detected_or_harmless(
    tmp_path: object, pristine: dict[str, str]
) -> None:
    rel = segment_rel(pristine["seg"])
    size = os.path.getsize(os.path.join(pristine["seg"], rel))
    want = expected(range(10))
    undetected = []
    for offset in range(size):
        root = os.path.join(str(tmp_path), f"db{offset}")
        damaged_copy(pristine["seg"], root, rel, offset, None)
        db = Historian.open(root, opts())  # segment damage never blocks open
        try:
            got = all_points(db)
            raised = False
        except CorruptDataError as exc:
            assert rel in str(exc)  # names the file
            raised = True
        finally:
            db.close()
        flagged = not verify(root).ok
        if raised:
            assert flagged, f"offset {offset}: a read raised but verify saw nothing"
        elif not flagged:
            assert got == want, f"offset {offset}: wrong data returned silently"
            undetected.append(offset)
        shutil.rmtree(root)
    assert undetected == [], f"flips no check catches (data still right): {undetected}"


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9, 0.999])
def test_segment_truncated(tmp_path: object, pristine: dict[str, str], keep: float) -> None:
    root = os.path.join(str(tmp_path), "db")
    rel = segment_rel(pristine["seg"])
    size = os.path.getsize(os.path.join(pristine["seg"], rel))
    damaged_copy(pristine["seg"], root, rel, None, int(size * keep))
    db = Historian.open(root, opts())
    with pytest.raises(CorruptDataError, match=rel):
        db.read(0, 0, 2**62)
    db.close()
    assert not verify(root).ok


# ----------------------------------------------------------------- manifest
def test_manifest_every_flip_and_cut_refuses_open(
    tmp_path: object, pristine: dict[str, str]
) -> None:
    src = pristine["seg"]
    size = os.path.getsize(os.path.join(src, filenames.MANIFEST))
    cases = [(off, None) for off in range(size)] + [(None, cut) for cut in range(0, size, 7)]
    for k, (flip, cut) in enumerate(cases):
        root = os.path.join(str(tmp_path), f"db{k}")
        path = damaged_copy(src, root, filenames.MANIFEST, flip, cut)
        with open(path, "rb") as fh:
            before = fh.read()
        with pytest.raises(ManifestCorruptError):
            Historian.open(root, opts())
        with open(path, "rb") as fh:
            assert fh.read() == before
        assert not verify(root).ok
        shutil.rmtree(root)
