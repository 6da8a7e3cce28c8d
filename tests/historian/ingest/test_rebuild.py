"""Event sourcing: a store rebuilt from the stream reads the same as the live one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from harness.services.net import free_port
from historian import Historian, Options
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_streams
from historian.bus.wire import encode_batch
from historian.ingest.rebuild import RebuildError, rebuild
from historian.ingest.service import serve
from historian.model import PointBatch
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service]


async def test_rebuild_matches_the_live_store(tmp_path: Path) -> None:
    opts = BusOptions(fetch_timeout_s=0.2)
    with NatsServer(tmp_path / "nats") as srv:
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await ensure_streams(js, opts)
        rng = np.random.default_rng(5)
        for i in range(40):
            b = PointBatch.from_arrays(
                rng.integers(1, 30, 200), 10**18 + rng.integers(0, 10**9, 200),
                np.round(rng.normal(50, 5, 200), 2),
            )  # fmt: skip
            await js.publish(opts.batch_subject(0), encode_batch(b, source_id="s", sequence=i))
        await js.publish(opts.batch_subject(0), b"garbage that is not a TBWB batch at all")
        live = Historian.open(str(tmp_path / "live"), Options())
        stop = asyncio.Event()
        port = free_port()
        task = asyncio.create_task(
            serve(live, srv.url, opts, [0], tmp_path, stop, announce=False, metrics_port=port)
        )
        await wait_consumed(js, opts)
        # the metrics page is refreshed every export period (1 s): poll it until the
        # counts of the consumed stream show, with a deadline, not after a fixed sleep
        counted = 'twinbench_ingest_points_total{partition="0"} 8000.0'
        deadline = time.monotonic() + 60.0
        text = ""
        while counted not in text and time.monotonic() < deadline:
            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            )
            text = body.decode()
            if counted not in text:
                await asyncio.sleep(0.1)
        assert counted in text, text[-2000:]
        assert 'twinbench_ingest_dead_lettered_total{partition="0"} 1.0' in text
        assert "twinbench_ingest_consumer_lag_messages" in text
        stop.set()
        await task
        result = await rebuild(srv.url, tmp_path / "rebuilt", opts)
        assert result.messages == 41 and result.undecodable == 1
        with pytest.raises(RebuildError, match="not empty"):
            await rebuild(srv.url, tmp_path / "rebuilt", opts)
        cli = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "harness.cli.app", "historian", "rebuild", "--nats", srv.url,
             str(tmp_path / "rebuilt-cli")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert "41 messages" in cli.stdout and "1 undecodable" in cli.stdout
        await nc.close()
    rebuilt = Historian.open(str(tmp_path / "rebuilt"), Options())
    try:
        for s in range(1, 30):
            want: tuple[np.ndarray, ...] = live.read(s, 0, 2**62)
            got: tuple[np.ndarray, ...] = rebuilt.read(s, 0, 2**62)
            for x, y in zip(want, got, strict=True):
                assert np.array_equal(x, y)
        assert live.stats().points == rebuilt.stats().points > 0
    finally:
        live.close()
        rebuilt.close()
