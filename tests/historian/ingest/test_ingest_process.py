"""The real ingest process (``python -m historian.ingest``) under SIGKILL, against a real
nats-server and the real engine: every acknowledged point is stored exactly once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from historian import Historian, Options
from historian.bus.options import BusOptions
from historian.collect.forwarder import BatchForwarder
from historian.collect.spool import DiskSpool
from historian.ingest.checkpoint import checkpoint_path, load_checkpoint
from historian.model import PointBatch

pytestmark = [pytest.mark.service, pytest.mark.slow]

OPTS = BusOptions(ack_timeout_s=2.0, publish_attempts=3, fetch_timeout_s=0.2, ack_wait_s=2.0)
N_SERIES = 50
T0 = 1_700_000_000_000_000_000


def _start_ingest(data_dir: Path, url: str) -> subprocess.Popen[str]:
    """``python -m historian.ingest``: the old entry point, now an alias of the server."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "historian.ingest", "--data-dir", str(data_dir), "--nats", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the server logs its recovery report before READY
        seen.append(line)
        if line.strip() == "READY":
            return proc
    raise AssertionError("ingest exited before READY:\n" + "".join(seen))


def _batch(i: int) -> PointBatch:
    series = np.arange(1, N_SERIES + 1, dtype=np.uint32)
    ts = np.full(N_SERIES, T0 + i * 1_000_000_000, dtype=np.int64)
    return PointBatch.from_arrays(series, ts, np.round(series * 1.25 + i * 0.01, 2))


async def test_sigkilled_historian_loses_no_acked_point(tmp_path: Path) -> None:
    data = tmp_path / "hist"
    srv = NatsServer(tmp_path / "nats").start()
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(_start_ingest(data, srv.url))
        nc = await nats.connect(srv.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        acked: set[str] = set()
        fwd = BatchForwarder(
            nc,
            OPTS,
            "gen",
            DiskSpool(tmp_path / "spool"),
            batch_points=N_SERIES,
            linger_s=0.01,
            on_ack=lambda mid, b: acked.add(mid),
        )
        stop = asyncio.Event()
        ftask = asyncio.create_task(fwd.run(stop))
        n_batches = 120
        for i in range(n_batches):
            fwd.add(_batch(i))
            await asyncio.sleep(0.01)
            if i in (30, 80):  # crash the historian mid-stream, twice
                procs[-1].send_signal(signal.SIGKILL)
                procs[-1].wait()
                procs.append(_start_ingest(data, srv.url))
        await fwd.flush(timeout=30)
        stop.set()
        await ftask
        assert len(acked) == fwd.metrics.batches_built
        # wait until the consumer has applied everything, then stop the process cleanly
        for _ in range(200):
            cp = load_checkpoint(checkpoint_path(data, 0))
            js = nc.jetstream()
            info = await js.consumer_info(OPTS.stream, OPTS.consumer_name(0))
            if info.num_pending == 0 and info.num_ack_pending == 0 and cp is not None:
                break
            await asyncio.sleep(0.1)
        await nc.close()
        procs[-1].send_signal(signal.SIGTERM)
        assert procs[-1].wait(timeout=30) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        srv.close()
    db = Historian.open(str(data), Options())
    try:
        for s in (1, 17, N_SERIES):
            ts, values, _ = db.read(s, 0, 2**62)
            assert len(ts) == n_batches, (s, len(ts))  # exactly once each
            assert np.array_equal(ts, T0 + np.arange(n_batches) * 1_000_000_000)
            assert np.array_equal(values, np.round(s * 1.25 + np.arange(n_batches) * 0.01, 2))
        # stats().points counts before deduplication (a batch redelivered after the kill
        # sits twice in the memtable until a flush); reads are what must be exactly once
        stored = sum(len(db.read(s, 0, 2**62)[0]) for s in range(1, N_SERIES + 1))
        assert stored == n_batches * N_SERIES
    finally:
        db.close()
