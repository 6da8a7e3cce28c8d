"""``POST /api/v1/write``: a columnar batch from a source that cannot reach NATS.

Bodies (``Content-Type``):

- ``application/json``: ``{"tag": [...], "timestamp": [...], "value": [...],
  "status": [...]}``; ``tag`` may be one string for every point; ``timestamp``
  entries are ISO 8601 strings or integers (ns since the epoch); ``value`` numbers
  or ``null`` (NaN, allowed only with a Bad status); ``status`` optional (OPC UA
  names such as ``Good``, ``BadSensorFailure`` or numbers like ``0x80000000``).
- ``application/vnd.apache.arrow.stream``: one or more record batches with
  columns ``tag`` (string or dictionary), ``timestamp`` (timestamp or int64 ns),
  ``value`` (float64), and optionally ``quality`` (uint16) or ``status`` (string).

The batch goes to :meth:`QueryEngine.write`, the engine's own validation and
durability (the answer is sent after the WAL fsync under the default durability):
all of it is stored or none. Unknown tags answer 404 (close matches), points the
store refuses 422 (``invalid_batch``, the store's one-line reason), an overloaded
or failing store 503. Success: ``{"written": N, "seq": S}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from historian.api.errors import ApiError, bad_request
from historian.api.times import TimeFormatError, parse_time
from historian.errors import BatchValidationError, DiskFullError, OverloadedError
from historian.model import PointBatch
from historian.query.engine import QueryEngine, UnknownTagError
from historian.statuscodes import parse_statuses
from historian.wal.writer import WalWriteError

__all__ = ["batch_from_arrow", "batch_from_json", "write_batch"]


def _series(
    engine: QueryEngine, names: np.ndarray[Any, Any]
) -> tuple[list[str], np.ndarray[Any, Any]]:
    uniq, inverse = np.unique(names, return_inverse=True)
    tags = [str(t) for t in uniq.tolist()]
    try:
        ids = np.array([engine.tag(t).id for t in tags], dtype=np.uint32)
    except UnknownTagError as exc:
        raise ApiError(404, "unknown_tag", str(exc), close_matches=exc.close_matches) from None
    return tags, ids[inverse.reshape(-1)]


def _quality_from_status(status: Any, n: int) -> np.ndarray[Any, Any]:
    if status is None:
        return np.zeros(n, np.uint16)
    texts = np.asarray(status, dtype=object)
    uniq, inverse = np.unique(texts.astype(str), return_inverse=True)
    qualities, bad, why = parse_statuses([str(u) for u in uniq.tolist()])
    if bad >= 0:
        raise bad_request(f"field 'status': {why}")
    out: np.ndarray[Any, Any] = qualities[inverse.reshape(-1)]
    return out


def _timestamps(raw: list[Any]) -> np.ndarray[Any, Any]:
    if all(isinstance(t, int) and not isinstance(t, bool) for t in raw):
        try:
            return np.asarray(raw, dtype=np.int64)
        except OverflowError:
            raise bad_request("field 'timestamp': integer outside int64 ns") from None
    out = np.empty(len(raw), dtype=np.int64)
    for i, t in enumerate(raw):
        if isinstance(t, int) and not isinstance(t, bool):
            out[i] = t
        elif isinstance(t, str):
            try:
                out[i] = parse_time(t)
            except TimeFormatError as exc:
                raise bad_request(f"field 'timestamp' entry {i}: {exc}") from None
        else:
            raise bad_request(f"field 'timestamp' entry {i} must be an ISO 8601 string or ns")
    return out


def batch_from_json(body: bytes) -> tuple[np.ndarray[Any, Any], dict[str, Any]]:
    """(tag names, {"ts", "values", "quality"}) of a JSON body; 400 on any malformed field."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise bad_request('body must be an object {"tag", "timestamp", "value", "status"}')
    unknown = set(doc) - {"tag", "timestamp", "value", "status"}
    if unknown:
        raise bad_request(f"unknown field(s) {sorted(unknown)}; use tag, timestamp, value, status")
    ts_raw, values_raw = doc.get("timestamp"), doc.get("value")
    if not isinstance(ts_raw, list) or not isinstance(values_raw, list):
        raise bad_request("fields 'timestamp' and 'value' must be arrays of equal length")
    n = len(ts_raw)
    tag = doc.get("tag")
    if isinstance(tag, str):
        names = np.full(n, tag, dtype=object)
    elif isinstance(tag, list) and all(isinstance(t, str) for t in tag):
        names = np.asarray(tag, dtype=object)
    else:
        raise bad_request("field 'tag' must be a tag name or an array of tag names")
    status = doc.get("status")
    if status is not None and not (
        isinstance(status, list) and all(isinstance(s, str | int) for s in status)
    ):
        raise bad_request("field 'status' must be an array of status names")
    lengths = {len(names), len(values_raw), n, len(status) if status is not None else n}
    if len(lengths) != 1:
        raise bad_request("fields 'tag', 'timestamp', 'value' and 'status' differ in length")
    if not all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values_raw
    ):
        raise bad_request("field 'value' must hold numbers or null")
    values = np.array([np.nan if v is None else v for v in values_raw], dtype=np.float64)
    cols = {
        "ts": _timestamps(ts_raw),
        "values": values,
        "quality": _quality_from_status([str(s) for s in status] if status else None, n),
    }
    return names, cols


def batch_from_arrow(body: bytes) -> tuple[np.ndarray[Any, Any], dict[str, Any]]:
    """(tag names, columns) of an Arrow IPC stream body; 400 when a column is missing."""
    import pyarrow as pa  # lazy: only Arrow requests pay its ~25 MB (benchmarks/bench_rss.py)

    try:
        table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise bad_request(f"body is not an Arrow IPC stream: {exc}") from None
    missing = {"tag", "timestamp", "value"} - set(table.column_names)
    if missing:
        raise bad_request(f"Arrow body lacks column(s) {sorted(missing)}")
    tag = table.column("tag")
    if pa.types.is_dictionary(tag.type):
        tag = tag.cast(pa.string())
    names = np.asarray(tag.to_numpy(zero_copy_only=False), dtype=object)
    ts_col = table.column("timestamp")
    if pa.types.is_timestamp(ts_col.type):
        ts_col = ts_col.cast(pa.timestamp("ns", ts_col.type.tz)).cast(pa.int64())
    try:
        ts = np.asarray(ts_col.cast(pa.int64()).to_numpy(), dtype=np.int64)
        values = np.asarray(table.column("value").cast(pa.float64()).to_numpy(), np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise bad_request(f"Arrow columns timestamp/value: {exc}") from None
    if "quality" in table.column_names:
        quality = np.asarray(table.column("quality").cast(pa.uint16()).to_numpy(), np.uint16)
    elif "status" in table.column_names:
        quality = _quality_from_status(table.column("status").to_pylist(), len(ts))
    else:
        quality = np.zeros(len(ts), np.uint16)
    return names, {"ts": ts, "values": values, "quality": quality}


def write_batch(
    engine: QueryEngine, names: np.ndarray[Any, Any], cols: dict[str, Any], principal_check: Any
) -> dict[str, int]:
    """Map names to series, check the write scope, write; the answer's JSON fields."""
    if len(names) == 0:
        return {"written": 0, "seq": int(engine.db.last_seq)}
    if any(not isinstance(n, str) for n in names.tolist()):
        raise bad_request("every 'tag' entry must be a string")
    tags, series = _series(engine, names)
    principal_check(tags)
    batch = PointBatch.from_arrays(series, cols["ts"], cols["values"], cols["quality"])
    try:
        seq = engine.write(batch)
    except BatchValidationError as exc:
        raise ApiError(422, "invalid_batch", str(exc)) from None
    except (OverloadedError, DiskFullError) as exc:
        raise ApiError(503, "unavailable", f"the store cannot take the batch now: {exc}") from None
    except (WalWriteError, OSError) as exc:
        # a failed WAL append/fsync: nothing was acknowledged; the store may need a reopen
        raise ApiError(503, "unavailable", f"the store refused the write: {exc}") from None
    return {"written": len(batch), "seq": int(seq)}
