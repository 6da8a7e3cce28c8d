"""The export's heavy half in a child process (``historian.tier.worker``), as a server runs it.

A real child process, real moto S3 (one test: a child's start costs seconds): a
child SIGKILLed mid-export fails the round with nothing listed and nothing
dropped; the next round, in a fresh child, exports every cold day exactly once
and every answer stays the same. A server's child (``idle=True``) runs under
SCHED_IDLE.
"""

from __future__ import annotations

import os

import pytest

from harness.services import S3Server
from historian.tier import ColdTier
from historian.tier.coldcat import ColdPart
from historian.tier.worker import ExportWorker, ExportWorkerError

from .answers import ask, assert_same
from .conftest import DAYS, NOW, T0, open_store, tier_config, write_days
from .test_crash import no_orphans, stored_once


def test_worker_exports_and_a_killed_worker_loses_nothing(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    db = open_store(store_dir)
    write_days(db)
    before = ask(db)
    files = {f.number for f in db.live_files()}
    cfg = tier_config(s3_server, s3_bucket)
    worker = ExportWorker(store_dir, cfg)
    try:
        tier = ColdTier.attach(db, cfg, worker=worker)
        worker.kill_at = "tier.export.after_upload"  # objects written, none listed
        with pytest.raises(ExportWorkerError, match="died during an export"):
            tier.export_due(NOW)
        assert worker.restarts == 1
        assert tier.catalogue.parts == ()
        assert {f.number for f in db.live_files()} == files  # nothing left the hot tier
        assert_same(before, ask(db))
        worker.kill_at = None
        rep = tier.export_due(NOW)  # a fresh child; the orphans are swept first
        assert rep.recovered and "uncatalogued" in rep.recovered[0]
        assert rep.days == DAYS - 1 and worker.pid() is not None  # it ran in the child
        parts: tuple[ColdPart, ...] = tier.catalogue.parts
        assert {p.day_start for p in parts} == {T0, T0 + 86_400 * 10**9}
        assert_same(before, ask(db))
        stored_once(db)
        no_orphans(tier)
    finally:
        worker.close()
        db.close()


def test_an_idle_worker_runs_under_sched_idle(s3_server: S3Server, s3_bucket: str) -> None:
    worker = ExportWorker("/nonexistent", tier_config(s3_server, s3_bucket), idle=True)
    try:
        worker.start()
        pid = worker.pid()
        assert pid is not None
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pid) >= min(19, own + 10)  # nice caps at 19
    finally:
        worker.close()
