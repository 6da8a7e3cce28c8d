"""Properties of the spool file format (historian/docs/format/spool.md), no server needed.

* put -> oldest gives back the publish id and the TBWB message byte for byte,
  and the drain's check accepts it;
* any single bit flipped anywhere in a spool file (id line, separator, message)
  makes the drain's check refuse it (so it is quarantined, never published).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.bus.wire import batch_id, decode_batch, encode_batch
from historian.collect.drain import check_spooled
from historian.collect.spool import DiskSpool
from historian.model import PointBatch
from tests.strategies import series_chunks

SOURCE = "collector-7"


def _batch(chunk: tuple[np.ndarray, np.ndarray, np.ndarray]) -> PointBatch:
    ts, values, quality = chunk
    return PointBatch.from_arrays(np.full(len(ts), 3, np.uint32), ts, values, quality)


@settings(max_examples=60, deadline=None)
@given(chunk=series_chunks(max_size=200), seq=st.integers(0, 2**63 - 1), resend=st.booleans())
def test_put_then_oldest_round_trips_and_passes_the_check(
    chunk: tuple[np.ndarray, np.ndarray, np.ndarray],
    seq: int,
    resend: bool,
) -> None:
    payload = encode_batch(_batch(chunk), source_id=SOURCE, sequence=seq)
    msg_id = batch_id(SOURCE, seq) + ("~17" if resend else "")
    with tempfile.TemporaryDirectory() as d:
        spool = DiskSpool(Path(d))
        spool.put(seq, msg_id, payload)
        [item] = DiskSpool(Path(d)).oldest(10)
    assert (item.sequence, item.msg_id, item.payload) == (seq, msg_id, payload)
    checked = check_spooled(item)
    assert not isinstance(checked, str), checked
    assert np.array_equal(checked.batch.values, decode_batch(payload).batch.values, equal_nan=True)


@settings(max_examples=300, deadline=None)
@given(chunk=series_chunks(max_size=50), seq=st.integers(0, 2**40), data=st.data())
def test_any_single_bit_flip_in_a_spool_file_is_refused(
    chunk: tuple[np.ndarray, np.ndarray, np.ndarray],
    seq: int,
    data: st.DataObject,
) -> None:
    payload = encode_batch(_batch(chunk), source_id=SOURCE, sequence=seq)
    record = bytearray(batch_id(SOURCE, seq).encode() + b"\n" + payload)
    bit = data.draw(st.integers(0, len(record) * 8 - 1))
    record[bit // 8] ^= 1 << (bit % 8)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / f"{seq:020d}.tbwb").write_bytes(bytes(record))
        [item] = DiskSpool(Path(d)).oldest(10)
    assert isinstance(check_spooled(item), str)
