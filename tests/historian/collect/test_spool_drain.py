"""The spool drain against a real nats-server: bad files are quarantined, big ones split,
and a failed spool write never counts as spooled (faults through ``historian.fs``)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import numpy as np
import pytest
from nats.aio.client import Client as NATS

from harness.services import NatsServer
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import (
    DEFAULT_MAX_POINTS,
    OversizedMessageError,
    batch_id,
    decode_batch,
    encode_batch,
)
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.fs import FaultyFileSystem, SimulatedCrash
from historian.model import PointBatch

pytestmark = [pytest.mark.service]

OPTS = BusOptions(ack_timeout_s=1.0, publish_attempts=2, retry_backoff_max_s=0.2)
SOURCE = "src-spool"


def _batch(i: int, n: int = 50) -> PointBatch:
    series = np.arange(n, dtype=np.uint32)
    return PointBatch.from_arrays(series, np.full(n, 10**9 * (i + 1)), series * 0.25 + i)


def _spool_batches(spool: DiskSpool, count: int, n: int = 50) -> list[int]:
    seqs = []
    for i in range(count):
        seq = 1_000 + i
        spool.put(seq, batch_id(SOURCE, seq), encode_batch(_batch(i, n), source_id=SOURCE,
                                                            sequence=seq))  # fmt: skip
        seqs.append(seq)
    return seqs


def _file(spool: DiskSpool, seq: int) -> Path:
    return spool.directory / f"{seq:020d}.tbwb"  # the name the format page gives


async def _until(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()


async def _stream_messages(nc: NATS, opts: BusOptions, expect: int) -> list[bytes]:
    js = nc.jetstream()
    sub = await js.pull_subscribe(opts.batch_subject(0), stream=opts.stream)
    out: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + 10
    while len(out) < expect and asyncio.get_running_loop().time() < deadline:
        try:
            msgs = await sub.fetch(expect - len(out), timeout=1)
        except TimeoutError:  # nats-py raises its own subclass or the plain one
            continue
        out.extend(m.data for m in msgs)
    # nothing beyond what we expect
    with pytest.raises(asyncio.TimeoutError):
        await sub.fetch(1, timeout=0.3)
    return out


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[NATS]:
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream(), OPTS)
    try:
        yield nc
    finally:
        await nc.close()


async def test_undecodable_spool_files_are_quarantined_and_the_rest_drains(
    bus: NATS, tmp_path: Path
) -> None:
    spool = DiskSpool(tmp_path / "spool")
    seqs = _spool_batches(spool, 11)
    flipped, truncated = _file(spool, seqs[3]), _file(spool, seqs[7])
    raw = bytearray(flipped.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    flipped.write_bytes(bytes(raw))
    truncated.write_bytes(truncated.read_bytes()[:-9])
    bad = {flipped.name: flipped.read_bytes(), truncated.name: truncated.read_bytes()}

    acked: list[str] = []
    fwd = BatchForwarder(bus, OPTS, SOURCE, spool, on_ack=lambda mid, b: acked.append(mid))
    stop = asyncio.Event()
    task = asyncio.create_task(fwd.run(stop))
    try:
        assert await _until(lambda: len(acked) == 9 and len(spool) == 0, 15), (acked, fwd.metrics)
    finally:
        stop.set()
        await task
    good = [s for s in seqs if s not in (seqs[3], seqs[7])]
    assert acked == [batch_id(SOURCE, s) for s in good]
    assert fwd.metrics.batches_quarantined == 2 and spool.quarantined == 2
    quarantined = {p.name: p.read_bytes() for p in (spool.directory / "quarantine").iterdir()}
    assert quarantined == bad  # the evidence is kept byte for byte
    assert DiskSpool(tmp_path / "spool").quarantined == 2  # still reported after a restart
    stored = [decode_batch(m).sequence for m in await _stream_messages(bus, OPTS, 9)]
    assert stored == good  # the bad files were never published


async def test_spool_file_whose_id_line_does_not_match_its_batch_is_quarantined(
    bus: NATS, tmp_path: Path
) -> None:
    spool = DiskSpool(tmp_path / "spool")
    seqs = _spool_batches(spool, 3)
    path = _file(spool, seqs[1])
    path.write_bytes(path.read_bytes().replace(b"src-spool/", b"src-spoo!/", 1))
    fwd = BatchForwarder(bus, OPTS, SOURCE, spool)
    stop = asyncio.Event()
    task = asyncio.create_task(fwd.run(stop))
    try:
        assert await _until(lambda: len(spool) == 0, 15)
    finally:
        stop.set()
        await task
    assert fwd.metrics.batches_quarantined == 1 and fwd.metrics.batches_drained == 2


@pytest.fixture
async def small_payload_bus(tmp_path: Path) -> AsyncIterator[tuple[NATS, int]]:
    srv = NatsServer(tmp_path / "nats-small", extra_config="max_payload: 65536").start()
    nc = await nats.connect(srv.url)
    await ensure_streams(nc.jetstream(), OPTS)
    try:
        yield nc, 65536
    finally:
        await nc.close()
        srv.close()


async def test_batches_are_cut_to_the_servers_max_payload(
    small_payload_bus: tuple[NATS, int], tmp_path: Path
) -> None:
    nc, max_payload = small_payload_bus
    assert nc.max_payload == max_payload
    spool = DiskSpool(tmp_path / "spool")
    acked_points = 0

    def on_ack(mid: str, b: PointBatch) -> None:
        nonlocal acked_points
        acked_points += len(b)

    fwd = BatchForwarder(nc, OPTS, SOURCE, spool, batch_points=10_000, on_ack=on_ack)
    stop = asyncio.Event()
    task = asyncio.create_task(fwd.run(stop))
    n = 25_000
    series = np.arange(n, dtype=np.uint32) % 500
    fwd.add(PointBatch.from_arrays(series, np.arange(n) * 1000, np.arange(n) * 0.5))
    try:
        assert await _until(lambda: acked_points == n, 15), fwd.metrics
    finally:
        stop.set()
        await task
    assert len(spool) == 0 and fwd.metrics.publish_errors == []
    assert fwd.metrics.batches_split >= 1
    assert 1000 < fwd.points_per_message() < max_payload // 22
    msgs = await _stream_messages(nc, OPTS, fwd.metrics.batches_acked)
    assert all(len(m) <= max_payload for m in msgs)
    values = np.concatenate([decode_batch(m).batch.values for m in msgs])
    assert np.array_equal(values, np.arange(n) * 0.5)  # every point once, in order

    with pytest.raises(OversizedMessageError, match="does not fit one message"):
        await fwd.send_batch(PointBatch.from_arrays(series, np.arange(n), series * 1.0), 1)


async def test_a_spooled_batch_too_big_for_the_server_drains_in_parts(
    small_payload_bus: tuple[NATS, int], tmp_path: Path
) -> None:
    nc, max_payload = small_payload_bus
    spool = DiskSpool(tmp_path / "spool")  # spooled before the limit was known
    [seq] = _spool_batches(spool, 1, n=9_000)
    assert spool.size_bytes > max_payload
    acked: list[tuple[str, int]] = []
    fwd = BatchForwarder(nc, OPTS, SOURCE, spool, on_ack=lambda m, b: acked.append((m, len(b))))
    stop = asyncio.Event()
    task = asyncio.create_task(fwd.run(stop))
    try:
        assert await _until(lambda: len(spool) == 0, 15), fwd.metrics
    finally:
        stop.set()
        await task
    assert acked == [(batch_id(SOURCE, seq), 9_000)]  # acked once, whole
    parts = fwd.metrics.batches_split
    assert parts == 1
    msgs = [decode_batch(m) for m in await _stream_messages(nc, OPTS, 4)]
    assert {d.sequence for d in msgs} == {seq}
    assert sum(len(d.batch) for d in msgs) == 9_000


async def test_messages_never_exceed_the_wire_point_limit(tmp_path: Path) -> None:
    srv = NatsServer(tmp_path / "nats-big", extra_config="max_payload: 8388608").start()
    nc = await nats.connect(srv.url)
    try:
        opts = dataclasses.replace(OPTS, max_msg_bytes=8 * 1024**2, max_points_per_message=10**6)
        fwd = BatchForwarder(nc, opts, SOURCE, DiskSpool(tmp_path / "spool"), batch_points=10**6)
        assert fwd.points_per_message() == DEFAULT_MAX_POINTS
    finally:
        await nc.close()
        srv.close()


async def test_a_failed_fsync_while_spooling_does_not_count_as_spooled(tmp_path: Path) -> None:
    fs = FaultyFileSystem()
    spool = DiskSpool(tmp_path / "spool", fs=fs)
    fs.faults.fsync_error = True
    acked: list[str] = []
    nc = NATS()  # never connected: every batch goes to the spool
    fwd = BatchForwarder(nc, OPTS, SOURCE, spool, on_ack=lambda m, b: acked.append(m))
    seq, _ = fwd.reserve()
    await fwd.send_batch(_batch(0), seq)
    assert fwd.metrics.batches_spooled == 0
    assert fwd.metrics.spool_write_errors == 1 and fwd.metrics.points_refused == 50
    assert len(spool) == 0 and spool.size_bytes == 0 and acked == []
    assert list((tmp_path / "spool").iterdir()) == []  # no temp file left behind
    fs.faults.fsync_error = False
    seq, _ = fwd.reserve()
    await fwd.send_batch(_batch(1), seq)
    assert fwd.metrics.batches_spooled == 1 and len(spool) == 1
    # what was spooled survives a power cut; a reopened spool sees exactly it
    fs.crash()
    assert DiskSpool(tmp_path / "spool").sequences() == [seq]


@pytest.mark.parametrize("point", ["before_rename", "before_dir_sync"])
def test_a_power_cut_mid_spool_write_leaves_whole_batches_only(tmp_path: Path, point: str) -> None:
    fs = FaultyFileSystem()
    spool = DiskSpool(tmp_path / "spool", fs=fs)
    payload = encode_batch(_batch(0), source_id=SOURCE, sequence=1)
    spool.put(1, batch_id(SOURCE, 1), payload)
    fs.faults.crash_at = f"{_file(spool, 2).name}.{point}"
    with pytest.raises(SimulatedCrash):
        spool.put(2, batch_id(SOURCE, 2), encode_batch(_batch(1), source_id=SOURCE, sequence=2))
    reopened = DiskSpool(tmp_path / "spool")  # after the cut: the real file system
    assert reopened.sequences() == [1]  # batch 2 was never reported spooled, and is gone
    [item] = reopened.oldest(10)
    assert item.payload == payload and not list((tmp_path / "spool").glob("*.tmp"))
