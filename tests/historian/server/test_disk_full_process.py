"""A real full disk under the real server process (issue 11, defect 1, end to end).

The store lives on a size-limited tmpfs (needs root; skipped otherwise). The
disk fills mid-stream: nothing may be acked or dead-lettered while it is full,
/healthz must say so, and once the tmpfs grows every batch is stored exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import numpy as np
import pytest

from harness.services import NatsServer
from historian import Historian
from historian.bus.options import BusOptions
from historian.bus.wire import encode_batch
from historian.model import NS_PER_SECOND as NS
from historian.model import PointBatch
from tests.bus_waits import wait_consumed

pytestmark = [pytest.mark.service, pytest.mark.slow]

OPTS = BusOptions()
N_SERIES = 1_000
N_BATCHES = 150  # ~22 KB of WAL each: ~3.3 MB, the tmpfs holds 2 MB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=False)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _health(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), str(json.loads(r.read())["status"])
    except urllib.error.HTTPError as exc:
        return int(exc.code), str(json.loads(exc.read())["status"])


async def test_full_disk_pauses_the_server_and_nothing_is_lost(
    nats_server: NatsServer, small_disk: Path, tmp_path: Path
) -> None:
    data, ready = small_disk / "hist", tmp_path / "ready.json"
    argv = [sys.executable, "-m", "historian.server", str(data), "--nats", nats_server.url,
            "--metrics-port", "0", "--ready-file", str(ready)]  # fmt: skip
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        health = json.loads(ready.read_text())["metrics"] + "/healthz"
        now = time.time_ns()
        series = np.arange(1, N_SERIES + 1, dtype=np.uint32)
        for i in range(N_BATCHES):
            b = PointBatch.from_arrays(series, np.full(N_SERIES, now + i * NS), series + i * 0.5)
            await js.publish(OPTS.batch_subject(0), encode_batch(b, source_id="t", sequence=i))

        deadline = time.monotonic() + 60
        while (got := await asyncio.to_thread(_health, health)) != (503, "backing-off"):
            assert time.monotonic() < deadline and proc.poll() is None, (got, log.read_text())
            await asyncio.sleep(0.1)
        info = await js.consumer_info(OPTS.stream, OPTS.consumer_name(0))
        assert 0 < info.ack_floor.stream_seq < N_BATCHES  # stuck, not skipping ahead
        assert (await js.stream_info(f"{OPTS.stream}_DLQ")).state.messages == 0
        assert "DiskFullError" in log.read_text()

        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        await wait_consumed(js, OPTS, timeout_s=60)
        deadline = time.monotonic() + 30
        while (got := await asyncio.to_thread(_health, health)) != (200, "ok"):
            assert time.monotonic() < deadline, got
            await asyncio.sleep(0.1)
        assert (await js.stream_info(f"{OPTS.stream}_DLQ")).state.messages == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await nc.close()
    db = Historian.open(str(data))
    try:
        for s in (1, 500, N_SERIES):
            ts, values, _ = db.read(s, 0, 2**62)
            assert np.array_equal(ts, now + np.arange(N_BATCHES) * NS)  # every batch, once
            assert np.array_equal(values, s + np.arange(N_BATCHES) * 0.5)
    finally:
        db.close()
