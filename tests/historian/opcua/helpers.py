"""Raw HistoryRead service calls through asyncua's client (no convenience wrappers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from asyncua import ua as _ua
from asyncua.client.client import Client

from tests.opcua_fields import source_time_of

ua: Any = _ua
MIN = datetime(1601, 1, 1, tzinfo=UTC)


def dt(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def ns_of(dv: _ua.DataValue) -> int:
    """A returned DataValue's source time in ns (picoseconds included)."""
    d = source_time_of(dv) - datetime(1970, 1, 1, tzinfo=UTC)
    ns = (d.days * 86_400 + d.seconds) * 10**9 + d.microseconds * 1000
    # the DateTime itself is 100 ns ticks; asyncua keeps microseconds, so the 100 ns digit
    # is lost in the datetime: rebuild it from the ticks the picoseconds sit on
    return ns + (dv.SourcePicoseconds or 0) // 100


async def history_read(
    client: Client,
    details: Any,
    nodes: list[Any],
    *,
    cps: list[bytes | None] | None = None,
    timestamps: Any = None,
    release: bool = False,
) -> list[Any]:
    params = ua.HistoryReadParameters()
    params.HistoryReadDetails = details
    params.TimestampsToReturn = ua.TimestampsToReturn.Source if timestamps is None else timestamps
    params.ReleaseContinuationPoints = release
    cps = cps or [None] * len(nodes)
    params.NodesToRead = [
        ua.HistoryReadValueId(NodeId=n, ContinuationPoint=cp)
        for n, cp in zip(nodes, cps, strict=True)
    ]
    return list(await client.uaclient.history_read(params))


def raw(start: int | None, end: int | None, num: int = 0, bounds: bool = False) -> Any:
    d = ua.ReadRawModifiedDetails()
    d.IsReadModified = False
    d.StartTime = dt(start) if start is not None else MIN
    d.EndTime = dt(end) if end is not None else MIN
    d.NumValuesPerNode = num
    d.ReturnBounds = bounds
    return d


def processed(
    start: int, end: int, interval_ms: float, aggregates: list[int], cfg: Any = None
) -> Any:
    d = ua.ReadProcessedDetails()
    d.StartTime, d.EndTime = dt(start), dt(end)
    d.ProcessingInterval = interval_ms
    d.AggregateType = [ua.NodeId(a) for a in aggregates]
    d.AggregateConfiguration = cfg or ua.AggregateConfiguration(UseServerCapabilitiesDefaults=True)
    return d


def at_time(times: list[int], simple: bool) -> Any:
    d = ua.ReadAtTimeDetails()
    d.ReqTimes = [dt(t) for t in times]
    d.UseSimpleBounds = simple
    return d


async def read_all_raw(client: Client, node: Any, details: Any) -> tuple[list[Any], int]:
    """Follow continuation points to the end; (values, pages)."""
    out: list[Any] = []
    cp: bytes | None = None
    pages = 0
    while True:
        (r,) = await history_read(client, details, [node], cps=[cp])
        assert r.StatusCode.is_good(), r.StatusCode
        out += r.HistoryData.DataValues
        pages += 1
        cp = r.ContinuationPoint
        if not cp:
            return out, pages
