"""A server restarted after an export crash, behind a long compaction, serves at once.

The export is SIGKILLed after its catalogue write (the day's parts listed, its hot
files still live). At restart a compaction of other buckets is held at a gate,
as a merge of a big backlog would run for tens of seconds (a restart once waited
33.5 s for one). The tier's front end must start (the server's READY waits for
it), write its first status, and run a round, each within a deadline far
shorter than the gate: the round puts the drop of the stale files off and
exports nothing, and compaction leaves their bucket alone. Once the merge ends
the next round drops them and exports the rest: every point once, as before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.services import S3Server
from historian import Historian, Options
from historian.fs import FileSystem
from historian.tier.serve import TierFrontEnd, read_status

from .conftest import DAY, T0, open_store, write_days
from .crash_config import child_config
from .test_crash import CHILD, everything, no_orphans, stored_once

S = 1_000_000_000
PROMPT_S = 10.0
"""What "at once" allows a start, a status write or a round (the merge is held 60 s)."""
GATE_S = 60.0
AFTER_CATALOGUE = ("sigkill", "tier.export.after_catalogue")


class HeldMerge(FileSystem):
    """Holds a compaction (under its lock) after it wrote its first output segment."""

    def __init__(self) -> None:
        super().__init__()
        self.merging = threading.Event()
        self.gate = threading.Event()

    def crash_point(self, name: str) -> None:
        if name == "compaction.after_segment" and not self.gate.is_set():
            self.merging.set()
            self.gate.wait(GATE_S)


@dataclass
class Server:
    """What the front end uses of a HistorianServer."""

    db: Historian
    options: Options


async def prompt(what: str, work: Callable[[], Any]) -> Any:
    """``work()`` on a thread; fail unless it returns within PROMPT_S."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(work), PROMPT_S)
    except TimeoutError:
        raise AssertionError(f"{what} took over {PROMPT_S:g} s (waited for the merge?)") from None


async def behind_the_merge(
    front: TierFrontEnd,
    server: Server,
    fs: HeldMerge,
    stale: set[int],
    truth: dict[int, tuple[np.ndarray, np.ndarray]],
) -> None:
    """The front end's start, first status and a round, each promptly, with the merge held."""
    db = server.db
    ready = await asyncio.wait_for(front.start(server), PROMPT_S)  # READY waits for it
    assert "tier" in ready
    deadline = time.monotonic() + PROMPT_S
    while (status := read_status(Path(db.directory))) is None:
        assert time.monotonic() < deadline, "no first status within the deadline"
        await asyncio.sleep(0.02)
    assert status["parts"] >= 1
    rep = await prompt("a round behind the merge", front.run_round)
    assert rep is not None and rep["days"] == 0  # nothing exported while stale files live
    assert any("put off" in line for line in rep["recovered"]), rep["recovered"]
    assert stale <= {f.number for f in db.live_files()}
    assert not fs.gate.is_set()  # the merge is still held
    for sid, (ts, v) in everything(db).items():  # stale hot files win over their parts
        np.testing.assert_array_equal(ts, truth[sid][0])
        np.testing.assert_array_equal(v, truth[sid][1])
    fs.gate.set()
    await front.stop()  # its loop; the worker stays for the next round


def test_restart_behind_a_long_compaction_is_ready_promptly(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    db = open_store(store_dir)
    write_days(db)
    db.close()
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    child = subprocess.run(
        [*(sys.executable, CHILD, store_dir, s3_server.endpoint, s3_bucket), *AFTER_CATALOGUE],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr

    fs = HeldMerge()
    opts = Options(chunk_max_points=4096, bucket_ns=DAY, l0_compaction_trigger=2)
    db = Historian.open(store_dir, opts, fs)
    stale = {f.number for f in db.live_files() if f.bucket_start == T0}
    assert stale  # listed in the catalogue, still hot: what recovery must drop
    last_day = T0 + 2 * DAY
    for k in range(2):  # two L0 files of the last day: a compaction starts, and is held
        db.write_arrays([1, 3], [last_day + (30 + 60 * k) * S] * 2, [1.0 + k, 2.0])
        db.flush()
    assert fs.merging.wait(PROMPT_S), "no compaction started"
    truth = everything(db)  # the hot tier alone: every point, the stale day too
    cfg = dataclasses.replace(
        child_config(s3_server.endpoint, s3_bucket), export_every_ns=3_600 * S
    )  # no timed rounds: the test runs them
    front = TierFrontEnd(cfg, lambda line: None)
    try:
        asyncio.run(behind_the_merge(front, Server(db, opts), fs, stale, truth))
    finally:
        fs.gate.set()
    db.compact()  # the held merge ends; compaction leaves the stale bucket alone meanwhile
    rep = front.run_round()
    assert rep is not None, "the round after the merge failed"
    assert any("already in the cold tier" in line for line in rep["recovered"]), rep["recovered"]
    assert not stale & {f.number for f in db.live_files()}
    assert rep["days"] >= 1
    for sid, (ts, v) in everything(db).items():
        np.testing.assert_array_equal(ts, truth[sid][0])
        np.testing.assert_array_equal(v, truth[sid][1])
    stored_once(db)
    assert front.tier is not None
    no_orphans(front.tier)
    if front.worker is not None:
        front.worker.close()
    db.close()
