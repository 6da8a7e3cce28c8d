"""HDR latency summaries, throughput buckets, samplers on real processes, sustained-rate logic."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.metrics import (
    GaugeRecorder,
    LatencyHistogram,
    ProcessSampler,
    StepMeasurement,
    ThroughputSeries,
    disk_bytes,
    highest_sustained_rate,
)


def test_percentiles_match_numpy_within_hdr_precision() -> None:
    rng = np.random.default_rng(1)
    ns = rng.lognormal(mean=np.log(2e6), sigma=0.8, size=50_000).astype(np.int64)  # ~2 ms
    h = LatencyHistogram()
    h.record_many_ns(ns)
    s = h.summary()
    assert s["count"] == 50_000
    for key, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9)):
        exact_ms = np.percentile(ns, p) / 1e6
        assert s[key] == pytest.approx(exact_ms, rel=0.01), key
    assert s["max"] == pytest.approx(ns.max() / 1e6, rel=0.001)


def test_single_records_merge_and_encode_round_trip() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    for v in (1_000, 2_000, 3_000):
        a.record_ns(v * 1_000)  # 1, 2, 3 ms
    b.record_us(10_000)
    a.merge(b)
    assert a.count == 4 and a.summary()["max"] == pytest.approx(10.0, rel=0.001)
    back = LatencyHistogram.decode(a.encode())
    assert back.summary() == a.summary()
    curve = a.percentile_curve()
    assert curve[0][0] == 0.0 and curve[-1] == (100.0, a.summary()["max"])
    assert [v for _, v in curve] == sorted(v for _, v in curve)


def test_empty_histogram_and_clamping() -> None:
    h = LatencyHistogram()
    assert h.summary()["p99"] == 0.0 and h.percentile_curve() == []
    h.record_ns(10 * 3_600 * 10**9)  # 10 h: clamped to the 1 h ceiling, and counted
    assert h.clamped == 1 and h.summary()["max"] == pytest.approx(3_600_000, rel=0.001)


def test_throughput_buckets_per_second() -> None:
    origin = 5 * 10**9
    tp = ThroughputSeries(origin)
    t = origin + np.array([0, 0.5e9, 1.2e9, 1.9e9, 3.1e9], dtype=np.int64)
    tp.add_many(t, [100, 100, 50, 50, 7])
    tp.add(origin + 3_500_000_000, 3)
    secs, rate = tp.rate_per_s()
    assert secs.tolist() == [0, 1, 2, 3] and rate.tolist() == [200, 100, 0, 10]
    ts = tp.to_series("acked")
    assert ts.values == [200, 100, 0, 10] and ts.unit == "points/s"


def test_process_sampler_sees_a_busy_child_and_survives_its_death() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "x = bytearray(60_000_000)\nwhile True: pass"])
    try:
        sampler = ProcessSampler({"busy": busy.pid}, interval_s=0.2, max_samples=50)
        with sampler:
            time.sleep(1.3)
            busy.kill()
            busy.wait(5)
            time.sleep(0.5)
        cpu, rss = sampler.cpu["busy"], sampler.rss["busy"]
        assert len(rss.values) >= 4
        assert sampler.peak_rss()["busy"] > 60_000_000
        assert max(cpu.values) > 20  # a spinning process, even on a shared 2-core box
        n = len(rss.values)
        sampler.sample()  # dead process: no new sample, no exception
        assert len(rss.values) == n
    finally:
        if busy.poll() is None:
            busy.kill()
            busy.wait(5)


def test_gauge_recorder_samples_callables_and_skips_failures() -> None:
    depth = iter(range(100))

    def lag() -> float:
        return 42.0

    def broken() -> float:
        raise ConnectionError("nats down")

    rec = GaugeRecorder(
        {"lag": lag, "spool": lambda: next(depth), "x": broken}, units={"lag": "msgs"}
    )
    for _ in range(3):
        rec.sample()
    rec.record("spool", 99, t_s=10.0)
    assert rec.series["lag"].values == [42.0] * 3 and rec.series["lag"].unit == "msgs"
    assert rec.series["spool"].values == [0, 1, 2, 99] and "x" not in rec.series


def test_disk_bytes_counts_files_recursively(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "wal.log").write_bytes(b"x" * 1000)
    (tmp_path / "seg").write_bytes(b"y" * 24)
    assert disk_bytes(tmp_path) == 1024
    assert disk_bytes(tmp_path / "seg") == 24 and disk_bytes(tmp_path / "nope") == 0


def test_highest_sustained_rate_stops_at_the_first_broken_step() -> None:
    steps = [
        StepMeasurement("ramp-0", 100_000, 99_500, 8.0),
        StepMeasurement("ramp-1", 200_000, 198_000, 20.0),
        StepMeasurement("ramp-2", 400_000, 390_000, 61.0),  # p99 broke
        StepMeasurement("ramp-3", 800_000, 800_000, 10.0),  # a lucky step afterwards: ignored
    ]
    r = highest_sustained_rate(steps, p99_limit_ms=50)
    assert r.highest_pts_s == 198_000 and r.highest_step == "ramp-1"
    assert r.breaking_step == "ramp-2" and "p99 61.0 ms" in r.reason

    fell_behind = [StepMeasurement("s0", 100_000, 80_000, 5.0)]
    r = highest_sustained_rate(fell_behind, p99_limit_ms=50)
    assert r.highest_pts_s == 0 and "achieved" in r.reason

    lost = [
        StepMeasurement("s0", 100, 100, 1.0),
        StepMeasurement("s1", 200, 200, 1.0, acked_lost=3),
    ]
    assert highest_sustained_rate(lost, p99_limit_ms=50).breaking_step == "s1"
    assert highest_sustained_rate(lost[:1], p99_limit_ms=50).breaking_step is None


def test_process_sampler_first_cpu_sample_is_not_a_few_ms_delta() -> None:
    # A sample taken right after priming covers ~1 ms of CPU time measured in 10 ms
    # ticks: it read ~700 % on a 2-CPU machine and inflated cpu_mean_pct ~5x.
    import os

    ncpu = os.cpu_count() or 1
    sampler = ProcessSampler({"me": os.getpid()}, interval_s=0.2, max_samples=50)
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:  # burn a little CPU so the tick may advance
        pass
    sampler.sample()
    assert sampler.cpu["me"].values == []  # too short an interval to mean anything
    assert len(sampler.rss["me"].values) == 1
    deadline = time.monotonic() + 0.25
    while time.monotonic() < deadline:
        pass
    sampler.sample()
    (cpu,) = sampler.cpu["me"].values
    assert 0 <= cpu <= 100 * ncpu


def test_process_sampler_reports_the_machine_idle_and_steal_beside_the_processes() -> None:
    # Steal is the time a VM's hypervisor ran other guests: a run's tail latency on a
    # shared host needs it beside the processes' own CPU to be read honestly.
    import os

    from harness.metrics import IDLE, STEAL

    ncpu = os.cpu_count() or 1
    sampler = ProcessSampler({"me": os.getpid()}, interval_s=0.2, max_samples=50)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # one core busy: idle must read below all cores
        pass
    sampler.sample()
    (idle,) = sampler.cpu[IDLE].values
    (steal,) = sampler.cpu[STEAL].values
    assert 0 <= idle <= 100 * ncpu - 50, idle  # this process kept about one core busy
    assert 0 <= steal <= 100 * ncpu
    assert "me" in sampler.cpu and IDLE not in sampler.rss
