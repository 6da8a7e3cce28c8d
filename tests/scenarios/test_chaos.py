"""The chaos scenario's own pieces: its seeded schedule, the disk-full and spool faults, and
the full-length soak (``nox -s soak``; ``TWINBENCH_CHAOS_S`` sets its length).

The 60 s version runs with every scenario in ``test_scenario_runs.py``.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import os
from pathlib import Path
from typing import get_args

import pytest

from harness.faults.disk import SizedTmpfs, can_mount_tmpfs
from harness.faults.spool import flip_bytes_in_spool
from harness.run.runner import ScenarioRunner
from harness.scenario import FaultKind
from historian.bus.wire import encode_batch
from historian.collect.drain import check_spooled
from historian.collect.spool import DiskSpool
from historian.model import PointBatch
from scenarios import get
from scenarios.chaos import FAULTS, chaos_faults, chaos_scenario

CHAOS_KINDS = {k for k, _, _ in FAULTS}


@pytest.mark.parametrize("duration_s", [60.0, 180.0, 600.0, 1800.0])
def test_schedule_has_every_kind_once_per_round_in_order(duration_s: float) -> None:
    faults = chaos_faults(duration_s, seed=909)
    assert faults == chaos_faults(duration_s, seed=909), "seeded: the same schedule every time"
    assert faults != chaos_faults(duration_s, seed=910)
    rounds = max(1, round(duration_s / 300))
    assert len(faults) == rounds * len(FAULTS)
    for r in range(rounds):
        assert {f.kind for f in faults[r * len(FAULTS) : (r + 1) * len(FAULTS)]} == CHAOS_KINDS
    # one at a time: each ends before the next starts, and the last well before the end
    for a, b in itertools.pairwise(faults):
        assert a.end_s < b.at_s
    assert faults[-1].end_s <= 0.8 * duration_s
    assert set(get_args(FaultKind)) >= CHAOS_KINDS


def test_short_chaos_is_sixty_seconds_with_every_kind() -> None:
    short = get("chaos", short=True)
    assert short.duration_s == 60.0 and short.plant
    assert {f.kind for f in short.faults} == CHAOS_KINDS
    assert not any("latency" in t.metric for t in short.thresholds), "correctness only"
    assert chaos_scenario(180.0).duration_s == 180.0


def _batch(seq: int) -> bytes:
    import numpy as np

    n = 50
    batch = PointBatch.from_arrays(
        np.full(n, 7, dtype=np.uint32),
        np.arange(n, dtype=np.int64) + 1_700_000_000 * 10**9,
        np.linspace(0.0, 1.0, n),
        np.zeros(n, dtype=np.uint8),
    )
    return encode_batch(batch, source_id="src", sequence=seq, created_ns=1)


def test_flipped_spool_file_no_longer_decodes(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", max_bytes=1 << 20, fsync=False)
    assert flip_bytes_in_spool(spool.directory, seed=1) is None  # empty spool: nothing to do
    for seq in (1, 2):
        spool.put(seq, f"src/{seq}", _batch(seq))
    hit = flip_bytes_in_spool(spool.directory, seed=1)
    assert hit == spool.path_of(2), "the newest file: the drain may be reading the oldest"
    items = {i.sequence: i for i in spool.oldest(10)}
    assert not isinstance(check_spooled(items[1]), str), "the other file is untouched"
    assert isinstance(check_spooled(items[2]), str), "the drain must see it is damaged"


@pytest.mark.skipif(not can_mount_tmpfs()[0], reason=can_mount_tmpfs()[1])
def test_tmpfs_fill_gives_enospc_and_grow_gives_room(tmp_path: Path) -> None:
    fs = SizedTmpfs(tmp_path / "data", size_bytes=16 * 1024**2)
    fs.mount()
    try:
        (fs.directory / "kept").write_bytes(b"x" * 100_000)
        fs.fill()
        with pytest.raises(OSError) as err, open(fs.directory / "big", "wb") as f:
            f.write(b"y" * 1024**2)
            f.flush()
            os.fsync(f.fileno())
        assert err.value.errno == errno.ENOSPC
        fs.grow()
        (fs.directory / "big").write_bytes(b"y" * 1024**2)
        assert (fs.directory / "kept").read_bytes() == b"x" * 100_000, "remount keeps files"
    finally:
        fs.unmount()
    assert not os.path.ismount(fs.directory)


@pytest.mark.soak
@pytest.mark.service
def test_chaos_soak(tmp_path: Path) -> None:
    """The full chaos run; its report is kept under reports/runs/ for the closing note."""
    duration = float(os.environ.get("TWINBENCH_CHAOS_S", "600"))
    runner = ScenarioRunner(chaos_scenario(duration), reports_root=Path("reports/runs"))
    report, path = asyncio.run(runner.run())
    doc = json.loads((path / "report.json").read_text())
    assert doc["metrics"]["accounting.total.lost"] == 0
    assert doc["metrics"]["accounting.total.duplicated"] == 0
    assert doc["metrics"]["accounting.total.changed"] == 0
    assert {f["kind"] for f in doc["faults"]} == CHAOS_KINDS
    for f in doc["faults"]:
        assert f.get("skipped") or f["queryable_resumed_s"] is not None, f
    assert report.verdict == "pass"


def test_report_lists_recovery_and_says_when_a_fault_was_skipped() -> None:
    from harness.report.md import render_markdown
    from harness.report.model import Report

    report = Report("chaos", "normal", 1, 60.0, "d")
    report.faults = [
        {"kind": "kill-nats", "target": "nats-server", "start_s": 19.3, "end_s": 20.2,
         "ack_resumed_s": 0.054, "queryable_resumed_s": 0.062, "resumed_source": "loadgen"},
        {"kind": "disk-full-historian", "target": "historian data dir", "start_s": 14.9,
         "end_s": 16.9, "skipped": "not running as root (mounting a tmpfs needs root)"},
    ]  # fmt: skip
    md = render_markdown(report)
    assert "| kill-nats | nats-server | 19.3 | 20.2 | 0.054 | 0.062 (loadgen) |" in md
    assert "SKIPPED: not running as root" in md
