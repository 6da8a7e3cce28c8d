"""Query results to bytes: JSON value items built from the columns, and Arrow IPC streams.

JSON (``application/json``): value items are
``{"timestamp": "...Z", "value": <number|null>, "status": "Good", "good": true}``. They
are assembled as one byte matrix, one row per value, without a Python object per
point: the timestamps are formatted by integer arithmetic on the whole column, the
numbers by one ``orjson`` call on the float64 column (shortest round-trip form; NaN
and ±inf become ``null``) whose element spans are found from its commas, and the
status names are looked up once per distinct quality. Every row gets the same
width: the variable fields are padded with spaces *after* each token (JSON allows
whitespace between tokens), so the matrix is the response body as it stands.

Arrow (``application/vnd.apache.arrow.stream``): one IPC stream, one record batch
with ``timestamp`` (``timestamp[ns, UTC]``), ``value`` (float64, NaN kept),
``quality`` (uint16, the high 16 bits of the OPC UA StatusCode), ``status``
(dictionary-encoded names), ``good`` (bool) and ``flags`` (uint8,
:class:`~historian.query.columns.ValueFlag`). The numeric columns wrap the
result's numpy buffers without a copy. Schema metadata ``tag`` names the series.

>>> from historian.query.columns import QueryColumns
>>> c = QueryColumns.from_arrays([0, 1_500_000_000], [1.5, float("nan")], [0, 0x8000])
>>> orjson.loads(value_items_json(c))[1]
{'timestamp': '1970-01-01T00:00:01.500000000Z', 'value': None, 'status': 'Bad', 'good': False}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import orjson
from numpy.typing import NDArray

from historian.model import QualityArray, TimeArray, ValueArray
from historian.query.columns import QueryColumns

if TYPE_CHECKING:
    import pyarrow as pa

try:  # H6's OPC UA names; the model's quality names until it is there
    from historian.statuscodes import status_name
except ImportError:  # pragma: no cover - only before historian.statuscodes exists
    from historian.model import Quality

    def status_name(quality: int) -> str:
        try:
            return Quality(quality).name.title().replace("_", "")
        except ValueError:
            return f"0x{int(quality) << 16:08X}"


__all__ = [
    "ARROW_MEDIA_TYPE",
    "arrow_stream",
    "dumps",
    "good_mask",
    "iso_matrix",
    "status_of",
    "value_items_json",
    "values_table",
]

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"
_U8 = np.uint8
_ZERO = ord("0")
_SPACE = ord(" ")
COMPACT_ROWS = 5_000


def dumps(obj: object) -> bytes:
    """orjson with numpy arrays allowed (NaN -> null, as JSON has no NaN)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def good_mask(quality: QualityArray) -> NDArray[np.bool_]:
    """True where the status severity is Good (the top two bits are 00)."""
    return np.asarray(quality, dtype=np.uint16) < 0x4000


def status_of(quality: int) -> str:
    return status_name(int(quality))


def _digits(out: NDArray[np.uint8], col: int, value: NDArray[np.int64], width: int) -> None:
    v = value.copy()
    for k in range(width - 1, -1, -1):
        out[:, col + k] = (v % 10).astype(_U8) + _ZERO
        v //= 10


def iso_matrix(ts: TimeArray) -> NDArray[np.uint8]:
    """``(n, 30)`` ASCII of ``YYYY-MM-DDTHH:MM:SS.fffffffffZ`` per timestamp, vectorised."""
    t = np.asarray(ts, dtype=np.int64)
    n = len(t)
    secs, frac = np.divmod(t, 1_000_000_000)
    days, sod = np.divmod(secs, 86_400)
    # civil_from_days (H. Hinnant), on whole columns
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    out = np.empty((n, 30), dtype=_U8)
    out[:, 4] = out[:, 7] = ord("-")
    out[:, 10] = ord("T")
    out[:, 13] = out[:, 16] = ord(":")
    out[:, 19] = ord(".")
    out[:, 29] = ord("Z")
    _digits(out, 0, year, 4)
    _digits(out, 5, month, 2)
    _digits(out, 8, day, 2)
    _digits(out, 11, sod // 3_600, 2)
    _digits(out, 14, sod // 60 % 60, 2)
    _digits(out, 17, sod % 60, 2)
    _digits(out, 20, frac, 9)
    return out


def _number_matrix(values: ValueArray) -> NDArray[np.uint8]:
    """``(n, w)`` JSON numbers (``null`` for NaN/inf), space-padded, from one orjson call."""
    buf = np.frombuffer(dumps(np.ascontiguousarray(values, dtype=np.float64)), dtype=_U8)
    n = len(values)
    commas = np.flatnonzero(buf == ord(","))
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 1
    starts[1:] = commas + 1
    ends = np.empty(n, dtype=np.int64)
    ends[:-1] = commas
    ends[-1] = len(buf) - 1
    lens = ends - starts
    width = int(lens.max())
    col = np.arange(width, dtype=np.int64)
    idx = starts[:, None] + col[None, :]
    out: NDArray[np.uint8] = buf[np.minimum(idx, len(buf) - 1)]
    out[col[None, :] >= lens[:, None]] = _SPACE
    return out


def _lookup_matrix(keys: NDArray[np.uint16], text: Mapping[int, bytes]) -> NDArray[np.uint8]:
    """``(n, w)`` of per-key byte strings, space-padded; each distinct key formatted once."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    w = max(len(text[int(k)]) for k in uniq)
    table = np.array([text[int(k)].ljust(w) for k in uniq], dtype=f"S{w}")
    return table[inverse.reshape(-1)].view(_U8).reshape(len(keys), w)


def _assemble(pieces: Sequence[bytes | NDArray[np.uint8]], n: int) -> bytes:
    widths = [len(p) if isinstance(p, bytes) else p.shape[1] for p in pieces]
    rows = np.empty((n, sum(widths)), dtype=_U8)
    col = 0
    for piece, w in zip(pieces, widths, strict=True):
        rows[:, col : col + w] = (
            np.frombuffer(piece, dtype=_U8) if isinstance(piece, bytes) else piece
        )
        col += w
    rows[-1, -1] = _SPACE  # no comma after the last row
    return rows.tobytes()


def value_items_json(cols: QueryColumns) -> bytes:
    """The JSON array of value items for a result (see the module docstring)."""
    n = len(cols)
    if n == 0:
        return b"[]"
    quality = np.asarray(cols.quality, dtype=np.uint16)
    uniq = np.unique(quality)
    names = {int(q): status_of(int(q)).encode() + b'"' for q in uniq}
    goods = {int(q): b"true" if q < 0x4000 else b"false" for q in uniq}
    body = _assemble(
        [
            b'{"timestamp":"',
            iso_matrix(cols.ts),
            b'","value":',
            _number_matrix(cols.values),
            b',"status":"',
            _lookup_matrix(quality, names),
            b',"good":',
            _lookup_matrix(quality, goods),
            b"},",
        ],
        n,
    )
    if n <= COMPACT_ROWS:  # small answers (curl, the viewer) without the padding: no string
        # here holds a space (timestamps, status names, true/false), so every space is padding
        body = body.replace(b" ", b"")
    return b"[" + body + b"]"


def json_object(fields: Mapping[str, bytes | object]) -> bytes:
    """``{"k": v, ...}`` where a ``bytes`` value is already-encoded JSON (spliced in as is)."""
    parts = []
    for key, value in fields.items():
        encoded = value if isinstance(value, bytes) else dumps(value)
        parts.append(dumps(key) + b":" + encoded)
    return b"{" + b",".join(parts) + b"}"


def _status_dictionary(quality: QualityArray) -> pa.DictionaryArray:
    import pyarrow as pa  # lazy: only Arrow requests pay its ~25 MB (benchmarks/bench_rss.py)

    uniq, inverse = np.unique(np.asarray(quality, dtype=np.uint16), return_inverse=True)
    names = pa.array([status_of(int(q)) for q in uniq], type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(inverse.reshape(-1).astype(np.int32)), names)


def values_table(
    cols: QueryColumns, extra: Mapping[str, NDArray[np.generic]] | None = None
) -> pa.RecordBatch:
    """One record batch of a result's columns (see the module docstring); no copy of numbers."""
    import pyarrow as pa  # lazy: only Arrow requests pay its ~25 MB (benchmarks/bench_rss.py)

    ts = pa.array(np.ascontiguousarray(cols.ts, dtype=np.int64)).view(pa.timestamp("ns", "UTC"))
    arrays: dict[str, pa.Array] = {}
    for key, col in (extra or {}).items():
        arrays[key] = pa.array(col)
    arrays.update(
        timestamp=ts,
        value=pa.array(np.ascontiguousarray(cols.values, dtype=np.float64)),
        quality=pa.array(np.ascontiguousarray(cols.quality, dtype=np.uint16)),
        status=_status_dictionary(cols.quality),
        good=pa.array(good_mask(cols.quality)),
        flags=pa.array(np.ascontiguousarray(cols.flags, dtype=np.uint8)),
    )
    return pa.RecordBatch.from_arrays(list(arrays.values()), names=list(arrays))


def arrow_stream(batch: pa.RecordBatch, metadata: Mapping[str, str] | None = None) -> bytes:
    """Serialise one record batch as an Arrow IPC stream (schema, batch, end marker)."""
    import pyarrow as pa  # lazy: only Arrow requests pay its ~25 MB (benchmarks/bench_rss.py)

    if metadata:
        batch = batch.replace_schema_metadata(dict(metadata))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())
