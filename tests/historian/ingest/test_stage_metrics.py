"""The per-stage latency histograms: recorded by the real engine, exported on /metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from historian import FsyncPolicy, Historian, Options, PointBatch
from historian.ingest.metrics import IngestExporter
from historian.lsm.engine import WRITE_STAGES
from historian.lsm.latency import BUCKET_BOUNDS_S, StageLatency


def test_quantiles_are_bucket_upper_bounds() -> None:
    lat = StageLatency(("a",))
    for _ in range(98):
        lat.record("a", 0.0009)  # <= 1 ms bucket
    lat.record("a", 0.04)
    lat.record("a", 200.0)  # above the last bound (100 s)
    assert abs(lat.quantile("a", 0.5) - 0.001) < 1e-9
    assert abs(lat.quantile("a", 0.99) - 0.0501) < 0.0001  # 40 ms lies in (39.8, 50.1] ms
    assert lat.quantile("a", 1.0) == float("inf")
    assert lat.total("a")[0] == 100
    assert len(lat.counts("a")) == len(BUCKET_BOUNDS_S) + 1


def test_engine_write_stages_reach_the_prometheus_page(tmp_path: Path) -> None:
    db = Historian.open(str(tmp_path), Options(fsync=FsyncPolicy.always(), background=False))
    try:
        for k in range(5):
            db.write(PointBatch.from_arrays(np.arange(1, 11), np.full(10, k), np.ones(10)))
        exporter = IngestExporter()
        exporter.set_engine_latency(db.write_latency)
        text = generate_latest(exporter.registry).decode()
    finally:
        db.close()
    fam = next(
        f
        for f in text_string_to_metric_families(text)
        if f.name == "twinbench_historian_write_stage_seconds"
    )
    counts = {s.labels["stage"]: s.value for s in fam.samples if s.name.endswith("_count")}
    assert set(counts) == set(WRITE_STAGES)
    for stage in ("validate", "wal_append", "memtable_add", "fsync_wait", "total"):
        assert counts[stage] == 5, stage
    inf = [
        s.value
        for s in fam.samples
        if s.name.endswith("_bucket") and s.labels["stage"] == "total" and s.labels["le"] == "+Inf"
    ]
    assert inf == [5.0]
