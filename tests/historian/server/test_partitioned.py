"""Partitioned ingest across ``historian serve --node`` processes, real nats-server.

A 4-partition stream; series ``s`` is published on partition ``(s - 1) % 4`` (each
series in exactly one partition). The processes share the assignment table (a
JetStream KV bucket). Counted exactly in the stores (opened after the processes
stop): every published point is stored once across them, none twice, also when a
third process joins mid-stream and two partitions move; a tag's query at any
process is routed to the store(s) holding it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nats
import numpy as np
import pytest
from nats.js import JetStreamContext

from harness.services import NatsServer
from historian import Historian
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch
from historian.server.assignment import AssignmentTable, target_owner
from tests.bus_waits import wait_consumed
from tests.historian.serve_process import ServeProcess

pytestmark = [pytest.mark.service, pytest.mark.slow]

PARTITIONS = 4
SERIES = range(1, 17)
PER_BATCH_TS = 5  # timestamps per series per batch
OPTS = BusOptions(partitions=PARTITIONS)
SERVE = [sys.executable, "-m", "historian.server"]


def tag(s: int) -> str:
    return f"acme.site1.area1.line1.cell{s}.pump.flow"


CATALOGUE = 'format = "twinbench-catalogue"\nversion = 1\n' + "".join(
    f'\n[[tag]]\nid = {s}\npath = "{tag(s)}"\nlegacy_name = "FI{s}"\nunit = "m3/h"\n'
    f'low = 0.0\nhigh = 1e6\ndtype = "float64"\ndescription = "flow {s}"\n'
    for s in SERIES
)


def partition_of_series(s: int) -> int:
    return (s - 1) % PARTITIONS


def series_of(p: int) -> list[int]:
    return [s for s in SERIES if partition_of_series(s) == p]


class Publisher:
    """Batch ``k`` of partition ``p``: its series at timestamps base + (k*5 .. k*5+4) s."""

    def __init__(self, js: JetStreamContext, base_ns: int) -> None:
        self.js = js
        self.base_ns = base_ns
        self.next_batch = dict.fromkeys(range(PARTITIONS), 0)

    async def publish(self, batches_per_partition: int) -> None:
        for _ in range(batches_per_partition):
            for p in range(PARTITIONS):
                k = self.next_batch[p]
                self.next_batch[p] = k + 1
                series = np.repeat(np.array(series_of(p), np.uint32), PER_BATCH_TS)
                offs = np.tile(np.arange(PER_BATCH_TS), len(series_of(p))) + k * PER_BATCH_TS
                ts = self.base_ns + offs.astype(np.int64) * NS
                batch = PointBatch.from_arrays(series, ts, series * 1000.0 + offs)
                payload = encode_batch(batch, source_id=f"src-p{p}", sequence=k + 1)
                await self.js.publish(
                    OPTS.batch_subject(p), payload, headers={"Nats-Msg-Id": f"p{p}-{k}"}
                )

    def expected(self) -> set[tuple[int, int]]:
        out: set[tuple[int, int]] = set()
        for p, n in self.next_batch.items():
            for s in series_of(p):
                out |= {(s, self.base_ns + i * NS) for i in range(n * PER_BATCH_TS)}
        return out


def start_node(tmp: Path, nats_url: str, node: str) -> ServeProcess:
    (tmp / node).mkdir()
    return ServeProcess(
        SERVE,
        tmp / node,
        CATALOGUE,
        None,
        ["--http", "127.0.0.1:0"],
        ["--nats", nats_url, "--partitions", str(PARTITIONS), "--node", node,
         "--durability", "os"],
        ready_timeout_s=90,
    )  # fmt: skip


async def wait_assigned(js: JetStreamContext, nodes: list[str], timeout_s: float = 60) -> None:
    """Until every partition is owned (not in handover) by its target among ``nodes``."""
    table = await AssignmentTable.open(js, PARTITIONS)
    deadline = time.monotonic() + timeout_s
    snap = None
    while time.monotonic() < deadline:
        snap = await table.read()
        live = snap.live_members()
        if sorted(live) == sorted(nodes) and all(
            (o := snap.partitions.get(p)) is not None
            and o.state == "owned"
            and o.owner == target_owner(p, nodes)
            for p in range(PARTITIONS)
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"assignment to {nodes} not reached: {snap}")


async def wait_all_consumed(js: JetStreamContext) -> None:
    for p in range(PARTITIONS):
        await wait_consumed(js, OPTS, p, timeout_s=60)


def stored_points(data_dir: Path) -> list[tuple[int, int]]:
    db = Historian.open(str(data_dir))
    try:
        out: list[tuple[int, int]] = []
        for s in SERIES:
            ts = db.read(s, 0, 2**62)[0]
            out += [(s, int(t)) for t in np.asarray(ts).tolist()]
        return out
    finally:
        db.close()


def assert_exactly_once(procs: list[ServeProcess], expected: set[tuple[int, int]]) -> None:
    every: list[tuple[int, int]] = []
    for proc in procs:
        assert proc.stop() == 0, proc.log.read_text()
        every += stored_points(proc.data)
    assert len(every) == len(set(every)), "a point is stored twice (in two stores or one)"
    assert set(every) == expected, (
        f"missing {len(expected - set(every))}, unexpected {len(set(every) - expected)}"
    )


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=15) as r:
        answer: dict[str, Any] = json.loads(r.read())
    return answer


async def routed(proc: ServeProcess, s: int, kind: str) -> dict[str, Any]:
    url = f"{proc.info['http']}/api/v1/tags/{tag(s)}/{kind}"
    if kind == "recorded":
        url += "?start=*-2h&end=*"
    return await asyncio.to_thread(get_json, url)


@pytest.fixture
async def bus(nats_server: NatsServer) -> Any:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, OPTS)
    yield js
    await nc.drain()


async def test_two_nodes_store_each_point_once_and_route_queries(
    tmp_path: Path, nats_server: NatsServer, bus: JetStreamContext
) -> None:
    a, b = await asyncio.gather(
        asyncio.to_thread(start_node, tmp_path, nats_server.url, "a"),
        asyncio.to_thread(start_node, tmp_path, nats_server.url, "b"),
    )
    procs = [a, b]
    try:
        await wait_assigned(bus, ["a", "b"])
        pub = Publisher(bus, (time.time_ns() // NS - 3600) * NS)
        await pub.publish(20)
        await wait_all_consumed(bus)
        # series 2 is on partition 1, which b owns: asked at a, answered with b's data
        assert target_owner(partition_of_series(2), ["a", "b"]) == "b"
        rec = await routed(a, 2, "recorded")
        assert len(rec["items"]) == 20 * PER_BATCH_TS
        assert rec["items"][0]["value"] == 2000.0
        last = await routed(a, 2, "last")
        assert last["items"][0]["value"] == 2000.0 + 20 * PER_BATCH_TS - 1
        # a's own store does not hold it: the answer did come from b
        local = urllib.request.Request(
            f"{a.info['http']}/api/v1/tags/{tag(2)}/last", headers={"X-Twinbench-Routed": "1"}
        )
        with urllib.request.urlopen(local, timeout=15) as r:
            assert json.loads(r.read())["items"] == []
        assert_exactly_once(procs, pub.expected())
    finally:
        for proc in procs:
            proc.stop()


async def test_joining_node_rebalances_mid_stream_without_loss_or_duplicates(
    tmp_path: Path, nats_server: NatsServer, bus: JetStreamContext
) -> None:
    a, b = await asyncio.gather(
        asyncio.to_thread(start_node, tmp_path, nats_server.url, "a"),
        asyncio.to_thread(start_node, tmp_path, nats_server.url, "b"),
    )
    procs = [a, b]
    try:
        await wait_assigned(bus, ["a", "b"])
        pub = Publisher(bus, (time.time_ns() // NS - 3600) * NS)
        stop = asyncio.Event()

        async def keep_publishing() -> None:
            while not stop.is_set():
                await pub.publish(1)
                await asyncio.sleep(0.01)

        task = asyncio.create_task(keep_publishing())
        await pub.publish(10)
        c = await asyncio.to_thread(start_node, tmp_path, nats_server.url, "c")
        procs.append(c)
        # [a, b] -> [a, b, c]: p2 moves a -> c and p3 moves b -> a, while batches keep coming
        await wait_assigned(bus, ["a", "b", "c"])
        moved_at = dict(pub.next_batch)
        while min(pub.next_batch[p] - moved_at[p] for p in range(PARTITIONS)) < 10:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await wait_all_consumed(bus)
        # series 3 is on p2: its points are in a's store before the handover and c's after;
        # asked at b (which never held it) the answer is the merge of both
        rec = await routed(b, 3, "recorded")
        n = pub.next_batch[2] * PER_BATCH_TS
        assert [i["value"] for i in rec["items"]] == [3000.0 + i for i in range(n)]
        assert_exactly_once(procs, pub.expected())
        assert stored_points(c.data), "the joining node stored nothing"
        a_p2 = [pt for pt in stored_points(a.data) if partition_of_series(pt[0]) == 2]
        assert a_p2, "p2's points before the handover should be in a's store"
    finally:
        for proc in procs:
            proc.stop()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--node", "a", "--http", "127.0.0.1:0"], "--node needs --nats"),
        (["--node", "a", "--nats", "nats://x:1"], "--node needs --http"),
        (
            ["--node", "a", "--nats", "nats://x:1", "--http", "127.0.0.1:0", "--partition", "0"],
            "not both",
        ),
        (["--node", "a.b", "--nats", "nats://x:1", "--http", "127.0.0.1:0"], "letters, digits"),
    ],
)
def test_node_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    from historian.server.cli import build_parser, config_from_args

    with pytest.raises(SystemExit) as exc:
        config_from_args(build_parser("serve"), [str(tmp_path), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


async def test_a_node_whose_store_refuses_writes_exits_3_with_nothing_acked(
    tmp_path: Path, nats_server: NatsServer, bus: JetStreamContext
) -> None:
    """As with static partitions: a poisoned WAL ends the server with exit 3, not a loop."""
    from historian.fs import FaultyFileSystem
    from historian.server import EXIT_STORE_UNUSABLE, HistorianServer, ServeConfig

    fs = FaultyFileSystem()
    logs: list[str] = []
    cfg = ServeConfig(
        tmp_path / "a", nats_url=nats_server.url, partitions=(), partition_count=PARTITIONS,
        node="a",
    )  # fmt: skip
    server = HistorianServer(cfg, fs=fs, log=logs.append)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    try:
        await wait_assigned(bus, ["a"])
        fs.faults.fsync_error = True
        await Publisher(bus, (time.time_ns() // NS - 3600) * NS).publish(2)
        assert await asyncio.wait_for(task, 60) == EXIT_STORE_UNUSABLE, logs
        for p in range(PARTITIONS):
            info = await bus.consumer_info(OPTS.stream, OPTS.consumer_name(p))
            assert not info.ack_floor.stream_seq, f"p{p} acked a batch it could not store"
    finally:
        stop.set()
        if not task.done():
            await task


async def test_a_crashed_node_is_taken_over_without_loss(
    tmp_path: Path, nats_server: NatsServer, bus: JetStreamContext
) -> None:
    """SIGKILL b: after its heartbeat times out a takes b's partitions over from their ack
    floors; nothing is lost (a batch b wrote but had not acked may be in both stores);
    a routed query names the dead holder (503) rather than answer without its share."""
    a, b = await asyncio.gather(
        asyncio.to_thread(start_node, tmp_path, nats_server.url, "a"),
        asyncio.to_thread(start_node, tmp_path, nats_server.url, "b"),
    )
    procs = [a, b]
    try:
        await wait_assigned(bus, ["a", "b"])
        pub = Publisher(bus, (time.time_ns() // NS - 3600) * NS)
        await pub.publish(10)
        b.proc.kill()
        b.proc.wait(timeout=10)
        await pub.publish(10)
        await wait_assigned(bus, ["a"], timeout_s=60)  # b's heartbeat is 10 s old by then
        await wait_all_consumed(bus)
        req = urllib.request.Request(f"{a.info['http']}/api/v1/tags/{tag(2)}/last")
        with pytest.raises(urllib.error.HTTPError) as err:
            await asyncio.to_thread(urllib.request.urlopen, req, None, 15)
        assert err.value.code == 503 and "b" in json.loads(err.value.read())["error"]["message"]
        assert a.stop() == 0, a.log.read_text()
        stored = set(stored_points(a.data)) | set(stored_points(b.data))
        assert stored == pub.expected(), f"missing {len(pub.expected() - stored)}"
    finally:
        for proc in procs:
            proc.stop()
