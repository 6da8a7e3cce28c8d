"""Measurements a scenario run is scored on: latency histograms, rates, gauges, CPU/RSS, disk.

Latencies go into HDR histograms in microseconds (1 us .. 1 h, 3 significant
digits), so percentiles up to p99.9 stay exact to 0.1 % whatever the sample
count, and two histograms merge losslessly. Time series are plain lists of
(seconds since the run's origin, value): cheap to append from any thread, and
exactly what the report plots.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from hdrh.histogram import HdrHistogram
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "PERCENTILES",
    "GaugeRecorder",
    "LatencyHistogram",
    "ProcessSampler",
    "StepMeasurement",
    "SustainedRate",
    "ThroughputSeries",
    "TimeSeries",
    "disk_bytes",
    "highest_sustained_rate",
]

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99_9", 99.9),
)
_MAX_US = 3_600_000_000  # one hour: anything slower is clamped (and counted in `clamped`)


class LatencyHistogram:
    """HDR histogram of latencies recorded in microseconds; summaries in milliseconds."""

    def __init__(self) -> None:
        self._h = HdrHistogram(1, _MAX_US, 3)
        self.clamped = 0

    def record_us(self, us: float) -> None:
        v = round(us)
        if v > _MAX_US:
            self.clamped += 1
            v = _MAX_US
        self._h.record_value(max(v, 1))

    def record_ns(self, ns: int) -> None:
        self.record_us(ns / 1_000)

    def record_many_ns(self, ns: ArrayLike) -> None:
        """Vectorised: group equal microsecond values, one HDR call per distinct value."""
        us = np.rint(np.asarray(ns, dtype=np.float64) / 1_000).astype(np.int64)
        if us.size == 0:
            return
        self.clamped += int(np.count_nonzero(us > _MAX_US))
        values, counts = np.unique(np.clip(us, 1, _MAX_US), return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist(), strict=True):
            self._h.record_value(v, c)

    def merge(self, other: LatencyHistogram) -> None:
        self._h.add(other._h)
        self.clamped += other.clamped

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile_ms(self, p: float) -> float:
        return float(self._h.get_value_at_percentile(p)) / 1_000

    def summary(self) -> dict[str, float]:
        """count, mean, p50/p90/p99/p99.9 and max in ms (zeros for an empty histogram)."""
        out: dict[str, float] = {"count": float(self.count)}
        if not self.count:
            out.update({name: 0.0 for name, _ in PERCENTILES}, max=0.0, mean=0.0)
            return out
        for name, p in PERCENTILES:
            out[name] = self.percentile_ms(p)
        out["max"] = float(self._h.get_max_value()) / 1_000
        out["mean"] = float(self._h.get_mean_value()) / 1_000
        return out

    def percentile_curve(self) -> list[tuple[float, float]]:
        """(percentile, ms) pairs from p0 to p99.999 on a log-of-tail axis, for plotting."""
        if not self.count:
            return []
        levels = [0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999]
        return [(p, self.percentile_ms(p)) for p in levels] + [(100.0, self.summary()["max"])]

    def encode(self) -> str:
        """Compressed base64 HDR payload (interoperable with other HdrHistogram tools)."""
        payload = self._h.encode()
        return payload.decode("ascii") if isinstance(payload, bytes) else str(payload)

    @classmethod
    def decode(cls, payload: str) -> LatencyHistogram:
        out = cls()
        out._h = HdrHistogram.decode(payload)
        return out


@dataclass
class TimeSeries:
    """Samples (t seconds from origin, value) of one named quantity."""

    name: str
    unit: str
    t_s: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.t_s = [float(t) for t in self.t_s]
        self.values = [float(v) for v in self.values]

    def append(self, t_s: float, value: float) -> None:
        self.t_s.append(float(t_s))
        self.values.append(float(value))

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "t_s": self.t_s, "values": self.values}


class ThroughputSeries:
    """Counts per one-second bucket (e.g. points acked), from event times in ns."""

    def __init__(self, origin_ns: int, bucket_s: float = 1.0) -> None:
        self.origin_ns = int(origin_ns)
        self.bucket_ns = round(bucket_s * 1e9)
        self._counts = np.zeros(0, dtype=np.int64)

    def add(self, t_ns: int, count: int = 1) -> None:
        self.add_many(np.array([t_ns], np.int64), np.array([count], np.int64))

    def add_many(self, t_ns: ArrayLike, counts: ArrayLike) -> None:
        t = np.asarray(t_ns, dtype=np.int64)
        if t.size == 0:
            return
        idx = np.maximum((t - self.origin_ns) // self.bucket_ns, 0)
        add = np.bincount(idx, weights=np.asarray(counts, np.float64), minlength=0)
        if len(add) > len(self._counts):
            self._counts = np.pad(self._counts, (0, len(add) - len(self._counts)))
        self._counts[: len(add)] += np.rint(add).astype(np.int64)

    def rate_per_s(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(bucket start seconds, count per second)."""
        scale = 1e9 / self.bucket_ns
        t = np.arange(len(self._counts), dtype=np.float64) * self.bucket_ns / 1e9
        return t, self._counts.astype(np.float64) * scale

    def to_series(self, name: str, unit: str = "points/s") -> TimeSeries:
        t, v = self.rate_per_s()
        return TimeSeries(name, unit, t.tolist(), v.tolist())


class _Sampler:
    """A daemon thread calling ``sample()`` every ``interval_s`` until stopped; bounded."""

    def __init__(self, interval_s: float, max_samples: int) -> None:
        self.interval_s = interval_s
        self.max_samples = max_samples
        self.origin = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        for _ in range(self.max_samples):
            self.sample()
            if self._stop.wait(self.interval_s):
                return

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=type(self).__name__, daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> _Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


STEAL = "hypervisor-steal"
"""The :class:`ProcessSampler` CPU series of time the hypervisor gave to other guests."""
IDLE = "machine-idle"
"""The :class:`ProcessSampler` CPU series of the machine's idle time."""


def _proc_stat_ticks() -> tuple[int, int, int] | None:
    """(idle + iowait, steal, total) clock ticks of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None  # not Linux: the machine series stay empty
    if len(fields) < 8:
        return None
    return fields[3] + fields[4], fields[7], sum(fields)


class ProcessSampler(_Sampler):
    """CPU % (of one core) and RSS bytes of named processes, sampled at ``interval_s`` (1 Hz).

    A process that exits leaves a gap; :meth:`set_pid` re-points a name at the
    restarted process after a kill-and-restart fault. Two machine-wide series sit
    beside the processes in :attr:`cpu`, in the same unit: :data:`IDLE`, and
    :data:`STEAL`, the time a virtual machine's hypervisor ran other guests instead
    (a run's tail latency on a shared host is worth little without it).
    """

    def __init__(self, pids: Mapping[str, int], interval_s: float = 1.0, max_samples: int = 86_400):
        super().__init__(interval_s, max_samples)
        self._procs: dict[str, psutil.Process | None] = {}
        self._cpu_since: dict[str, float] = {}
        self._lock = threading.Lock()
        self.cpu: dict[str, TimeSeries] = {
            STEAL: TimeSeries(f"cpu.{STEAL}", "%"),
            IDLE: TimeSeries(f"cpu.{IDLE}", "%"),
        }
        self.rss: dict[str, TimeSeries] = {}
        self._ticks = _proc_stat_ticks()
        self._cores = os.cpu_count() or 1
        for name, pid in pids.items():
            self.set_pid(name, pid)

    def set_pid(self, name: str, pid: int) -> None:
        with self._lock:
            self.cpu.setdefault(name, TimeSeries(f"cpu.{name}", "%"))
            self.rss.setdefault(name, TimeSeries(f"rss.{name}", "bytes"))
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # primes the counter; the first real sample is a delta
                self._procs[name] = proc
                self._cpu_since[name] = time.monotonic()
            except psutil.Error:
                self._procs[name] = None

    def sample(self) -> None:
        now = time.monotonic() - self.origin
        with self._lock:
            for name, proc in self._procs.items():
                if proc is None:
                    continue
                try:
                    with proc.oneshot():
                        cpu, rss = proc.cpu_percent(None), proc.memory_info().rss
                except psutil.Error:
                    self._procs[name] = None
                    continue
                # CPU times tick in 10 ms steps: a delta over a few ms (the first sample
                # right after priming) reads as hundreds of percent. Keep only deltas
                # over at least half a sampling interval.
                mono = time.monotonic()
                if mono - self._cpu_since.get(name, 0.0) >= 0.5 * self.interval_s:
                    self.cpu[name].append(now, cpu)
                self._cpu_since[name] = mono
                self.rss[name].append(now, rss)
            self._sample_machine(now)

    def _sample_machine(self, now: float) -> None:
        ticks, before = _proc_stat_ticks(), self._ticks
        self._ticks = ticks
        if ticks is None or before is None or ticks[2] - before[2] <= 0:
            return
        per_core = (ticks[2] - before[2]) / self._cores  # ticks one core had in the interval
        self.cpu[IDLE].append(now, 100.0 * (ticks[0] - before[0]) / per_core)
        self.cpu[STEAL].append(now, 100.0 * (ticks[1] - before[1]) / per_core)

    def peak_rss(self) -> dict[str, float]:
        return {n: max(s.values, default=0.0) for n, s in self.rss.items()}

    def mean_cpu(self) -> dict[str, float]:
        return {n: float(np.mean(s.values)) if s.values else 0.0 for n, s in self.cpu.items()}


class GaugeRecorder(_Sampler):
    """Named gauges (consumer lag, spool depth, ...) read from callables at ``interval_s``.

    Values can also be pushed with :meth:`record`. A gauge callable that raises
    is skipped for that sample (a component being down is part of the story).
    """

    def __init__(
        self,
        gauges: Mapping[str, Callable[[], float]] | None = None,
        *,
        units: Mapping[str, str] | None = None,
        interval_s: float = 1.0,
        max_samples: int = 86_400,
    ):
        super().__init__(interval_s, max_samples)
        self._gauges = dict(gauges or {})
        self._units = dict(units or {})
        self._lock = threading.Lock()
        self.series: dict[str, TimeSeries] = {}

    def record(self, name: str, value: float, t_s: float | None = None) -> None:
        t = time.monotonic() - self.origin if t_s is None else t_s
        with self._lock:
            ts = self.series.setdefault(name, TimeSeries(name, self._units.get(name, "")))
            ts.append(t, value)

    def sample(self) -> None:
        for name, fn in self._gauges.items():
            try:
                value = float(fn())
            except Exception:
                continue
            self.record(name, value)


def disk_bytes(path: str | os.PathLike[str]) -> int:
    """Apparent size in bytes of every regular file under ``path`` (0 if it does not exist)."""
    root = Path(path)
    if root.is_file():
        return root.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            with contextlib.suppress(OSError):  # a file compacted away while we walk
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


@dataclass(frozen=True)
class StepMeasurement:
    """What one stress ramp step achieved (the runner measures, this module judges)."""

    name: str
    offered_pts_s: float
    achieved_pts_s: float
    p99_ms: float
    acked_lost: int = 0


@dataclass(frozen=True)
class SustainedRate:
    highest_pts_s: float
    highest_step: str | None
    breaking_step: str | None
    reason: str


def highest_sustained_rate(
    steps: Sequence[StepMeasurement], *, p99_limit_ms: float, min_achieved_ratio: float = 0.95
) -> SustainedRate:
    """Highest achieved rate of the ramp before its first step that broke a threshold.

    A step holds when it kept up (achieved >= ``min_achieved_ratio`` x offered),
    its p99 stayed under ``p99_limit_ms`` and no acknowledged point was lost.
    Steps are taken in ramp order; a later lucky step after a failure does not
    count, because a rate that only sometimes holds is not sustained.
    """
    best, best_name = 0.0, None
    for step in steps:
        problems = []
        if step.achieved_pts_s < min_achieved_ratio * step.offered_pts_s:
            problems.append(
                f"achieved {step.achieved_pts_s:,.0f} < {min_achieved_ratio:.0%} of offered "
                f"{step.offered_pts_s:,.0f} points/s"
            )
        if not step.p99_ms < p99_limit_ms:
            problems.append(f"p99 {step.p99_ms:.1f} ms >= {p99_limit_ms:g} ms")
        if step.acked_lost:
            problems.append(f"{step.acked_lost} acknowledged points lost")
        if problems:
            return SustainedRate(best, best_name, step.name, f"{step.name}: " + "; ".join(problems))
        best, best_name = max(best, step.achieved_pts_s), step.name
    return SustainedRate(best, best_name, None, "no step broke a threshold: ramp higher")
