"""Edge leaf nodes with real nats-servers: a leaf in domain ``edge``, a hub sourcing it.

A collector's forwarder publishes to the leaf at a steady open-model rate; mid-run
the leaf->hub leafnode link is blackholed through a FaultProxy, then healed.
What must hold: the leaf acknowledges every batch during the cut (nothing
spools), the hub's stream receives nothing while cut, and after the heal every
batch arrives in the hub's stream exactly once (one message per ``Nats-Msg-Id``)
and is consumed by a real historian server into a real store, where every point
reads back unchanged. The drain (backlog points / time from the hub's stream
growing again to the historian's consumer having acked the last backlog batch) is
measured and printed; the 5-minute cut of the issue's
target runs under ``-m soak``::

    .venv/bin/pytest tests/harness/run/test_edge.py -m soak -s -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.accounting import Ledger, read_back
from harness.load.synthetic import SyntheticSource
from harness.run.scenario_stack import IngestProcess
from harness.services.edge import EdgeBus
from historian import Historian, Options
from historian.bus.edge import domain_api
from historian.bus.options import BusOptions
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.model import PointBatch
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service]

OPTS = BusOptions(ack_timeout_s=2.0, publish_window=256)
SOURCE = "edge-collector"
BATCH_POINTS = 1_000
N_SERIES = 500


@dataclass
class EdgeRun:
    """What one cut-and-heal run measured."""

    batches: int = 0
    acked_during_cut: int = 0
    sent_during_cut: int = 0
    hub_msgs_at_cut: int = 0
    hub_msgs_before_heal: int = 0
    backlog_points: int = 0
    resume_s: float = 0.0
    drain_s: float = 0.0
    hub_msgs: int = 0
    hub_unique_ids: int = 0
    spooled: int = 0
    accounting: dict[str, int] = field(default_factory=dict)

    @property
    def drain_pts_s(self) -> float:
        return self.backlog_points / max(self.drain_s, 1e-3)


async def _until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


async def _hub_ids(js: nats.js.JetStreamContext) -> list[str]:
    """Every message's Nats-Msg-Id in the hub's batch stream, in stream order."""
    sub = await js.pull_subscribe(OPTS.all_batch_subjects(), stream=OPTS.stream)
    ids: list[str] = []
    total = (await js.stream_info(OPTS.stream)).state.messages
    try:
        while len(ids) < total:
            for msg in await sub.fetch(512, timeout=10):
                ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))
                await msg.ack()
    finally:
        await sub.unsubscribe()
    return ids


async def _watch_drain(
    js: nats.js.JetStreamContext,
    run: EdgeRun,
    sent_before_heal: int,
    healed_at: float,
    timeout_s: float,
) -> None:
    """From the heal: ``resume_s`` = the hub's stream grows again (sourcing resumed), done =
    the historian's consumer has acked every message up to the last batch sent before the
    heal (the stream's sequences are 1..n: nothing is ever deleted here)."""
    t_heal = healed_at
    start = run.hub_msgs_before_heal
    resumed: float | None = None
    while time.monotonic() - t_heal < timeout_s:
        msgs = (await js.stream_info(OPTS.stream)).state.messages
        if resumed is None and msgs > start:
            resumed = time.monotonic()
        if msgs >= sent_before_heal:
            info = await js.consumer_info(OPTS.stream, OPTS.consumer_name(0))
            floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
            if floor >= sent_before_heal:
                assert resumed is not None
                run.resume_s = resumed - t_heal
                run.drain_s = time.monotonic() - resumed
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the backlog was not drained within {timeout_s:g} s of the heal")


async def _cut_and_drain(
    tmp_path: Path, *, rate_pts_s: float, before_s: float, cut_s: float, after_s: float
) -> EdgeRun:
    run = EdgeRun()
    edge = await EdgeBus(tmp_path / "edge", bus=OPTS).start_async()
    # a real historian server process, as in a scenario: its CPU is not this test's loop
    ingest = IngestProcess(
        tmp_path / "hist", edge.hub_url, tmp_path / "historian.log", notify_url=edge.hub_url
    )
    stop_fwd = asyncio.Event()
    acked: set[int] = set()
    nc_hub = await nats.connect(edge.hub_url)
    nc_leaf = await nats.connect(edge.leaf_url, max_reconnect_attempts=-1)
    series = np.arange(1, N_SERIES + 1, dtype=np.uint32)
    source = SyntheticSource(series, seed=7, start_ns=time.time_ns())
    ledger = Ledger(expected_values=source.expected_values)
    sizes: dict[int, int] = {}
    watch: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(ingest.start)
        hub_js = nc_hub.jetstream()

        def on_ack(mid: str, batch: PointBatch) -> None:
            ledger.mark_acked(mid)
            acked.add(int(mid.rsplit("/", 1)[1]))

        spool = DiskSpool(tmp_path / "spool", fsync=False)
        fwd = BatchForwarder(nc_leaf, OPTS, SOURCE, spool, on_ack=on_ack)
        fwd_task = asyncio.create_task(fwd.run(stop_fwd))

        interval = BATCH_POINTS / rate_pts_s
        t0 = time.monotonic()
        cut_at, heal_at, end_at = before_s, before_s + cut_s, before_s + cut_s + after_s
        cut_seqs: list[int] = []
        state = "up"
        i = 0
        while True:
            now = time.monotonic() - t0
            if state == "up" and now >= cut_at:
                run.hub_msgs_at_cut = (await hub_js.stream_info(OPTS.stream)).state.messages
                await edge.cut()
                state = "cut"
            elif state == "cut" and now >= heal_at:
                run.acked_during_cut = sum(1 for s in cut_seqs if s in acked)
                run.hub_msgs_before_heal = (await hub_js.stream_info(OPTS.stream)).state.messages
                run.backlog_points = (len(sizes) - run.hub_msgs_before_heal) * BATCH_POINTS
                healed_at = time.monotonic()
                await edge.heal()
                watch = asyncio.create_task(_watch_drain(hub_js, run, len(sizes), healed_at, 600.0))
                state = "healed"
            if now >= end_at:
                break
            # open model: batch i is due at t0 + i * interval, whatever the bus does
            due = i * interval
            if due > now:
                await asyncio.sleep(due - now)
                continue
            seq, mid = fwd.reserve()
            batch = source.batch(int(due * 1e9), BATCH_POINTS)
            ledger.record(mid, batch, state)
            sizes[seq] = len(batch)
            if state == "cut":
                cut_seqs.append(seq)
            await fwd.send_batch(batch, seq)
            i += 1
        run.sent_during_cut = len(cut_seqs)
        run.batches = len(sizes)
        await fwd.flush(timeout=60)
        stop_fwd.set()
        await fwd_task
        run.spooled = fwd.metrics.batches_spooled
        assert watch is not None
        await watch
        # every batch in the hub before judging (sourcing may still be delivering the
        # batches sent after the heal), then every one consumed
        deadline = time.monotonic() + 300
        while (await hub_js.stream_info(OPTS.stream)).state.messages < run.batches:
            if time.monotonic() > deadline:
                break  # the checks below say how many are missing
            await asyncio.sleep(0.1)
        await wait_consumed(hub_js, OPTS, timeout_s=120)
        ids = await _hub_ids(hub_js)
        run.hub_msgs, run.hub_unique_ids = len(ids), len(set(ids))
    finally:
        stop_fwd.set()
        if watch is not None:
            watch.cancel()
        await nc_leaf.close()
        await nc_hub.close()
        await asyncio.to_thread(ingest.stop)
        await edge.close_async()
    db = Historian.open(str(tmp_path / "hist"), Options())
    try:
        acc = ledger.reconcile(read_back(db, series.tolist(), 0, 2**62))
    finally:
        db.close()
    run.accounting = {k: int(v) for k, v in vars(acc.total).items()}
    return run


def _check(run: EdgeRun, rate_pts_s: float) -> None:
    print(
        f"\nedge drain: backlog {run.backlog_points:,} points, resumed {run.resume_s:.2f} s "
        f"after the heal, drained in {run.drain_s:.2f} s = {run.drain_pts_s:,.0f} points/s "
        f"= {run.drain_pts_s / rate_pts_s:.1f} x nominal ({rate_pts_s:,.0f} points/s)"
    )
    # the leaf took every batch while the uplink was cut: acked, nothing spooled
    assert run.sent_during_cut > 0
    assert run.acked_during_cut == run.sent_during_cut
    assert run.spooled == 0
    # and the link really was cut: the hub's stream did not grow
    assert run.hub_msgs_before_heal == run.hub_msgs_at_cut
    # after the heal: every batch in the hub exactly once, every point stored unchanged
    assert run.hub_msgs == run.batches
    assert run.hub_unique_ids == run.batches
    acc = run.accounting
    assert acc["produced"] == acc["acknowledged"] == acc["stored"] == run.batches * BATCH_POINTS
    assert acc["lost"] == acc["duplicated"] == acc["changed"] == acc["unacked_missing"] == 0
    assert run.backlog_points >= run.sent_during_cut * BATCH_POINTS
    # a drain slower than the nominal rate would never catch up
    assert run.drain_pts_s > rate_pts_s


@pytest.mark.slow
async def test_leaf_acks_through_a_cut_and_the_hub_gets_every_batch_once(
    tmp_path: Path,
) -> None:
    rate = 20_000.0
    run = await _cut_and_drain(tmp_path, rate_pts_s=rate, before_s=2.0, cut_s=8.0, after_s=5.0)
    _check(run, rate)


@pytest.mark.soak
@pytest.mark.timeout(1200)
async def test_five_minute_cut_drains_at_ten_times_nominal(tmp_path: Path) -> None:
    rate = 50_000.0  # the partitioned scenario's nominal rate
    run = await _cut_and_drain(tmp_path, rate_pts_s=rate, before_s=10.0, cut_s=300.0, after_s=30)
    _check(run, rate)
    assert run.drain_pts_s >= 10 * rate, f"drain {run.drain_pts_s / rate:.1f} x nominal"


async def test_a_batch_reaches_the_hub_only_through_sourcing(tmp_path: Path) -> None:
    """Without the remote's deny list the hub's stream would also capture every batch
    published to the leaf (subject interest crosses the link): batches without a
    Nats-Msg-Id would be stored twice, and every batch would get a second ack."""
    edge = await EdgeBus(tmp_path / "edge", bus=OPTS, proxy_link=False).start_async()
    nc_leaf, nc_hub = await nats.connect(edge.leaf_url), await nats.connect(edge.hub_url)
    try:
        leaf_js, hub_js = nc_leaf.jetstream(), nc_hub.jetstream()
        for i in range(10):
            ack = await leaf_js.publish(OPTS.batch_subject(0), b"batch %d" % i)
            assert ack.domain == edge.domain
        deadline = time.monotonic() + 30
        while (await hub_js.stream_info(OPTS.stream)).state.messages < 10:
            assert time.monotonic() < deadline, "the hub never sourced the leaf's batches"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a direct copy would have arrived with the sourced one
        info = await hub_js.stream_info(OPTS.stream)
        assert info.state.messages == 10
        for seq in range(1, 11):
            msg = await hub_js.get_msg(OPTS.stream, seq)
            assert msg.data == b"batch %d" % (seq - 1)
            assert "Nats-Stream-Source" in (msg.headers or {})
    finally:
        await nc_leaf.close()
        await nc_hub.close()
        await edge.close_async()


@pytest.mark.slow
async def test_with_the_leaf_down_the_collector_spools_and_the_hub_still_gets_everything(
    tmp_path: Path,
) -> None:
    """The disk spool stays the last line: the leaf SIGKILLed, batches spool; the leaf back
    on its own store, the spool drains into it and the hub sources every batch once."""
    edge = await EdgeBus(tmp_path / "edge", bus=OPTS, proxy_link=False).start_async()
    nc_leaf = await nats.connect(edge.leaf_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    nc_hub = await nats.connect(edge.hub_url)
    acked: set[str] = set()
    stop = asyncio.Event()
    spool = DiskSpool(tmp_path / "spool", fsync=False)
    fwd = BatchForwarder(nc_leaf, OPTS, SOURCE, spool, on_ack=lambda mid, _b: acked.add(mid))
    fwd_task = asyncio.create_task(fwd.run(stop))
    source = SyntheticSource(np.arange(1, 101, dtype=np.uint32), seed=3, start_ns=time.time_ns())
    sent: list[str] = []

    async def send(n: int) -> None:
        for _ in range(n):
            seq, mid = fwd.reserve()
            await fwd.send_batch(source.batch(0, 100), seq)
            sent.append(mid)

    try:
        await send(20)
        await _until(lambda: len(acked) == 20, 30, "acks from the leaf")
        await asyncio.to_thread(edge.leaf.kill)
        await _until(lambda: not nc_leaf.is_connected, 30, "the collector to see the leaf gone")
        await send(30)
        assert fwd.metrics.batches_spooled == 30 and len(spool) > 0
        await asyncio.to_thread(edge.leaf.restart)
        await edge.wait_linked()
        await edge.restart_sourcing()  # the hub's own retry backoff would wait ~40 s here
        await fwd.flush(timeout=60)
        await _until(lambda: len(acked) == 50, 60, "every spooled batch acked by the leaf")
        hub_js = nc_hub.jetstream()
        deadline = time.monotonic() + 60
        while (await hub_js.stream_info(OPTS.stream)).state.messages < 50:
            assert time.monotonic() < deadline, "the hub did not source every batch"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # nothing more may arrive
        ids = await _hub_ids(hub_js)
        assert sorted(ids) == sorted(sent) and len(spool) == 0
    finally:
        stop.set()
        await asyncio.gather(fwd_task, return_exceptions=True)
        await nc_leaf.close()
        await nc_hub.close()
        await edge.close_async()


def test_domain_api_refuses_a_domain_that_is_not_one_token() -> None:
    assert domain_api("site-07") == "$JS.site-07.API"
    for bad in ("", "a.b", "edge*", "x>"):
        with pytest.raises(ValueError, match="one token"):
            domain_api(bad)
