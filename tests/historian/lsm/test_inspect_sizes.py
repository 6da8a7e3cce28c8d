"""`chunk_bytes_by_series`: the codec's figure read from the segment indexes equals encoding
every stored series again in the engine's chunking, for plain and encrypted stores, over
several segment files and levels (scenario scoring relies on the two being the same)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from historian import Historian, Options
from historian.codec import encode_chunk
from historian.crypto import generate_key_file, load_cipher
from historian.crypto.cipher import BlockCipher
from historian.lsm.inspect import chunk_bytes_by_series
from historian.sstable import SegmentReader

HOUR = 3_600 * 10**9
T0 = 1_700_000_000 * 10**9
CHUNK = 512


def _fill(root: Path, key: Path | None) -> Historian:
    opts = Options(
        background=False,
        memtable_bytes=64 * 1024,
        l0_compaction_trigger=3,
        chunk_max_points=CHUNK,
        encryption_key_file=str(key) if key else None,
    )
    db = Historian.open(str(root), opts)
    rng = np.random.default_rng(7)
    for k in range(6):
        n = 5_000
        series = rng.integers(1, 30, n).astype(np.uint32)
        ts = T0 + k * HOUR + np.sort(rng.integers(0, 3 * HOUR, n)).astype(np.int64)
        values = np.round(rng.normal(50.0, 3.0, n), 2 if k % 2 else 6)
        db.write_arrays(series, ts, values)
    db.flush()  # segments only: the figure counts chunks, not the memtable
    return db


def _encoded(db: Historian) -> dict[int, tuple[int, int]]:
    """Re-encode what each live segment holds, in the writer's chunking, as scoring used to."""
    out: dict[int, tuple[int, int]] = {}
    root = Path(db.directory)
    for seg in sorted(root.glob("seg-*.tbs")):
        reader = SegmentReader(db.fs, str(seg), db_cipher(db))
        for sid in reader.series_ids().tolist():
            ts, values, quality = reader.read(sid, 0, 2**62)
            total = sum(
                len(encode_chunk(ts[a : a + CHUNK], values[a : a + CHUNK],
                                 quality[a : a + CHUNK]))
                for a in range(0, len(ts), CHUNK)
            )  # fmt: skip
            b, n = out.get(sid, (0, 0))
            out[sid] = (b + total, n + len(ts))
    return out


KEYS: dict[str, Path] = {}


def db_cipher(db: Historian) -> BlockCipher | None:
    key = KEYS.get(db.directory)
    return load_cipher(str(key)) if key else None


def test_sizes_from_the_index_equal_re_encoding_plain_and_encrypted(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    generate_key_file(key)
    plain = _fill(tmp_path / "plain", None)
    sealed = _fill(tmp_path / "sealed", key)
    KEYS[sealed.directory] = key
    try:
        figures = []
        for db in (plain, sealed):
            db.compact()
            assert len(list(Path(db.directory).glob("seg-*.tbs"))) > 1  # several buckets
            held = chunk_bytes_by_series(db.directory, db.fs, db_cipher(db))
            assert held == _encoded(db)
            assert sum(n for _, n in held.values()) == db.stats().segment_points
            assert sum(b for b, _ in held.values()) < db.stats().bytes_on_disk
            figures.append(held)
        # the same data: nonce and tag are left out, so the figure ignores the encryption
        assert figures[0] == figures[1]
    finally:
        plain.close()
        sealed.close()


def test_an_empty_store_has_no_sizes(tmp_path: Path) -> None:
    db = Historian.open(str(tmp_path / "db"), Options(background=False))
    try:
        assert chunk_bytes_by_series(db.directory, db.fs) == {}
    finally:
        db.close()
