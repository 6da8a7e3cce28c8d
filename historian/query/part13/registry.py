"""The standard aggregates by BrowseName and NodeId, and the one entry point.

NodeIds are those of the AggregateFunction objects in the OPC UA NodeSet
(namespace 0; ``ua.ObjectIds.AggregateFunction_<Name>`` in asyncua — a test
checks every one against it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from historian.query.part13 import counts, endpoints, extrema, quality, statistics, time_average
from historian.query.part13.config import (
    AggregateConfiguration,
    AggregateRequestError,
    Intervals,
    intervals,
)
from historian.query.part13.interval_status import AggregateResult
from historian.query.part13.raw import RawSeries, prepare

AggregateFn = Callable[[RawSeries, Intervals], AggregateResult]


@dataclass(frozen=True, slots=True)
class AggregateFunction:
    """A standard aggregate: BrowseName, NodeId (``i=...``, namespace 0) and implementation."""

    name: str
    node_id: int
    compute: AggregateFn

    @property
    def node_id_text(self) -> str:
        return f"i={self.node_id}"


_TABLE: tuple[tuple[str, int, AggregateFn], ...] = (
    ("Interpolative", 2341, time_average.interpolative),
    ("Average", 2342, statistics.average),
    ("TimeAverage", 2343, time_average.time_average),
    ("TimeAverage2", 11285, time_average.time_average2),
    ("Total", 2344, time_average.total),
    ("Total2", 11304, time_average.total2),
    ("Minimum", 2346, extrema.minimum),
    ("Maximum", 2347, extrema.maximum),
    ("MinimumActualTime", 2348, extrema.minimum_actual_time),
    ("MaximumActualTime", 2349, extrema.maximum_actual_time),
    ("Range", 2350, extrema.range_),
    ("Minimum2", 11286, extrema.minimum2),
    ("Maximum2", 11287, extrema.maximum2),
    ("MinimumActualTime2", 11305, extrema.minimum_actual_time2),
    ("MaximumActualTime2", 11306, extrema.maximum_actual_time2),
    ("Range2", 11288, extrema.range2),
    ("Count", 2352, counts.count),
    ("DurationInStateZero", 11307, counts.duration_in_state_zero),
    ("DurationInStateNonZero", 11308, counts.duration_in_state_non_zero),
    ("NumberOfTransitions", 2355, counts.number_of_transitions),
    ("Start", 2357, endpoints.start),
    ("End", 2358, endpoints.end),
    ("Delta", 2359, endpoints.delta),
    ("StartBound", 11505, endpoints.start_bound),
    ("EndBound", 11506, endpoints.end_bound),
    ("DeltaBounds", 11507, endpoints.delta_bounds),
    ("DurationGood", 2360, quality.duration_good),
    ("DurationBad", 2361, quality.duration_bad),
    ("PercentGood", 2362, quality.percent_good),
    ("PercentBad", 2363, quality.percent_bad),
    ("WorstQuality", 2364, quality.worst_quality),
    ("WorstQuality2", 11292, quality.worst_quality2),
    ("StandardDeviationSample", 11426, statistics.standard_deviation_sample),
    ("StandardDeviationPopulation", 11427, statistics.standard_deviation_population),
    ("VarianceSample", 11428, statistics.variance_sample),
    ("VariancePopulation", 11429, statistics.variance_population),
)

AGGREGATES: Mapping[str, AggregateFunction] = MappingProxyType(
    {name: AggregateFunction(name, nid, fn) for name, nid, fn in _TABLE}
)
BY_NODE_ID: Mapping[int, AggregateFunction] = MappingProxyType(
    {a.node_id: a for a in AGGREGATES.values()}
)


def lookup(aggregate: str | int) -> AggregateFunction:
    """An aggregate by BrowseName (``"TimeAverage"``) or NodeId (``2343`` / ``"i=2343"``)."""
    if isinstance(aggregate, int):
        found = BY_NODE_ID.get(aggregate)
    elif aggregate.startswith("i=") and aggregate[2:].isdigit():
        found = BY_NODE_ID.get(int(aggregate[2:]))
    else:
        found = AGGREGATES.get(aggregate)
    if found is None:
        known = ", ".join(AGGREGATES)
        raise AggregateRequestError(f"unknown aggregate {aggregate!r}; known: {known}")
    return found


def aggregate(
    aggregate: str | int,
    ts: ArrayLike,
    values: ArrayLike,
    quality: ArrayLike,
    start_ns: int,
    end_ns: int,
    interval_ns: int,
    config: AggregateConfiguration | None = None,
) -> AggregateResult:
    """Compute one Part 13 aggregate of one series per processing interval.

    See :mod:`historian.query.part13` for the input contract (which raw
    points to pass) and the interval rules.
    """
    fn = lookup(aggregate)
    raw = prepare(ts, values, quality, config or AggregateConfiguration())
    iv = intervals(start_ns, end_ns, interval_ns)
    if len(iv) == 0:
        return AggregateResult(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.uint32))
    return fn.compute(raw, iv)
