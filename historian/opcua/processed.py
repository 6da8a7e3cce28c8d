"""ReadProcessedDetails and ReadAtTimeDetails over the Part 13 aggregates of the engine.

Processed (Part 11, 6.5.4): ``NodesToRead[i]`` is aggregated with
``AggregateType[i]`` (the arrays must be equally long, else the request fails
with ``Bad_AggregateListMismatch``); to get several aggregates of one node, list
the node once per aggregate. Each result holds one value per processing interval
exactly as :meth:`QueryEngine.aggregate` computes it — value, timestamp and the
full StatusCode with its Calculated/Interpolated/Partial bits. A result longer
than ``max_intervals`` values is paged through continuation points (each page
is a whole number of intervals, so pages join seamlessly).

At time (Part 11, 6.5.5): the value at each requested time is Part 13's
``StartBound`` of a one-instant interval when ``useSimpleBounds`` is true
(simple bounding values: the nearest raw values, whatever their status), and
``Interpolative`` otherwise (interpolated bounds: the nearest *usable* values);
both honour the tag's ``Stepped``. Results come in request order, stamped with
the requested times. One engine query per distinct time (~1 ms each).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from historian.catalogue import TagInfo
from historian.opcua.encoding import ns_to_datetime, ua
from historian.query.engine import QueryEngine
from historian.query.part13 import (
    BY_NODE_ID,
    AggregateConfiguration,
    AggregateFunction,
    AggregateResult,
)

# Part 13 data types of the results that are not "Double" (or "same as source")
_INT_RESULTS = {"Count": "Int32", "NumberOfTransitions": "Int32"}
_STATUS_RESULTS = {"WorstQuality", "WorstQuality2"}


def aggregate_of(node_id: Any) -> AggregateFunction | None:
    """The standard aggregate a ``ns=0`` NodeId names, else None (not supported)."""
    if node_id is None or node_id.NamespaceIndex != 0 or not isinstance(node_id.Identifier, int):
        return None
    return BY_NODE_ID.get(int(node_id.Identifier))


def configuration(request: Any, defaults: AggregateConfiguration) -> AggregateConfiguration:
    """The request's AggregateConfiguration, or the server's when it asks for the defaults.

    Raises :class:`historian.query.part13.AggregateRequestError` for a configuration
    Part 13 forbids (the caller answers ``Bad_AggregateConfigurationRejected``).
    """
    if request is None or request.UseServerCapabilitiesDefaults:
        return defaults
    return AggregateConfiguration(
        treat_uncertain_as_bad=bool(request.TreatUncertainAsBad),
        percent_data_bad=float(request.PercentDataBad),
        percent_data_good=float(request.PercentDataGood),
        use_sloped_extrapolation=bool(request.UseSlopedExtrapolation),
    )


def _variant(name: str, value: float) -> Any:
    if name in _INT_RESULTS:
        return ua.Variant(int(value), ua.VariantType.Int32)
    if name in _STATUS_RESULTS:
        return ua.Variant(ua.StatusCode(int(value)), ua.VariantType.StatusCode)
    return ua.Variant(float(value), ua.VariantType.Double)


def encode_result(name: str, result: AggregateResult, timestamps: str) -> Any:
    """AggregateResult -> a HistoryData of DataValues (a Bad value travels as null)."""
    values: list[Any] = []
    codes = result.status.tolist()
    for t, v, code in zip(result.timestamps.tolist(), result.values.tolist(), codes, strict=True):
        when = ns_to_datetime(t)
        bad = (code >> 30) >= 2 or not np.isfinite(v)
        values.append(
            ua.DataValue(
                Value=None if bad else _variant(name, v),
                StatusCode=ua.StatusCode(code),
                SourceTimestamp=when if timestamps != "server" else None,
                ServerTimestamp=when if timestamps != "source" else None,
            )
        )
    return ua.HistoryData(DataValues=values)


def processed_page(
    engine: QueryEngine,
    info: TagInfo,
    fn: AggregateFunction,
    start: int,
    end: int,
    interval: int,
    config: AggregateConfiguration,
    done: int,
    max_intervals: int,
) -> tuple[AggregateResult, int | None]:
    """Intervals ``done .. done + max_intervals`` of the request; (result, next ``done``|None)."""
    span = abs(end - start)
    step = span if interval == 0 else interval
    count = -(-span // step)
    take = min(max_intervals, count - done)
    sign = 1 if end >= start else -1
    lo = start + sign * done * step
    hi = end if done + take >= count else start + sign * (done + take) * step
    result = engine.aggregate(info.name, fn.name, lo, hi, step if interval else 0, config)
    return result, (done + take if done + take < count else None)


def at_times(
    engine: QueryEngine,
    info: TagInfo,
    times: np.ndarray,
    simple_bounds: bool,
    config: AggregateConfiguration,
) -> AggregateResult:
    """The value at each time in ``times`` (request order), see the module docstring."""
    name = "StartBound" if simple_bounds else "Interpolative"
    cfg = config
    n = len(times)
    values = np.full(n, np.nan)
    status = np.zeros(n, np.uint32)
    if n == 0:
        return AggregateResult(times.astype(np.int64), values, status)
    # one query per distinct time: an instant's Partial bit is its own, which a grid of
    # intervals between the times would not give (the last one would be Partial at the
    # end of data)
    uniq, inverse = np.unique(times, return_inverse=True)
    for k, t in enumerate(uniq.tolist()):
        r = engine.aggregate(info.name, name, t, t + 1, 0, cfg)
        hit = inverse == k
        values[hit], status[hit] = r.values[0], r.status[0]
    return AggregateResult(times.astype(np.int64), values, status)
