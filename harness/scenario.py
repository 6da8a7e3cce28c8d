"""The declarative shape of a scenario: load phases, fault schedule, sensor faults, thresholds.

A :class:`Scenario` is plain frozen data; the runner (``harness.run.runner``) turns
it into services, a load schedule (:meth:`Scenario.schedule`), fault injections
and a scored report. Metric keys the thresholds refer to are named in
:class:`MetricKey` and documented in ``docs/report-schema.md``; the runner
writes exactly those keys.

The model lives in ``harness`` so the runner and scoring never import
``scenarios/``, which holds declarations only (one module per scenario) and is
imported by the command line alone.

>>> from scenarios import get   # doctest only: the declarations use this model
>>> s = get("noisy")
>>> s.short().duration_s <= 40, s.schedule().phase_names[0]
(True, 'warm-up')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from harness.load.schedule import (
    Schedule,
    concat,
    poisson,
    poisson_bursts,
    ramp,
    square_wave_bursts,
    steady,
)
from harness.metric_keys import MetricKey as MetricKey  # re-exported: scenarios name it here
from harness.report.model import Threshold

__all__ = [
    "FaultEvent",
    "FaultKind",
    "LoadPhase",
    "MetricKey",
    "Profile",
    "Scenario",
    "ScenarioError",
    "SensorFaultMix",
    "default_thresholds",
]

Profile = Literal["normal", "peak", "stress"]
FaultKind = Literal[
    "partition-collector-bus",
    "partition-bus-historian",
    "partition-leaf-hub",
    "kill-historian",
    "kill-nats",
    "kill-collector",
    "pause-historian",
    "pause-nats",
    "pause-collector",
    "disk-full-historian",
    "corrupt-spool",
    "failover",
]
LoadKind = Literal["steady", "poisson", "square-bursts", "poisson-bursts", "ramp"]
SHORT_TARGET_S = 30.0  # short() aims at about this long a run (CI)


class ScenarioError(ValueError):
    """A scenario definition is inconsistent (phases do not add up, fault outside the run, ...)."""


@dataclass(frozen=True)
class FaultEvent:
    """``kind`` starts ``at_s`` into the run and lasts ``duration_s``.

    For partitions the link is cut for ``duration_s``; for kills the process is
    SIGKILLed at ``at_s`` and restarted ``duration_s`` later; for pauses it is
    SIGSTOPped and SIGCONTed ``duration_s`` later; ``disk-full-historian`` fills the
    historian's data directory (a tmpfs, root only) for ``duration_s``;
    ``corrupt-spool`` refuses the collector's bus link (so batches spool), flips
    bytes in one spool file, and restores the link ``duration_s`` later;
    ``failover`` (a cluster run) takes one JetStream node down for ``duration_s``,
    ``target`` ``leader`` / ``leader-stop`` / ``follower`` (:mod:`harness.faults.cluster`);
    ``partition-leaf-hub`` (an edge run) cuts the edge leaf's uplink to the hub.
    """

    at_s: float
    duration_s: float
    kind: FaultKind
    target: str = ""

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ScenarioError(
                f"unknown fault kind {self.kind!r}; known: {', '.join(get_args(FaultKind))}"
            )
        if self.at_s < 0 or self.duration_s < 0:
            raise ScenarioError(f"fault {self.kind} needs at_s >= 0 and duration_s >= 0")

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


@dataclass(frozen=True)
class SensorFaultMix:
    """Fractions of tags (0..1) whose measurement model gets each sensor fault (``sim/sensors``)."""

    noise: float = 1.0
    quantization: float = 0.0
    drift: float = 0.0
    spikes: float = 0.0
    stuck: float = 0.0
    dropouts: float = 0.0
    bad_quality: float = 0.0
    clock_skew: float = 0.0

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if not 0.0 <= value <= 1.0:
                raise ScenarioError(f"sensor fault fraction {name}={value} must be within 0..1")

    def as_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class LoadPhase:
    """One stretch of synthetic bus load. ``name`` labels it in accounting and reports."""

    name: str
    kind: LoadKind
    duration_s: float
    rate_pts_s: float
    batch_points: int = 1_000
    burst_factor: float = 10.0
    burst_s: float = 2.0
    period_s: float = 10.0
    stop_rate_pts_s: float = 0.0  # ramp only
    steps: int = 1  # ramp only

    def schedule(self, seed: int) -> Schedule:
        if self.kind == "steady":
            return steady(self.rate_pts_s, self.batch_points, self.duration_s, phase=self.name)
        if self.kind == "poisson":
            return poisson(
                self.rate_pts_s, self.batch_points, self.duration_s, seed=seed, phase=self.name
            )
        if self.kind == "square-bursts":
            return square_wave_bursts(
                self.rate_pts_s,
                burst_factor=self.burst_factor,
                burst_s=self.burst_s,
                period_s=self.period_s,
                duration_s=self.duration_s,
                batch_points=self.batch_points,
            )
        if self.kind == "poisson-bursts":
            return poisson_bursts(
                self.rate_pts_s,
                burst_factor=self.burst_factor,
                mean_burst_s=self.burst_s,
                mean_gap_s=self.period_s - self.burst_s,
                duration_s=self.duration_s,
                batch_points=self.batch_points,
                seed=seed,
            )
        if self.kind == "ramp":
            return ramp(
                self.rate_pts_s,
                self.stop_rate_pts_s,
                steps=self.steps,
                step_s=self.duration_s / self.steps,
                batch_points=self.batch_points,
                phase_prefix=self.name,
            )
        raise ScenarioError(
            f"unknown load kind {self.kind!r}; known: {', '.join(get_args(LoadKind))}"
        )

    def scaled(self, factor: float, *, max_steps: int) -> LoadPhase:
        steps = min(self.steps, max_steps)
        dur = max(self.duration_s * factor, 1.0 * steps)
        period = max(self.period_s * factor, 2.0)
        return replace(
            self,
            duration_s=dur,
            steps=steps,
            period_s=period,
            burst_s=min(max(self.burst_s * factor, 0.5), period / 2),
        )


MIN_TIER_HOT_WINDOW_S = 10.0
"""A shorter hot window exports buckets of a couple of seconds: many tiny parts."""


@dataclass(frozen=True)
class Scenario:
    """A named, reproducible run: the load, the faults and what counts as passing."""

    name: str
    description: str
    profile: Profile
    duration_s: float
    warmup_s: float
    seed: int
    nominal_rate_pts_s: float
    load: tuple[LoadPhase, ...]
    faults: tuple[FaultEvent, ...] = ()
    sensor_fault_mix: SensorFaultMix = field(default_factory=SensorFaultMix)
    thresholds: tuple[Threshold, ...] = ()
    is_short: bool = False
    plant: bool = False
    """Also run the plant: simulator servers for ``profile`` and real collectors feeding
    the same bus and historian (the synthetic load still drives scoring)."""
    shadow: bool = False
    """A shadow-mode run (``harness.shadow.scenario``): the feed goes to twinbench and to
    two legacy historians with seeded discrepancies, scored on what the diff finds."""
    replay: str | None = None
    """A recording (path from the repository root) replayed through servers, a real
    collector, the bus and the historian at the speed that fits ``duration_s``
    (``harness.run.replay_scenario``), scored on lag, drain and loss against the recording."""
    short_s: float = SHORT_TARGET_S
    """How long :meth:`short` aims at."""
    short_faults: tuple[FaultEvent, ...] | None = None
    """The short copy's faults when scaling the full schedule down would crowd them
    (chaos: one fault of each kind instead of every round); None = scale ``faults``."""
    cluster: int = 1
    """JetStream nodes: 1 (a single nats-server) or 3 (a cluster, the stream at R3);
    ``twinbench scenario run NAME --cluster 3`` overrides it."""
    edge: bool = False
    """Collectors publish to an edge leaf nats-server (its own JetStream domain and
    stream) that the hub's stream sources over a leafnode link
    (:class:`harness.services.edge.EdgeBus`); the historian consumes the hub."""
    tier_hot_window_s: float | None = None
    """Run the historian with the cold tier on an embedded S3 server (``historian serve
    --tier``) and this hot window, so export, rollups and retention happen during the
    run and the report shows hot and cold bytes per point; None = no tier."""
    api_load_users: int = 0
    """Locust users of the HTTP API mix (``harness.run.api_load``) during the second half of
    the phase ``api_load_phase`` (its first half is the ingest baseline); 0 = no API load.
    ``twinbench scenario run NAME --api-users N`` overrides it."""
    api_load_phase: str = "steady"

    def __post_init__(self) -> None:
        total = sum(p.duration_s for p in self.load)
        if not self.load or not math.isclose(total, self.duration_s, rel_tol=1e-6, abs_tol=1e-6):
            raise ScenarioError(
                f"scenario {self.name!r}: load phases last {total:g} s "
                f"but duration_s is {self.duration_s:g} s"
            )
        if self.warmup_s > 0 and (
            self.load[0].name != "warm-up"
            or not math.isclose(self.load[0].duration_s, self.warmup_s)
        ):
            raise ScenarioError(
                f"scenario {self.name!r}: the first load phase must be 'warm-up' lasting warmup_s"
            )
        for f in self.faults:
            if f.end_s > self.duration_s + 1e-9:
                raise ScenarioError(
                    f"scenario {self.name!r}: fault {f.kind} at {f.at_s:g} s "
                    f"for {f.duration_s:g} s "
                    f"ends after the run ({self.duration_s:g} s)"
                )
        if self.cluster not in (1, 3):
            raise ScenarioError(
                f"scenario {self.name!r}: cluster must be 1 or 3 nodes, not {self.cluster}"
            )
        if self.cluster < 3 and any(f.kind == "failover" for f in self.faults):
            raise ScenarioError(
                f"scenario {self.name!r}: the failover fault needs a 3-node cluster (--cluster 3)"
            )
        if self.edge and self.cluster != 1:
            raise ScenarioError(
                f"scenario {self.name!r}: an edge run has a single-node hub (no --cluster 3)"
            )
        if not self.edge and any(f.kind == "partition-leaf-hub" for f in self.faults):
            raise ScenarioError(
                f"scenario {self.name!r}: the partition-leaf-hub fault needs an edge run"
            )
        if self.api_load_users < 0:
            raise ScenarioError(
                f"scenario {self.name!r}: api_load_users must be >= 0, not {self.api_load_users}"
            )
        if self.api_load_users and self.api_load_phase not in {p.name for p in self.load}:
            raise ScenarioError(
                f"scenario {self.name!r}: api_load_phase {self.api_load_phase!r} is not one of "
                f"its load phases ({', '.join(p.name for p in self.load)})"
            )
        if self.profile not in get_args(Profile):
            raise ScenarioError(
                f"unknown profile {self.profile!r}; known: {', '.join(get_args(Profile))}"
            )

    def schedule(self) -> Schedule:
        """The whole run's open-model schedule; each phase gets its own seed from the run's."""
        return concat([p.schedule(self.seed * 1_000 + i) for i, p in enumerate(self.load)])

    def short(self) -> Scenario:
        """A scaled-down copy (~30 s) for CI: same shape, phases and faults in the same places."""
        if self.duration_s <= self.short_s:
            return replace(self, is_short=True)
        factor = self.short_s / self.duration_s
        load = tuple(p.scaled(factor, max_steps=4) for p in self.load)
        duration = sum(p.duration_s for p in load)
        stretch = duration / self.duration_s  # a phase may not shrink below its floor
        # a partition shorter than a couple of seconds tests nothing: keep >= 2 s
        faults = tuple(
            replace(
                f,
                at_s=f.at_s * stretch,
                duration_s=min(
                    max(f.duration_s * factor, 2.0 if f.kind.startswith("partition") else 0.5),
                    duration - f.at_s * stretch,
                ),
            )
            for f in self.faults
        )
        if self.short_faults is not None:
            faults = self.short_faults
        hot = self.tier_hot_window_s
        return replace(
            self,
            tier_hot_window_s=None if hot is None else max(hot * stretch, MIN_TIER_HOT_WINDOW_S),
            name=self.name,
            duration_s=duration,
            warmup_s=load[0].duration_s if self.warmup_s else 0.0,
            load=load,
            faults=faults,
            is_short=True,
        )


def default_thresholds(*, latency: bool = True) -> tuple[Threshold, ...]:
    """The issue's always-on thresholds: no acked loss, no duplicates, (p99 at nominal rate)."""
    base: tuple[Threshold, ...] = (
        Threshold("acknowledged points lost", MetricKey.ACKED_LOST, "==", 0, "points"),
        Threshold("duplicates stored", MetricKey.DUPLICATED, "==", 0, "points"),
        Threshold("values changed in storage", MetricKey.CHANGED, "==", 0, "points"),
    )
    if latency:
        base += (
            Threshold(
                "p99 publish->queryable at nominal rate",
                MetricKey.P99_QUERYABLE_NOMINAL,
                "<",
                50.0,
                "ms",
            ),
        )
    return base


def within_compression_baseline() -> Threshold:
    """Stored bytes/point (the engine's, after compaction) at most the codec's baseline
    on the same data (``MetricKey.BASELINE_BYTES_PER_POINT``: 1.1 x the codec's figure);
    the scenarios that judge compression all use this one."""
    return Threshold(
        "bytes/point within the compression baseline",
        MetricKey.BYTES_PER_POINT,
        "<=",
        MetricKey.BASELINE_BYTES_PER_POINT,
        "B/point",
    )
