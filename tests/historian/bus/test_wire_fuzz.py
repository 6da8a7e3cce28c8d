"""Fuzzing the TBWB decoder: random and mutated messages raise only ``WireFormatError``.

Three properties, each bounded (hypothesis ``max_examples``, about a second each):

- random bytes, and random bytes behind a valid magic and version, never decode and
  never raise anything but :class:`WireFormatError`;
- a valid message with bytes flipped, inserted, deleted or cut off either raises
  :class:`WireFormatError` or (a mutation that changed nothing) decodes to the
  original: a damaged message never decodes to different points;
- a mutated message *re-sealed* with a correct CRC (what a buggy or hostile
  collector could send) raises :class:`WireFormatError` or decodes to a batch whose
  encoding is exactly the message: the decoder accepts only canonical encodings
  (zero padding, known flags, a non-empty source id, a sequence >= 0).

Inputs that once got through are kept as ``@example`` regressions.
"""

from __future__ import annotations

import struct

import crc32c
import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from historian.bus.wire import (
    MAGIC,
    VERSION,
    DecodedBatch,
    WireFormatError,
    decode_batch,
    encode_batch,
)
from historian.model import PointBatch

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _batch(n: int, seed: int) -> PointBatch:
    rng = np.random.default_rng(seed)
    return PointBatch.from_arrays(
        rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32),
        rng.integers(-(2**62), 2**62, n),
        rng.standard_normal(n),
        rng.integers(0, 2**16, n, dtype=np.uint16),
    )


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(0, 40))
    source = draw(st.text(min_size=1, max_size=12).filter(lambda s: len(s.encode()) <= 255))
    batch = _batch(n, draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        batch = batch.sorted()
    seq = draw(st.integers(0, 2**63 - 1))
    created = draw(st.integers(-(2**63), 2**63 - 1))
    return encode_batch(batch, source_id=source, sequence=seq, created_ns=created)


@st.composite
def mutated(draw: st.DrawFn, msg: bytes) -> bytes:
    out = bytearray(msg)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "extend"]))
        at = draw(st.integers(0, max(0, len(out) - 1)))
        if op == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and out:
            out[at] = draw(st.integers(0, 255))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and out:
            del out[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del out[at:]
        elif op == "extend":
            out += draw(st.binary(min_size=1, max_size=16))
    return bytes(out)


def _reseal(msg: bytes) -> bytes:
    """The message with its last four bytes replaced by the CRC of the rest."""
    if len(msg) < 4:
        return msg
    return msg[:-4] + struct.pack("<I", crc32c.crc32c(msg[:-4]))


def _same(a: DecodedBatch, b: DecodedBatch) -> bool:
    x, y = a.batch, b.batch
    return (
        (a.source_id, a.sequence, a.created_ns, x.is_sorted)
        == (b.source_id, b.sequence, b.created_ns, y.is_sorted)
        and np.array_equal(x.series, y.series)
        and np.array_equal(x.ts, y.ts)
        and np.array_equal(x.values.view(np.uint64), y.values.view(np.uint64))
        and np.array_equal(x.quality, y.quality)
    )


def _reencoded(d: DecodedBatch) -> bytes:
    return encode_batch(
        d.batch, source_id=d.source_id, sequence=d.sequence, created_ns=d.created_ns
    )


@given(st.binary(max_size=400))
@FUZZ
def test_random_bytes_raise_only_wire_format_error(data: bytes) -> None:
    for msg in (data, MAGIC + bytes([VERSION]) + data):
        try:
            decode_batch(msg)
        except WireFormatError:
            continue
        raise AssertionError(f"random bytes decoded: {msg!r}")


@given(st.data())
@FUZZ
def test_damaged_message_never_decodes_to_other_points(data: st.DataObject) -> None:
    msg = data.draw(messages())
    original = decode_batch(msg)
    bad = data.draw(mutated(msg))
    try:
        got = decode_batch(bad)
    except WireFormatError:
        return
    assert _same(got, original), "a damaged message decoded to different points"


def resealed() -> st.SearchStrategy[bytes]:
    return messages().flatmap(mutated).map(_reseal)


def _sealed(flags: int = 0, source: bytes = b"0", sequence: int = 0, pad: bytes = b"") -> bytes:
    head = struct.pack("<4sBBHIqq", MAGIC, VERSION, flags, len(source), 0, sequence, 0)
    body = head + source
    body += pad + bytes(-(len(body) + len(pad)) % 8)
    return _reseal(body + bytes(4))


@given(resealed())
@example(_sealed(pad=b"\x01"))  # found by this test: padding after the source id not checked
@example(_sealed(flags=0x80))  # unknown flag bits
@example(_sealed(source=b""))  # the encoder refuses an empty source id
@example(_sealed(sequence=-1))  # and a negative sequence
@FUZZ
def test_resealed_message_decodes_only_in_canonical_form(msg: bytes) -> None:
    try:
        got = decode_batch(msg)
    except WireFormatError:
        return
    assert _reencoded(got) == msg, "the decoder accepted a non-canonical message"
