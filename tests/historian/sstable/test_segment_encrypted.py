"""Encrypted segment files (version 3): round trip, and every tampering refused, never read."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from historian.crypto import BlockCipher, EncryptionKeyError
from historian.fs import FileSystem
from historian.sstable import SegmentCorruptError, SegmentReader, SegmentWriter
from historian.sstable.format import FOOTER_V2, FORMAT_VERSION_ENCRYPTED, HEADER
from tests.strategies import series_chunks

KEY = BlockCipher(bytes(range(32)))
MARKER = 314159.26535


def build(path: str, cipher: BlockCipher | None = KEY, codec: str | None = "raw") -> None:
    w = SegmentWriter(FileSystem(), path, codec, chunk_max_points=100, cipher=cipher)
    for s in (1, 2, 3):
        ts = np.arange(300, dtype=np.int64) * 10 + s
        w.add(s, ts, np.full(300, MARKER + s), np.zeros(300, np.uint16))
    w.finish()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(series_chunks(max_size=200), min_size=1, max_size=4),
    st.sampled_from([None, "raw", "pco"]),
)
def test_round_trip_property(
    tmp_path: object,
    chunks: list[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16]]],
    codec: str | None,
) -> None:
    path = os.path.join(str(tmp_path), "p.tbs")
    if os.path.exists(path):
        os.remove(path)
    w = SegmentWriter(
        FileSystem(), path, codec, chunk_max_points=64, stats_min_points=8, cipher=KEY
    )
    kept = []
    for s, (ts, v, q) in enumerate(chunks):
        ts, first = np.unique(ts, return_index=True)
        w.add(s, ts, v[first], q[first])
        kept.append((ts, v[first], q[first]))
    w.finish()
    r = SegmentReader(FileSystem(), path, KEY)
    got = r.read_all()
    assert np.array_equal(got.series, np.repeat(np.arange(len(kept)), [len(k[0]) for k in kept]))
    assert np.array_equal(got.ts, np.concatenate([k[0] for k in kept]))
    values = np.concatenate([k[1] for k in kept])
    assert np.array_equal(got.values.view(np.uint64), values.view(np.uint64))  # bit-exact
    assert np.array_equal(got.quality, np.concatenate([k[2] for k in kept]))
    assert r.verify() == []
    assert len(r.summaries) == len(r.index)  # the stats block decrypts too


def test_encrypted_layout_and_no_plaintext(tmp_path: Path) -> None:
    path, plain = str(tmp_path / "e.tbs"), str(tmp_path / "p.tbs")
    build(path)
    build(plain, cipher=None)
    raw = Path(path).read_bytes()
    assert HEADER.unpack_from(raw) == (b"TBSEG\x00", FORMAT_VERSION_ENCRYPTED)
    assert raw[16:24] == KEY.key_id
    marker = np.float64(MARKER + 1).tobytes()
    assert marker in Path(plain).read_bytes()  # so the next line can fail
    assert marker not in raw
    r = SegmentReader(FileSystem(), path, KEY)
    assert r.read(2, 0, 10**9)[1].tolist() == [MARKER + 2] * 300
    assert r.footer.points == 900 and r.verify() == []


def test_wrong_key_no_key_and_plaintext_refused(tmp_path: Path) -> None:
    path, plain = str(tmp_path / "e.tbs"), str(tmp_path / "p.tbs")
    build(path)
    build(plain, cipher=None)
    other = BlockCipher(bytes(32))
    with pytest.raises(EncryptionKeyError) as err:
        SegmentReader(FileSystem(), path, other)
    assert str(err.value) == (
        f"file {path} was encrypted with key id {KEY.key_id.hex()}, "
        f"the configured key is {other.key_id.hex()}"
    )
    with pytest.raises(EncryptionKeyError, match="is encrypted"):
        SegmentReader(FileSystem(), path)
    with pytest.raises(EncryptionKeyError, match="not encrypted"):
        SegmentReader(FileSystem(), plain, KEY)


def chunk_at(r: SegmentReader, i: int) -> tuple[int, int]:
    e = r.index[i]
    return int(e["offset"]), int(e["length"])


def test_flipped_bit_in_a_chunk_fails_that_chunk_only(tmp_path: Path) -> None:
    path = str(tmp_path / "e.tbs")
    build(path)
    r = SegmentReader(FileSystem(), path, KEY)
    off, length = chunk_at(r, 4)  # series 2, its second chunk (ts 1002..1992)
    data = bytearray(Path(path).read_bytes())
    data[off + length // 2] ^= 0x10
    Path(path).write_bytes(data)
    r = SegmentReader(FileSystem(), path, KEY)
    with pytest.raises(SegmentCorruptError, match=f"offset {off} failed AES-GCM authentication"):
        r.read(2, 0, 10**9)
    assert len(r.read(2, 0, 1000)[0]) == 100  # the intact chunk before it still reads
    assert r.read(1, 0, 10**9)[1].tolist() == [MARKER + 1] * 300
    assert [p.offset for p in r.verify()] == [off]


def test_swapped_chunks_fail_their_aad(tmp_path: Path) -> None:
    """Two chunks of identical length change places: every byte is a genuine block of this
    file under this key, only the associated data (entry, offset, series, range) differ."""
    path = str(tmp_path / "e.tbs")
    build(path)
    r = SegmentReader(FileSystem(), path, KEY)
    (a, la), (b, lb) = chunk_at(r, 0), chunk_at(r, 3)  # series 1 and 2, first chunks
    assert la == lb
    data = bytearray(Path(path).read_bytes())
    data[a : a + la], data[b : b + lb] = data[b : b + lb], data[a : a + la]
    Path(path).write_bytes(data)
    r = SegmentReader(FileSystem(), path, KEY)
    for s in (1, 2):
        with pytest.raises(SegmentCorruptError, match="AES-GCM authentication"):
            r.read(s, 0, 10**9)


@pytest.mark.parametrize("where", ["index", "footer_max_ts", "crypto_header"])
def test_tampered_index_footer_or_header_fails_open(tmp_path: Path, where: str) -> None:
    import crc32c

    path = str(tmp_path / "e.tbs")
    build(path)
    r = SegmentReader(FileSystem(), path, KEY)
    data = bytearray(Path(path).read_bytes())
    start = len(data) - FOOTER_V2.size
    if where == "index":  # an attacker can fix every CRC: they are not keyed
        idx = slice(r.footer.index_offset, r.footer.stats_offset)
        data[idx.start + 20] ^= 1
        struct.pack_into("<I", data, start + 44, crc32c.crc32c(bytes(data[idx])))
    elif where == "footer_max_ts":  # would hide the newest data from time-range pruning
        struct.pack_into("<q", data, start + 32, r.footer.max_ts - 500)
    else:  # the file id: every block's AAD changes
        data[HEADER.size + 20] ^= 1
    struct.pack_into("<I", data, start + 68, crc32c.crc32c(bytes(data[start : start + 68])))
    Path(path).write_bytes(data)
    with pytest.raises(SegmentCorruptError, match="AES-GCM authentication"):
        SegmentReader(FileSystem(), path, KEY)
