"""ISO 8601 timestamps with a zone <-> int64 nanoseconds since the Unix epoch, vectorised.

``datetime`` stops at microseconds, so the parser is our own: one RE2 pass
(``pyarrow.compute.extract_regex``) splits every string into its fields, then
numpy does the calendar arithmetic on whole columns. Accepted::

    YYYY-MM-DDThh:mm:ss[.f{1,9}](Z | +hh:mm | -hh:mm | +hhmm | +hh)

``T`` may also be ``t`` or one space, ``Z`` may be ``z``, the decimal mark ``.``
or ``,``. A zone is required (a naive time is ambiguous), leap seconds (``:60``)
are refused (int64 ns since the epoch has no place for them).

>>> import pyarrow as pa
>>> ns = parse_timestamps(pa.array(["1970-01-01T00:00:01.000000001Z",
...                                 "2024-02-29 23:59:59,5+01:00"]))
>>> ns.tolist()
[1000000001, 1709247599500000000]
>>> format_timestamps(ns).tolist()
['1970-01-01T00:00:01.000000001Z', '2024-02-29T22:59:59.500000000Z']
>>> parse_timestamps(pa.array(["2023-02-29T00:00:00Z"]))
Traceback (most recent call last):
...
historian.io.rows.BadRow: row 0: timestamp '2023-02-29T00:00:00Z': day 29 is not in 2023-02 \
(1..28)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from historian.model import TimeArray

from .iso8601_kernels import WIDTH, format_rows, parse_rows
from .rows import BadRow

__all__ = ["EXPECTED", "format_timestamps", "parse_timestamps"]

EXPECTED = "expected ISO 8601 with a zone, e.g. 2024-05-01T12:00:00.123456789Z or +02:00"
_RX = (
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[Tt ](?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:[.,](?P<f>\d{1,9}))?(?P<z>[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
# int64 nanoseconds reach 1677-09-21 .. 2262-04-11; keep whole seconds strictly inside
_MIN_S, _MAX_S = -(2**63) // 10**9 + 1, (2**63 - 1) // 10**9 - 1


def _ints(arr: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _fail(raw: pa.Array, mask: np.ndarray[Any, np.dtype[np.bool_]], why: Any) -> BadRow:
    i = int(np.argmax(mask))
    text = raw[i].as_py()
    reason = why(i) if callable(why) else why
    return BadRow(i, f"timestamp {text!r}: {reason}")


def parse_timestamps(column: pa.Array | pa.ChunkedArray) -> TimeArray:
    """int64 ns for a string column; raises :class:`BadRow` naming the first bad row.

    Works chunk by chunk on the Arrow buffers with a numba kernel; the regular
    expression parser runs only to explain a row the kernel refused.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out: list[TimeArray] = []
    done = 0
    for chunk in chunks:
        try:
            out.append(_parse_chunk(chunk))
        except BadRow as bad:
            raise BadRow(done + bad.row, bad.why) from None
        done += len(chunk)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _parse_chunk(raw: pa.Array) -> TimeArray:
    n = len(raw)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if raw.null_count:
        raise _fail(raw, np.asarray(raw.is_null().to_numpy(zero_copy_only=False)), "is empty")
    if not pa.types.is_string(raw.type):
        raw = pc.cast(raw, pa.string())
    bufs = raw.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[raw.offset : raw.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
    out = np.empty(n, dtype=np.int64)
    bad = parse_rows(data, offsets, out)
    if bad >= 0:
        try:
            _explain(raw[bad : bad + 1])  # raises with the precise reason
        except BadRow as why:
            raise BadRow(bad, why.why) from None
        raise BadRow(bad, f"timestamp {raw[bad].as_py()!r}: not a timestamp; {EXPECTED}")
    return out


def _explain(one: pa.Array) -> None:
    """The careful (regular-expression) parser for one row: raises BadRow(0, reason)."""
    parts = pc.extract_regex(one, _RX)
    if parts.is_null()[0].as_py():
        raise _fail(one, np.array([True]), f"not a timestamp; {EXPECTED}")
    zone = parts.field("z")
    if zone[0].as_py() == "":
        raise _fail(one, np.array([True]), "has no zone; add Z for UTC or an offset like +02:00")
    y, mo, d = _ints(parts.field("y")), _ints(parts.field("mo")), _ints(parts.field("d"))
    h, mi, s = _ints(parts.field("h")), _ints(parts.field("mi")), _ints(parts.field("s"))
    offset = _zone_offsets(zone)
    _check_fields(one, y, mo, d, h, mi, s, offset)
    secs = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
    if secs[0] < _MIN_S or secs[0] > _MAX_S:
        raise _fail(one, np.array([True]), "outside the int64 nanosecond range (1677..2262)")


def _zone_offsets(zone: pa.Array) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Offset in seconds per row; computed once per distinct zone string."""
    enc = pc.dictionary_encode(zone)
    table = np.array([_offset_s(z) for z in enc.dictionary.to_pylist()], dtype=np.int64)
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return table[idx]


def _offset_s(z: str) -> int:
    if z in ("Z", "z"):
        return 0
    digits = z[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        return 1 << 40  # marks an impossible offset; _check_fields reports it
    sign = -1 if z[0] == "-" else 1
    return sign * (hours * 3600 + minutes * 60)


def _check_fields(
    raw: pa.Array, y: Any, mo: Any, d: Any, h: Any, mi: Any, s: Any, off: Any
) -> None:
    bad_month = (mo < 1) | (mo > 12)
    if bad_month.any():
        raise _fail(raw, bad_month, lambda i: f"month {mo[i]} is not 1..12")
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = _DAYS_IN_MONTH[mo] + ((mo == 2) & leap)
    bad_day = (d < 1) | (d > dim)
    if bad_day.any():
        raise _fail(
            raw, bad_day, lambda i: f"day {d[i]} is not in {y[i]:04d}-{mo[i]:02d} (1..{dim[i]})"
        )
    if (h > 23).any():
        raise _fail(raw, h > 23, lambda i: f"hour {h[i]} is not 0..23")
    if (mi > 59).any():
        raise _fail(raw, mi > 59, lambda i: f"minute {mi[i]} is not 0..59")
    if (s == 60).any():
        raise _fail(
            raw, s == 60, "leap second :60 cannot be stored; use :59.999999999 or the next second"
        )
    if (s > 60).any():
        raise _fail(raw, s > 60, lambda i: f"second {s[i]} is not 0..59")
    if (off == 1 << 40).any():
        raise _fail(
            raw, off == 1 << 40, "zone offset is not a valid +hh:mm (hours 0..23, minutes 0..59)"
        )


def _days_from_civil(y: Any, m: Any, d: Any) -> Any:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), vectorised."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = np.where(m > 2, m - 3, m + 9)
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def format_timestamps(ns: TimeArray) -> pa.Array:
    """``YYYY-MM-DDThh:mm:ss.fffffffffZ`` (UTC, always 9 fraction digits) per timestamp.

    A numba kernel writes the ASCII bytes of the whole column, handed to Arrow as
    a string array's buffers (no Python string per point).
    """
    t = np.ascontiguousarray(ns, dtype=np.int64)
    n = len(t)
    out = np.empty(n * WIDTH, dtype=np.uint8)
    format_rows(t, out)
    offsets = np.arange(0, (n + 1) * WIDTH, WIDTH, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out))
