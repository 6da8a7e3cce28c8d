"""OPC UA times and HistoryData bodies, columnar: numpy in, wire bytes out.

A raw HistoryRead answer can hold 100,000 values per node; building one asyncua
``DataValue`` object per value and letting asyncua serialise them costs far
more than the read itself. :func:`history_data_body` writes the binary encoding
of a ``HistoryData`` structure (OPC UA Part 6, 5.2.2.17 DataValue) straight from
the query columns with one structured numpy array: every row has the same
layout (value, StatusCode, source timestamp, source picoseconds, optionally the
server timestamp), so the body is one ``tobytes``. Placeholder rows (a bound that
was not found) are encoded separately and spliced in front of or behind it.

Times: OPC UA ``DateTime`` is 100 ns ticks since 1601-01-01 UTC; the historian
keeps nanoseconds since 1970. The remaining ``ns % 100`` travels in the
DataValue's ``SourcePicoseconds`` (units of 10 ps), so a timestamp read through
HistoryRead is exact to the nanosecond. Request times arrive decoded by asyncua
as ``datetime`` (microseconds): that is the resolution of a request's bounds.

>>> ticks = ns_to_ticks(np.array([0, 1_700_000_000_123_456_789]))
>>> ticks.tolist()
[116444736000000000, 133444736001234567]
>>> datetime_to_ns(ns_to_datetime(1_700_000_000_123_456_000))
1700000000123456000
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from asyncua import ua as _ua
from asyncua.ua.ua_binary import struct_to_binary
from numpy.typing import NDArray

ua: Any = _ua  # asyncua's NewType-style annotations fight mypy at every call

EPOCH_TICKS = 116_444_736_000_000_000
"""100 ns ticks from 1601-01-01 (OPC UA's epoch) to 1970-01-01."""
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_DATETIME_NS = -EPOCH_TICKS * 100
"""DateTime.MinValue (tick 0) in ns since 1970: "not specified" in a request."""

# DataValue encoding mask bits (Part 6, 5.2.2.17)
_HAS_VALUE, _HAS_STATUS, _HAS_SOURCE_TS = 0x01, 0x02, 0x04
_HAS_SERVER_TS, _HAS_SOURCE_PS = 0x08, 0x10
# Variant built-in type ids (Part 6, 5.1.2)
VARIANT_ID = {"Boolean": 1, "Int32": 6, "UInt32": 7, "Float": 10, "Double": 11}
_VALUE_FORMAT = {1: "u1", 6: "<i4", 7: "<u4", 10: "<f4", 11: "<f8"}


def ns_to_ticks(ns: NDArray[np.int64]) -> NDArray[np.int64]:
    """ns since 1970 -> OPC UA DateTime ticks (floor to 100 ns)."""
    return np.floor_divide(np.asarray(ns, np.int64), 100) + EPOCH_TICKS


def ns_to_datetime(ns: int) -> datetime:
    """Exact to the microsecond (a float division is not, at today's epoch)."""
    return UNIX_EPOCH + timedelta(microseconds=int(ns) // 1000)


def datetime_to_ns(dt: datetime | None) -> int | None:
    """A request time -> ns since 1970; None for DateTime.MinValue ("not specified")."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt - UNIX_EPOCH
    ns = (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000
    return None if ns <= MIN_DATETIME_NS else ns


def encode_rows(
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    status: NDArray[np.uint32],
    *,
    value_type: str = "Double",
    timestamps: str = "source",
) -> bytes:
    """The binary DataValues of the rows, concatenated (no array length prefix).

    Each row carries its StatusCode (also when Good: a zero code is a valid
    explicit encoding) and its value unless the StatusCode is Bad (Part 4, 7.11:
    the value of a Bad DataValue is null). ``timestamps`` is ``source`` (source
    timestamp + ``SourcePicoseconds``, the ``ns % 100``), ``both`` (source and
    server timestamp, no picoseconds) or ``server``. The server timestamp repeats
    the source timestamp (the historian keeps one time per value). Picoseconds are
    left out with ``both``: asyncua 2.1 decodes the picosecond fields out of the
    Part 6 order when a server timestamp sits between them.
    """
    vid = VARIANT_ID[value_type]
    t = np.asarray(ts, np.int64)
    n = len(t)
    status = np.asarray(status, np.uint32)
    has_value = (status >> 30) < 2
    vsize = np.dtype(_VALUE_FORMAT[vid]).itemsize
    if timestamps not in ("source", "both", "server"):
        raise ValueError(f"timestamps must be source, both or server, got {timestamps!r}")
    # mask, status, then source ts + ps | source ts + server ts | server ts
    fixed = 1 + 4 + {"source": 10, "both": 16, "server": 8}[timestamps]
    lengths = fixed + has_value * (1 + vsize)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    buf = np.zeros(int(ends[-1]) if n else 0, np.uint8)
    base = (
        _HAS_STATUS
        | {
            "source": _HAS_SOURCE_TS | _HAS_SOURCE_PS,
            "both": _HAS_SOURCE_TS | _HAS_SERVER_TS,
            "server": _HAS_SERVER_TS,
        }[timestamps]
    )
    buf[starts] = base | has_value.astype(np.uint8)
    pos = starts + 1
    withv = pos[has_value]
    buf[withv] = vid
    if vid == 1:
        vals = (np.nan_to_num(values[has_value]) != 0).astype("u1")
    else:
        vals = np.asarray(np.nan_to_num(values[has_value]) if vid in (6, 7) else values[has_value])
        with np.errstate(over="ignore"):  # beyond float32's range a Float value is +-inf
            vals = vals.astype(_VALUE_FORMAT[vid])
    _scatter(buf, withv + 1, vals)
    pos = pos + has_value * (1 + vsize)
    _scatter(buf, pos, status.astype("<u4"))
    ticks = ns_to_ticks(t).astype("<i8")
    _scatter(buf, pos + 4, ticks)
    if timestamps == "both":
        _scatter(buf, pos + 12, ticks)
    elif timestamps == "source":
        _scatter(buf, pos + 12, ((t % 100) * 100).astype("<u2"))  # 10 ps units below a tick
    return buf.tobytes()


def _scatter(buf: NDArray[np.uint8], offsets: NDArray[np.int64], field: NDArray[Any]) -> None:
    """Write ``field[i]``'s little-endian bytes at ``buf[offsets[i]:]`` for every i."""
    if len(field) == 0:
        return
    width = field.dtype.itemsize
    raw = np.ascontiguousarray(field).view(np.uint8).reshape(-1, width)
    buf[offsets[:, None] + np.arange(width)] = raw


def encode_datavalue(dv: Any) -> bytes:
    """One asyncua DataValue in its binary form (for the few non-columnar rows)."""
    return bytes(struct_to_binary(dv))


def history_data(count: int, rows: bytes) -> Any:
    """A ``HistoryData`` ExtensionObject around ``count`` pre-encoded DataValues."""
    body = struct.pack("<i", count) + rows
    return ua.ExtensionObject(
        TypeId=ua.NodeId(ua.ObjectIds.HistoryData_Encoding_DefaultBinary), Body=body
    )


def placeholder(ns: int, code: int, timestamps: str) -> bytes:
    """A value-less DataValue with a StatusCode and timestamp (e.g. Bad_BoundNotFound)."""
    when = ns_to_datetime(ns)
    dv = ua.DataValue(
        StatusCode=ua.StatusCode(code),
        SourceTimestamp=when if timestamps != "server" else None,
        ServerTimestamp=when if timestamps != "source" else None,
    )
    return encode_datavalue(dv)
