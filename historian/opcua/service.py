"""The HistoryRead service of the historian's OPC UA server, over :class:`QueryEngine`.

asyncua's own ``HistoryManager`` answers only raw reads, never passes
``returnBounds`` on and answers processed and at-time reads with
``Bad_NotImplemented``. :class:`HistorianHistoryManager` replaces it on the
server (``iserver.history_manager``) and answers the whole request itself:

* ReadRawModifiedDetails (:mod:`historian.opcua.raw`); IsReadModified ->
  ``Bad_HistoryOperationUnsupported`` (the historian keeps no modification log);
* ReadProcessedDetails and ReadAtTimeDetails (:mod:`historian.opcua.processed`);
* anything else (events, annotations) -> ``Bad_HistoryOperationUnsupported``.

Request-level errors are ServiceFaults: no nodes (``Bad_NothingToDo``), more than
``max_nodes`` (``Bad_TooManyOperations``), TimestampsToReturn ``Neither`` or
invalid (``Bad_TimestampsToReturnInvalid``), aggregate list and node list of
different lengths (``Bad_AggregateListMismatch``). Everything else is the status
of one node's result. The queries run in a worker thread, never on the event
loop (the server's watchdog drops sessions when the loop stalls ~1 s).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
from asyncua.server.history import HistoryManager

from historian.catalogue import TagInfo
from historian.opcua import processed, raw
from historian.opcua.continuation import ContinuationStore, Cursor
from historian.opcua.encoding import datetime_to_ns, ua
from historian.query.engine import QueryEngine, QueryLimitError
from historian.query.part13 import AggregateConfiguration, AggregateRequestError
from historian.query.recorded import InvalidPageTokenError


@dataclass(frozen=True)
class HistoryLimits:
    """What one HistoryRead may ask for (published in ServerCapabilities; docs/opcua.md)."""

    max_nodes: int = 1_000
    """NodesToRead per request (MaxNodesPerHistoryReadData)."""
    max_values: int = 20_000
    """Raw values per node per response (MaxReturnDataValues); the rest is paged. Not more
    by default: asyncua clients decode ~25 k values/s on their event loop, and a page
    that takes seconds to decode starves their keep-alive (they disconnect)."""
    max_intervals: int = 100_000
    """Processed values per node per response; the rest is paged."""
    max_at_times: int = 10_000
    """ReqTimes of one ReadAtTime (more: Bad_TooManyArguments on each node)."""
    continuation_points: int = 1_000
    """Live continuation points (MaxHistoryContinuationPoints); the oldest is dropped."""


_TIMESTAMPS = {0: "source", 1: "server", 2: "both"}


def _status(code: int) -> Any:
    return ua.StatusCode(code)


def _fail(code: int) -> Any:
    return ua.HistoryReadResult(StatusCode=_status(code))


class HistorianHistoryManager(HistoryManager):
    """History service answering from the historian (see the module docstring)."""

    def __init__(
        self,
        iserver: Any,
        engine: QueryEngine,
        tags: dict[Any, TagInfo],
        limits: HistoryLimits | None = None,
        defaults: AggregateConfiguration | None = None,
    ) -> None:
        super().__init__(iserver)
        self.engine = engine
        self.tags = tags
        """NodeId -> catalogue entry of every historized variable."""
        self.limits = limits or HistoryLimits()
        self.defaults = defaults or AggregateConfiguration()
        self.cursors = ContinuationStore(self.limits.continuation_points)

    async def init(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def read_history(self, params: Any) -> list[Any]:
        nodes = params.NodesToRead or []
        if not nodes:
            raise ua.UaStatusCodeError(ua.StatusCodes.BadNothingToDo)
        if len(nodes) > self.limits.max_nodes:
            raise ua.UaStatusCodeError(ua.StatusCodes.BadTooManyOperations)
        timestamps = _TIMESTAMPS.get(int(params.TimestampsToReturn))
        if timestamps is None:
            raise ua.UaStatusCodeError(ua.StatusCodes.BadTimestampsToReturnInvalid)
        details = params.HistoryReadDetails
        if params.ReleaseContinuationPoints:
            return [self._release(rv) for rv in nodes]
        aggregates = getattr(details, "AggregateType", None) or []
        if isinstance(details, ua.ReadProcessedDetails) and len(aggregates) != len(nodes):
            raise ua.UaStatusCodeError(ua.StatusCodes.BadAggregateListMismatch)
        return await asyncio.to_thread(self._read_all, details, nodes, timestamps)

    def _release(self, rv: Any) -> Any:
        if rv.ContinuationPoint and not self.cursors.release(rv.ContinuationPoint):
            return _fail(ua.StatusCodes.BadContinuationPointInvalid)
        return ua.HistoryReadResult(StatusCode=_status(ua.StatusCodes.Good))

    def _read_all(self, details: Any, nodes: list[Any], timestamps: str) -> list[Any]:
        out = []
        for i, rv in enumerate(nodes):
            try:
                out.append(self._read_one(details, i, rv, timestamps))
            except QueryLimitError:
                out.append(_fail(ua.StatusCodes.BadResourceUnavailable))
        return out

    def _read_one(self, details: Any, i: int, rv: Any, timestamps: str) -> Any:
        info = self.tags.get(rv.NodeId)
        if info is None:
            known = rv.NodeId in self.iserver.aspace
            return _fail(
                ua.StatusCodes.BadHistoryOperationUnsupported
                if known
                else ua.StatusCodes.BadNodeIdUnknown
            )
        if isinstance(details, ua.ReadRawModifiedDetails):
            if details.IsReadModified:
                return _fail(ua.StatusCodes.BadHistoryOperationUnsupported)
            return self._raw(details, rv, info, timestamps)
        if isinstance(details, ua.ReadProcessedDetails):
            return self._processed(details, details.AggregateType[i], rv, info, timestamps)
        if isinstance(details, ua.ReadAtTimeDetails):
            return self._at_time(details, info, timestamps)
        return _fail(ua.StatusCodes.BadHistoryOperationUnsupported)

    def _cursor(self, rv: Any, kind: str, info: TagInfo) -> Cursor | bool | None:
        """The request's cursor (continued read), None (a first read), False (invalid)."""
        if not rv.ContinuationPoint:
            return None
        cursor = self.cursors.take(rv.ContinuationPoint)
        if cursor is None or cursor.kind != kind or cursor.node != info.name:
            return False
        return cursor

    def _result(self, data: Any, code: int, kind: str, info: TagInfo, state: Any) -> Any:
        result = ua.HistoryReadResult(StatusCode=_status(code), HistoryData=data)
        if state is not None:
            result.ContinuationPoint = self.cursors.put(Cursor(kind, info.name, state))
        return result

    # ------------------------------------------------------------------ raw
    def _raw(self, d: Any, rv: Any, info: TagInfo, timestamps: str) -> Any:
        cursor = self._cursor(rv, "raw", info)
        if cursor is False:
            return _fail(ua.StatusCodes.BadContinuationPointInvalid)
        if isinstance(cursor, Cursor):
            query, bounds, state = cursor.state["query"], cursor.state["bounds"], cursor.state
            timestamps = cursor.state["timestamps"]
        else:
            try:
                query = raw.resolve(
                    datetime_to_ns(d.StartTime),
                    datetime_to_ns(d.EndTime),
                    int(d.NumValuesPerNode),
                    self.limits.max_values,
                )
            except raw.RawRequestError as exc:
                return _fail(exc.code)
            bounds, state = bool(d.ReturnBounds), {}
        try:
            data, code, nxt = raw.read_page(
                self.engine, info, query, bounds, state.get("page", {}), timestamps
            )
        except InvalidPageTokenError:
            return _fail(ua.StatusCodes.BadContinuationPointInvalid)
        if nxt is not None:
            nxt = {"query": query, "bounds": bounds, "timestamps": timestamps, "page": nxt}
        return self._result(data, code, "raw", info, nxt)

    # ------------------------------------------------------------ processed
    def _processed(self, d: Any, agg_id: Any, rv: Any, info: TagInfo, timestamps: str) -> Any:
        if timestamps == "server":
            return _fail(ua.StatusCodes.BadTimestampsToReturnInvalid)
        cursor = self._cursor(rv, "processed", info)
        if cursor is False:
            return _fail(ua.StatusCodes.BadContinuationPointInvalid)
        fn = processed.aggregate_of(agg_id)
        if fn is None:
            return _fail(ua.StatusCodes.BadAggregateNotSupported)
        if isinstance(cursor, Cursor):
            st = cursor.state
            start, end, interval, config, done = (
                st["start"], st["end"], st["interval"], st["config"], st["done"],
            )  # fmt: skip
            if st["aggregate"] != fn.name:
                return _fail(ua.StatusCodes.BadContinuationPointInvalid)
        else:
            start, end = datetime_to_ns(d.StartTime), datetime_to_ns(d.EndTime)
            if start is None or end is None:
                return _fail(ua.StatusCodes.BadInvalidTimestampArgument)
            interval = round(float(d.ProcessingInterval) * 1_000_000)  # ms -> ns
            if start == end or interval < 0 or not np.isfinite(d.ProcessingInterval):
                return _fail(ua.StatusCodes.BadInvalidArgument)
            try:
                config = processed.configuration(d.AggregateConfiguration, self.defaults)
            except AggregateRequestError:
                return _fail(ua.StatusCodes.BadAggregateConfigurationRejected)
            done = 0
        result, nxt = processed.processed_page(
            self.engine, info, fn, start, end, interval, config, done, self.limits.max_intervals
        )
        data = processed.encode_result(fn.name, result, timestamps)
        state = None
        if nxt is not None:
            state = dict(start=start, end=end, interval=interval, config=config, done=nxt)
            state["aggregate"] = fn.name
        return self._result(data, ua.StatusCodes.Good, "processed", info, state)

    # -------------------------------------------------------------- at time
    def _at_time(self, d: Any, info: TagInfo, timestamps: str) -> Any:
        req = d.ReqTimes or []
        if len(req) > self.limits.max_at_times:
            return _fail(ua.StatusCodes.BadTooManyArguments)
        ns = [datetime_to_ns(t) for t in req]
        if any(t is None for t in ns):
            return _fail(ua.StatusCodes.BadInvalidTimestampArgument)
        times = np.array(ns, dtype=np.int64)
        result = processed.at_times(
            self.engine, info, times, bool(d.UseSimpleBounds), self.defaults
        )
        data = processed.encode_result("Interpolative", result, timestamps)
        code = ua.StatusCodes.Good if len(times) else ua.StatusCodes.GoodNoData
        return self._result(data, code, "at_time", info, None)
