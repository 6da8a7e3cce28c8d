"""Crash at every export step, restart: nothing lost, nothing stored twice, export resumes.

Two crash models at each named point (``historian.tier.EXPORT_CRASH_POINTS``):
a real SIGKILL of an exporter subprocess (process crash), and a
FaultyFileSystem power cut in a subprocess (unsynced bytes and renames undone).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from harness.services import S3Server
from historian import Historian
from historian.fs import CRASH_EXIT_CODE
from historian.tier import EXPORT_CRASH_POINTS, ColdTier

from .conftest import DAY, DAYS, NOW, T0, TAGS, open_store, write_days
from .crash_config import child_config

CHILD = os.path.join(os.path.dirname(__file__), "export_child.py")
RANGE = (T0 - DAY, T0 + (DAYS + 1) * DAY)


def everything(db: Historian) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    snap = db.snapshot()
    out = {}
    for t in TAGS:
        c = snap.read(t.id, *RANGE)
        out[t.id] = (c.ts, c.values)
    return out


def stored_once(db: Historian) -> None:
    """No (series, ts) is held by two sources (hot and cold, or two cold parts)."""
    snap = db.snapshot()
    for t in TAGS:
        ts = np.concatenate([src.read(t.id, *RANGE)[0] for src in snap.sources])
        assert len(np.unique(ts)) == len(ts), (
            f"series {t.id}: {len(ts) - len(np.unique(ts))} points twice"
        )


def no_orphans(tier: ColdTier) -> None:
    listed = {i.key for p in tier.catalogue.parts for i in p.objects.values()}
    keys = {k for k, _ in tier.store.list("store1/") if k.endswith(".parquet") and "/part-" in k}
    assert keys == listed


QUICK_POWERCUT = {"tier.export.after_upload", "TIER.before_dir_sync", "tier.drop.after_manifest"}
CASES = [("sigkill", p) for p in EXPORT_CRASH_POINTS] + [
    pytest.param("powercut", p, marks=() if p in QUICK_POWERCUT else pytest.mark.soak)
    for p in EXPORT_CRASH_POINTS
]


@pytest.mark.parametrize(("mode", "point"), CASES)
def test_crash_at_every_export_step(
    s3_server: S3Server, s3_bucket: str, store_dir: str, point: str, mode: str
) -> None:
    db = open_store(store_dir)
    write_days(db)
    truth = everything(db)
    db.close()
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    child = subprocess.run(
        [sys.executable, CHILD, store_dir, s3_server.endpoint, s3_bucket, mode, point],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    expected = -signal.SIGKILL if mode == "sigkill" else CRASH_EXIT_CODE
    assert child.returncode == expected, child.stdout + child.stderr
    # restart: recovery finishes or undoes the interrupted step
    db = open_store(store_dir)
    tier = ColdTier.attach(db, child_config(s3_server.endpoint, s3_bucket))
    for sid, (ts, v) in everything(db).items():
        np.testing.assert_array_equal(ts, truth[sid][0])
        np.testing.assert_array_equal(v, truth[sid][1])
    stored_once(db)
    no_orphans(tier)
    # and the export resumes where it stopped
    tier.export_due(NOW)
    assert {p.day_start for p in tier.catalogue.parts} == {T0, T0 + DAY}
    for sid, (ts, v) in everything(db).items():
        np.testing.assert_array_equal(ts, truth[sid][0])
        np.testing.assert_array_equal(v, truth[sid][1])
    stored_once(db)
    no_orphans(tier)
    assert sum(p.rows for p in tier.catalogue.parts) == 2 * 1440 * len(TAGS)
    db.close()


def test_a_server_reads_right_before_its_deferred_recovery(
    s3_server: S3Server, s3_bucket: str, store_dir: str
) -> None:
    """``attach(recover_now=False)`` (a starting server): crashed after the catalogue write,
    the listed parts and their still-live hot files are both read at once, each point once;
    the first export then recovers (drops those files) and resumes."""
    db = open_store(store_dir)
    write_days(db)
    truth = everything(db)
    db.close()
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    point = "tier.export.after_catalogue"
    child = subprocess.run(
        [sys.executable, CHILD, store_dir, s3_server.endpoint, s3_bucket, "sigkill", point],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    db = open_store(store_dir)
    tier = ColdTier.attach(db, child_config(s3_server.endpoint, s3_bucket), recover_now=False)
    assert tier.catalogue.parts and tier.recovered == []
    for sid, (ts, v) in everything(db).items():
        np.testing.assert_array_equal(ts, truth[sid][0])
        np.testing.assert_array_equal(v, truth[sid][1])
    rep = tier.export_due(NOW)
    assert any("already in the cold tier" in line for line in rep.recovered), rep.recovered
    for sid, (ts, v) in everything(db).items():
        np.testing.assert_array_equal(ts, truth[sid][0])
        np.testing.assert_array_equal(v, truth[sid][1])
    stored_once(db)
    no_orphans(tier)
    db.close()
