"""Encrypted WAL segments: round trip, torn tails as before, tampering refused as corruption."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import crc32c
import numpy as np
import pytest

from historian.crypto import BlockCipher, EncryptionKeyError
from historian.fs import FileSystem
from historian.lsm.filenames import parse_wal_segment_name, wal_segment_name
from historian.model import PointBatch
from historian.options import FsyncPolicy
from historian.wal import WalCorruptError, WalReader, WalWriter, list_segments
from historian.wal.format import ENCRYPTED_HEADER, MAGIC, VERSION_ENCRYPTED

KEY = BlockCipher(bytes(range(32)))
MARKER = 271828.18284  # a value whose float64 bytes must never reach the disk in the clear


def batch(i: int, n: int = 50) -> PointBatch:
    rng = np.random.default_rng(i)
    values = rng.normal(size=n)
    values[0] = MARKER
    return PointBatch.from_arrays(rng.integers(0, 100, n), np.arange(n) + i * 1000, values)


def write(d: str, count: int, cipher: BlockCipher | None = KEY, seg: int = 1 << 20) -> None:
    w = WalWriter(FileSystem(), d, wal_segment_name, FsyncPolicy.never(), seg, 1, cipher=cipher)
    for i in range(count):
        w.append(batch(i))
    w.close()


def replay(
    d: str, cipher: BlockCipher | None = KEY, salvage: bool = False
) -> tuple[list[tuple[int, PointBatch]], WalReader]:
    r = WalReader(FileSystem(), d, parse_wal_segment_name, cipher)
    return list(r.replay(0, salvage=salvage)), r


def frames(path: str) -> list[tuple[int, int]]:
    """(offset, framed size) of every record of an encrypted segment."""
    data = Path(path).read_bytes()
    pos, out = ENCRYPTED_HEADER.size, []
    while pos < len(data):
        size = 8 + int.from_bytes(data[pos : pos + 4], "little")
        out.append((pos, size))
        pos += size
    return out


def rewrite_crc(data: bytearray, pos: int, size: int) -> None:
    """What an attacker can do: the CRC32C is not keyed."""
    struct.pack_into("<I", data, pos + 4, crc32c.crc32c(bytes(data[pos + 8 : pos + size])))


def only_segment(d: str) -> str:
    ((_, path),) = list_segments(FileSystem(), d, parse_wal_segment_name)
    return path


def test_round_trip_rotation_and_no_plaintext(tmp_path: object) -> None:
    d = str(tmp_path)
    write(d, 30, seg=4000)
    segs = list_segments(FileSystem(), d, parse_wal_segment_name)
    assert len(segs) > 3
    marker = np.float64(MARKER).tobytes()
    for _, path in segs:
        raw = Path(path).read_bytes()
        magic, version = struct.unpack_from("<6sH", raw)
        assert (magic, version) == (MAGIC, VERSION_ENCRYPTED)
        assert raw[24:32] == KEY.key_id  # after magic, version, first_seq, cipher, reserved
        assert marker not in raw
    got, r = replay(d)
    assert [s for s, _ in got] == list(range(1, 31))
    for s, b in got:
        ref = batch(s - 1)
        for col in ("series", "ts", "values", "quality"):
            assert np.array_equal(getattr(b, col), getattr(ref, col))
    assert r.report.points == 30 * 50
    plain = str(tmp_path) + "-plain"
    os.makedirs(plain)
    write(plain, 1, cipher=None)
    assert marker in Path(only_segment(plain)).read_bytes()  # the check above can fail


@pytest.mark.parametrize("cut", [1, 9, 30, 700])
def test_torn_tail_still_cut_as_before(tmp_path: object, cut: int) -> None:
    d = str(tmp_path)
    w = WalWriter(FileSystem(), d, wal_segment_name, FsyncPolicy.always(), 1 << 20, 1, cipher=KEY)
    for i in range(4):
        w.append(batch(i))
    path = w.current_path
    w._file.close()  # a crash: no seal
    last = frames(path)[-1][1]
    os.truncate(path, os.path.getsize(path) - cut)
    got, r = replay(d)
    assert [s for s, _ in got] == [1, 2, 3]
    assert r.report.torn_segment == path and r.report.dropped_bytes == last - cut


@pytest.mark.parametrize("record", [1, 3])  # the middle and the last one of an unsealed segment
def test_tampered_record_with_valid_crc_is_corruption_never_a_torn_tail(
    tmp_path: object, record: int
) -> None:
    d = str(tmp_path)
    w = WalWriter(FileSystem(), d, wal_segment_name, FsyncPolicy.always(), 1 << 20, 1, cipher=KEY)
    for i in range(4):
        w.append(batch(i))
    path = w.current_path
    w._file.close()  # unsealed: damage at the very end would read as a torn tail
    data = bytearray(Path(path).read_bytes())
    pos, size = frames(path)[record]
    data[pos + 8 + 13 + 12 + 5] ^= 0x04  # one ciphertext bit
    rewrite_crc(data, pos, size)
    Path(path).write_bytes(data)
    with pytest.raises(WalCorruptError, match="failed AES-GCM authentication") as err:
        WalReader(FileSystem(), d, parse_wal_segment_name, KEY).check()
    assert err.value.damage is not None and err.value.damage.first_seq == record + 1
    assert f"at offset {pos}" in str(err.value)
    assert Path(path).read_bytes() == bytes(data)  # nothing changed
    got, r = replay(d, salvage=True)  # repair's view: the others survive
    assert [s for s, _ in got] == [s for s in (1, 2, 3, 4) if s != record + 1]
    assert len(r.report.damage) == 1


def test_flipped_bit_without_crc_fix_is_corruption(tmp_path: object) -> None:
    d = str(tmp_path)
    write(d, 4)
    path = only_segment(d)
    data = bytearray(Path(path).read_bytes())
    pos, _ = frames(path)[1]
    data[pos + 40] ^= 0x80
    Path(path).write_bytes(data)
    with pytest.raises(WalCorruptError, match="checksum mismatch"):
        replay(d)


def test_swapped_record_bodies_fail_their_aad(tmp_path: object) -> None:
    """Swap the sealed bodies of records 2 and 3 (same count), CRCs rewritten: the clear
    prefix (type, seq, count) still reads in order, so only the AAD can notice."""
    d = str(tmp_path)
    write(d, 4)
    path = only_segment(d)
    data = bytearray(Path(path).read_bytes())
    (p1, s1), (p2, s2) = frames(path)[1:3]
    assert s1 == s2
    body = slice(8 + 13, s1)
    a, b = bytes(data[p1:][body]), bytes(data[p2:][body])
    data[p1 + body.start : p1 + s1], data[p2 + body.start : p2 + s2] = b, a
    rewrite_crc(data, p1, s1)
    rewrite_crc(data, p2, s2)
    Path(path).write_bytes(data)
    with pytest.raises(WalCorruptError, match="AES-GCM authentication"):
        replay(d)


def test_record_moved_from_another_wal_fails_its_aad(tmp_path: Path) -> None:
    """Same key, same seq, same count, valid CRC: the file id in the AAD tells them apart."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    os.makedirs(a)
    os.makedirs(b)
    write(a, 3)
    write(b, 3)
    pa, pb = only_segment(a), only_segment(b)
    da, db = bytearray(Path(pa).read_bytes()), Path(pb).read_bytes()
    pos, size = frames(pa)[1]
    assert frames(pb)[1] == (pos, size)
    da[pos : pos + size] = db[pos : pos + size]
    Path(pa).write_bytes(da)
    with pytest.raises(WalCorruptError, match="AES-GCM authentication"):
        replay(a)


def test_wrong_key_no_key_and_plaintext_are_refused_by_name(tmp_path: Path) -> None:
    d = str(tmp_path)
    write(d, 2)
    path = only_segment(d)
    other = BlockCipher(bytes(32))
    want = (
        f"file {path} was encrypted with key id {KEY.key_id.hex()}, "
        f"the configured key is {other.key_id.hex()}"
    )
    with pytest.raises(EncryptionKeyError) as err:
        replay(d, other)
    assert str(err.value) == want
    with pytest.raises(EncryptionKeyError, match="salvage"):  # salvage never guesses either
        try:
            replay(d, other, salvage=True)
        except EncryptionKeyError as exc:
            raise EncryptionKeyError("salvage") from exc
    with pytest.raises(EncryptionKeyError, match="is encrypted"):
        replay(d, None)
    plain = str(tmp_path / "plain")
    os.makedirs(plain)
    write(plain, 2, cipher=None)
    with pytest.raises(EncryptionKeyError, match="not encrypted, but an encryption key"):
        replay(plain, KEY)


def test_torn_encrypted_header_is_a_torn_creation(tmp_path: object) -> None:
    d = str(tmp_path)
    write(d, 2)
    w = WalWriter(FileSystem(), d, wal_segment_name, FsyncPolicy.never(), 1 << 20, 3, cipher=KEY)
    path = w.current_path
    w._file.close()
    os.truncate(path, 30)  # created, header cut short (it is 48 bytes encrypted)
    got, r = replay(d)
    assert [s for s, _ in got] == [1, 2] and r.report.torn_segment == path
