"""The engine with a key: write, close, reopen, read back; nothing in the clear on disk;
a wrong key, a tampered WAL record or a tampered segment block is refused, never read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from historian import Historian, Options
from historian.crypto import EncryptionKeyError, generate_key_file, load_cipher
from historian.errors import CorruptDataError
from historian.fs import FileSystem
from historian.lsm import filenames
from historian.sstable import SegmentReader
from historian.wal import WalCorruptError

MARKER = 6626.07015  # distinctive: its float64 bytes appear on disk only if stored in the clear
HOUR = 3_600 * 10**9
T0 = 1_700_000_000 * 10**9


def data(seed: int, n: int = 4_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    series = rng.integers(1, 40, n).astype(np.uint32)
    ts = T0 + np.sort(rng.integers(0, 3 * HOUR, n)).astype(np.int64)
    values = rng.normal(size=n)
    values[::50] = MARKER
    values[7] = np.nan
    return series, ts, values


def options(key: Path | None, **kw: Any) -> Options:
    base: dict[str, Any] = {
        "background": False,
        "memtable_bytes": 32 * 1024,
        "l0_compaction_trigger": 2,
    }
    base.update(kw)
    return Options(encryption_key_file=str(key) if key else None, **base)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "store.key"
    generate_key_file(path)
    return path


def fill(root: Path, key: Path | None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Write three batches (flushes and compactions happen inline) and one left in the WAL."""
    db = Historian.open(str(root), options(key))
    expect: dict[int, dict[int, float]] = {}
    for seed in range(4):
        s, t, v = data(seed, 4_000 if seed < 3 else 300)  # the last one stays in the memtable
        db.write_arrays(s, t, v)
        for a, b, c in zip(s.tolist(), t.tolist(), v.tolist(), strict=True):
            expect.setdefault(a, {})[b] = c  # last write wins
    assert db.stats().segment_points > 0 and db.stats().memtable_points > 0
    db.close()
    return {
        k: (np.array(sorted(m), np.int64), np.array([m[t] for t in sorted(m)]))
        for k, m in expect.items()
    }


def files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_round_trip_reopen_and_nothing_in_the_clear(tmp_path: Path, key: Path) -> None:
    root = tmp_path / "db"
    expect = fill(root, key)
    db = Historian.open(str(root), options(key))
    try:
        for s, (ts, vals) in expect.items():
            got_ts, got_v, _ = db.read(s, 0, 2**62)
            assert np.array_equal(got_ts, ts)
            assert np.array_equal(got_v.view(np.uint64), vals.view(np.uint64))  # NaN bit-exact
        assert db.recovery_report["replayed_records"] >= 1  # the WAL was read back too
    finally:
        db.close()
    marker = np.float64(MARKER).tobytes()
    names = {p.name for p in files(root)}
    assert any(filenames.parse_segment_name(n) for n in names)
    assert any(filenames.parse_wal_segment_name(n) for n in names)
    for p in files(root):
        assert marker not in p.read_bytes(), p
    plain = tmp_path / "plain"
    fill(plain, None)  # the same data without a key: the marker is there to find
    assert any(marker in p.read_bytes() for p in files(plain))


def test_wrong_key_no_key_and_key_on_a_plain_store(tmp_path: Path, key: Path) -> None:
    root = tmp_path / "db"
    fill(root, key)
    other = tmp_path / "other.key"
    generate_key_file(other)
    right_id, wrong_id = load_cipher(key).key_id.hex(), load_cipher(other).key_id.hex()
    with pytest.raises(EncryptionKeyError) as err:
        Historian.open(str(root), options(other))
    assert f"was encrypted with key id {right_id}, the configured key is {wrong_id}" in str(
        err.value
    )
    with pytest.raises(EncryptionKeyError, match="is encrypted"):
        Historian.open(str(root), options(None))
    plain = tmp_path / "plain"
    fill(plain, None)
    with pytest.raises(EncryptionKeyError, match="not encrypted, but an encryption key"):
        Historian.open(str(plain), options(key))
    db = Historian.open(str(root), options(key))  # refusals left the store openable
    db.close()


def test_flipped_bit_in_an_encrypted_wal_record_refuses_open_and_keeps_the_file(
    tmp_path: Path, key: Path
) -> None:
    root = tmp_path / "db"
    fill(root, key)
    wal = sorted((root / "wal").iterdir())[-1]
    raw = bytearray(wal.read_bytes())
    raw[48 + 8 + 13 + 12 + 100] ^= 0x01  # first record, inside its ciphertext
    wal.write_bytes(raw)
    before = {p: p.read_bytes() for p in files(root)}
    with pytest.raises(WalCorruptError, match="WAL corrupt") as err:
        Historian.open(str(root), options(key))
    assert "twinbench historian repair" in str(err.value)
    assert {p: p.read_bytes() for p in files(root)} == before  # kept as evidence, untouched


def segment_paths(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if filenames.parse_segment_name(p.name))


def test_flipped_bit_in_an_encrypted_segment_block_fails_the_query(
    tmp_path: Path, key: Path
) -> None:
    root = tmp_path / "db"
    expect = fill(root, key)
    cipher = load_cipher(key)
    seg = segment_paths(root)[0]
    r = SegmentReader(FileSystem(), str(seg), cipher)
    series = int(r.index[0]["series"])
    off, length = int(r.index[0]["offset"]), int(r.index[0]["length"])
    del r
    raw = bytearray(seg.read_bytes())
    raw[off + length - 3] ^= 0x40  # inside the tag
    seg.write_bytes(raw)
    db = Historian.open(str(root), options(key, l0_compaction_trigger=100))
    try:
        with pytest.raises(CorruptDataError, match="failed AES-GCM authentication"):
            db.read(series, 0, 2**62)
        other = next(s for s in expect if s != series)
        got = db.read(other, 0, 2**62)[0]  # other series may live in the same file...
        assert len(got) == 0 or np.array_equal(got, expect[other][0])  # ...but never wrong
    finally:
        db.close()


def test_keyed_store_with_a_missing_key_file_is_refused_before_any_io(tmp_path: Path) -> None:
    root = tmp_path / "db"
    with pytest.raises(EncryptionKeyError, match="does not exist"):
        Historian.open(str(root), options(tmp_path / "nope.key"))
    assert not root.exists()
