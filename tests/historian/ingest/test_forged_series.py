"""A collector that writes another collector's *series* under its own ``source_id`` is refused.

Through a real secured nats-server (the conftest's ``secured_ingest`` with
``security init --series``: each collector owns a
range of series ids in the version 2 owners file): ``acme-collector-1`` publishes on
its own partition, under its own ``source_id``, a genuine batch, a batch with one point
of ``acme-collector-2``'s series, one with a point of a series nobody owns, and a
genuine batch again. The ingest (bind-only, as ``acme-ingest``) dead-letters the two
foreign batches whole with reason ``wrong-series``, stores every point of the genuine
ones and none of the others, and acks all four.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from harness.security.deployment import InitOptions, source_owners_path
from historian.bus.publisher import BatchPublisher
from historian.bus.subjects import partition_of
from historian.bus.wire import encode_batch
from historian.ingest.metrics import IngestExporter
from historian.ingest.series_owners import SeriesSet
from historian.ingest.sources import (
    SourceBinding,
    SourceOwnersError,
    load_source_owners,
    write_source_owners,
)
from historian.model import PointBatch
from tests.historian.ingest.conftest import SecuredIngest, dead_letters, wait_all_acked

pytestmark = [pytest.mark.service]

MINE = (100, 199)
THEIRS = (200, 299)


@pytest.fixture
def deployment_options() -> InitOptions:
    """The shared set-up (conftest ``secured_ingest``) with series bound to collectors."""
    series = {"acme-collector-1": SeriesSet.of([MINE]), "acme-collector-2": SeriesSet.of([THEIRS])}
    return InitOptions(collectors=2, series=series)


def _batch(series: np.ndarray) -> PointBatch:
    n = len(series)
    ts = np.arange(n, dtype=np.int64) * 1_000_000 + time.time_ns()
    return PointBatch.from_arrays(series, ts, np.linspace(0.0, 1.0, n))


async def test_a_batch_with_one_foreign_series_is_dead_lettered_whole(
    secured_ingest: SecuredIngest,
) -> None:
    s = secured_ingest
    cfg, server, sink, host, nc, ops = s.cfg, s.server, s.sink, s.host, s.collector, s.operator
    opts = cfg.manifest.bus
    me = cfg.manifest.identity("acme-collector-1")
    assert me.partition is not None and me.source_id
    binding = load_source_owners(source_owners_path(cfg.directory, "acme"))
    assert binding.series is not None and binding.series[me.source_id] == SeriesSet.of([MINE])
    own = np.arange(MINE[0], MINE[0] + 50, dtype=np.uint32)
    theirs, nobodys = own.copy(), own.copy()
    theirs[17] = THEIRS[0] + 3  # one point of acme-collector-2's series
    nobodys[-1] = 5  # one point of a series nobody owns
    publisher = BatchPublisher(nc, opts.batch_subject(me.partition), opts)
    for seq, series in enumerate((own, theirs, nobodys, own + 50), start=1):
        payload = encode_batch(_batch(series), source_id=me.source_id, sequence=seq)
        await asyncio.wait_for(publisher.publish_and_wait(payload, f"{me.source_id}/{seq}"), 10)
    dead = await dead_letters(ops, opts.stream, opts.dead_letter_subject, 2)
    assert sorted(d["Twinbench-Reason"] for d in dead) == ["wrong-series"] * 2
    details = sorted(d["Twinbench-Detail"] for d in dead)
    assert details == [
        f"source {me.source_id!r} does not own series 203 (1 of the batch's 50 points)",
        f"source {me.source_id!r} does not own series 5 (1 of the batch's 50 points)",
    ]
    worker = next(w for w in host.workers if w.partition == me.partition)
    deadline = time.monotonic() + 20
    while len(sink.series) < 100 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    # both genuine batches whole, no point of the refused ones (their own series too)
    assert sorted(sink.series) == list(range(MINE[0], MINE[0] + 100))
    assert worker.metrics.wrong_series == 2 and worker.metrics.dead_lettered == 2
    assert worker.metrics.wrong_source == 0
    exporter = IngestExporter()
    exporter.update(host.workers)
    labels = {"partition": str(me.partition), "reason": "wrong-series"}
    value = exporter.registry.get_sample_value("twinbench_ingest_refused_batches_total", labels)
    assert value == 2.0
    info = await wait_all_acked(ops, opts, me.partition, deadline)  # all four acked
    assert not info.num_redelivered
    assert "Violation" not in server.log_path.read_text()


def test_the_series_check_agrees_with_isin_on_random_batches() -> None:
    rng = np.random.default_rng(3)
    # spread 1: a membership table over the span; 3,000: beyond TABLE_MAX_SPAN (searchsorted)
    for n_ranges, spread in ((0, 1), (1, 1), (2, 1), (7, 1), (1, 3_000), (7, 3_000)):
        lows = np.sort(rng.choice(10_000, n_ranges, replace=False)) * spread
        ranges = [(int(lo), int(lo + rng.integers(0, 300))) for lo in lows]
        owned = SeriesSet.of(ranges)
        members = np.array(
            sorted({i for lo, hi in ranges for i in range(lo, hi + 1)}), dtype=np.uint32
        )
        for _ in range(50):
            series = rng.integers(0, 11_000 * spread, int(rng.integers(1, 300))).astype(np.uint32)
            if members.size and rng.random() < 0.5:  # often: a batch of owned series only
                series = rng.choice(members, len(series)).astype(np.uint32)
            inside = np.isin(series, members)
            want = None if inside.all() else int(series[np.argmin(inside)])
            assert owned.first_foreign(series) == want, (ranges, series)


def test_version_1_files_still_load_and_version_2_files_are_checked(tmp_path: Path) -> None:
    home = partition_of("acme-collector-1", 3)
    v1 = tmp_path / "v1.json"
    owners = {str(home): ["acme-collector-1"]}
    v1.write_text(
        json.dumps({"schema": "twinbench.source-owners/1", "partitions": 3, "owners": owners})
    )
    old = load_source_owners(v1)
    assert old.series is None  # no series check for a version 1 file
    assert old.check("acme-collector-1", home, np.array([9], np.uint32)) is None
    v2 = tmp_path / "v2.json"
    write_source_owners(v2, 3, {"acme-collector-1": home}, {"acme-collector-1": SeriesSet.of([7])})
    new = load_source_owners(v2)
    assert new == SourceBinding(3, {home: frozenset({"acme-collector-1"})}, new.series)
    assert new.check("acme-collector-1", home, np.array([7, 7], np.uint32)) is None
    assert new.check("acme-collector-1", home, np.array([7, 8], np.uint32)) == (
        "wrong-series",
        "source 'acme-collector-1' does not own series 8 (1 of the batch's 2 points)",
    )
    wrong_partition = new.check("acme-collector-1", (home + 1) % 3, np.array([7], np.uint32))
    assert wrong_partition is not None and wrong_partition[0] == "wrong-source"
    write_source_owners(v2, 3, {"acme-collector-1": home})  # no series given: every series
    assert json.loads(v2.read_text())["series"] == {"acme-collector-1": "*"}
    assert load_source_owners(v2).check("acme-collector-1", home, np.array([9], np.uint32)) is None
    doc = json.loads(v2.read_text())
    for series, says in (
        ({}, "has no 'series' entry"),
        ({"acme-collector-1": "*", "ghost": "*"}, "'ghost', which owns no partition"),
        ({"acme-collector-1": [[5, 2]]}, "need 0 <= first <= last"),
        ({"acme-collector-1": ["x"]}, "neither an id nor [first, last]"),
        ({"acme-collector-1": "all"}, 'must be "*" or a list'),
    ):
        v2.write_text(json.dumps({**doc, "series": series}))
        with pytest.raises(SourceOwnersError, match=re.escape(says)):
            load_source_owners(v2)
