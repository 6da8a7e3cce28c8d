"""PI-style CSV: ``tag,timestamp,value``, where a value is a number or a PI digital state.

PI keeps no status beside a value: a bad event *replaces* the value with a digital
state of the ``SYSTEM`` set (``Bad Input``, ``Shutdown``, ``I/O Timeout``, ...).
Import maps each state to a Bad StatusCode (value NaN); export writes Good and
Uncertain points as numbers and every Bad point as the state of its StatusCode
(``Bad Input`` when there is no closer one). The tables are in
``historian/docs/format/exchange-csv.md``. PI CSV is lossy by nature (Uncertain
and most Bad sub-codes do not survive export); use long CSV or Parquet for exact
copies.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "pi.csv")
>>> _ = open(path, "w").write("tag,timestamp,value\\nSINUSOID,2024-01-01T00:00:00Z,50.5\\n"
...     "SINUSOID,2024-01-01T00:00:01Z,i/o timeout\\nSINUSOID,2024-01-01T00:00:02Z,Shutdown\\n")
>>> p = read_pi(path)
>>> p.values.tolist(), [status_name(q) for q in p.quality]
([50.5, nan, nan], ['Good', 'BadTimeout', 'BadShutdown'])
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from historian.model import QualityArray, Severity, TimeArray, ValueArray, severity_of
from historian.statuscodes import QUALITY_BY_NAME, status_name

from .csv_long import tag_column
from .csv_table import open_csv_writer, read_csv_batches
from .points import NameTable, ParsedPoints, concat, encode_names, parse_values
from .rows import BadRow
from .timestamps import format_timestamps, parse_timestamps

__all__ = ["HEADER", "STATE_FOR_STATUS", "STATUS_FOR_STATE", "PiCsvWriter", "read_pi"]

HEADER = ["tag", "timestamp", "value"]

# digital state (as PI spells it) -> StatusCode name; matched case-insensitively on import
STATUS_FOR_STATE: dict[str, str] = {
    "Bad Input": "Bad", "Bad": "Bad", "Bad Data": "Bad", "Bad Quality": "Bad",
    "Invalid Data": "Bad", "Set to Bad": "Bad", "Error": "Bad",
    "No Data": "BadNoData", "No Sample": "BadNoData", "Arc Off-line": "BadNoData",
    "Shutdown": "BadShutdown", "Intf Shut": "BadShutdown",
    "I/O Timeout": "BadTimeout", "Scan Timeout": "BadTimeout",
    "Calc Failed": "BadAggregateInvalidInputs", "Calc Overflw": "BadAggregateInvalidInputs",
    "Configure": "BadConfigurationError", "Not Connect": "BadNotConnected",
    "Equip Fail": "BadDeviceFailure", "Failed": "BadSensorFailure",
    "Comm Fail": "BadCommunicationError", "Out of Serv": "BadOutOfService",
    "Scan Off": "BadOutOfService", "Calc Off": "BadOutOfService",
    "Under Range": "BadOutOfRange", "Over Range": "BadOutOfRange",
    "Pt Created": "BadWaitingForInitialData",
}  # fmt: skip
# StatusCode name -> the state export writes (the first state of each status above)
STATE_FOR_STATUS: dict[str, str] = {}
for _state, _status in STATUS_FOR_STATE.items():
    STATE_FOR_STATUS.setdefault(_status, _state)
DEFAULT_BAD_STATE = "Bad Input"

_QUALITY_BY_LOWER_STATE = {s.lower(): QUALITY_BY_NAME[c] for s, c in STATUS_FOR_STATE.items()}


def _pi_values(raw: pa.Array) -> tuple[ValueArray, QualityArray]:
    """Numbers are Good points; digital states are Bad points without a value."""
    lower = pc.utf8_trim_whitespace(pc.utf8_lower(raw))
    states = pa.array(sorted(_QUALITY_BY_LOWER_STATE))
    is_state = np.asarray(pc.is_in(lower, value_set=states).to_numpy(zero_copy_only=False))
    empty = np.asarray(pc.equal(raw, "").to_numpy(zero_copy_only=False), dtype=bool)
    if empty.any():
        why = "value is empty; write a number or a digital state such as 'No Data' or 'Bad Input'"
        raise BadRow(int(np.argmax(empty)), why)
    try:
        values = parse_values(pc.if_else(pa.array(is_state), "nan", raw))
    except BadRow as bad:
        why = bad.why.split(" (write", 1)[0]
        known = ", ".join(list(STATUS_FOR_STATE)[:6])
        raise BadRow(bad.row, f"{why}, nor a PI digital state ({known}, ...)") from None
    quality = np.zeros(len(values), dtype=np.uint16)
    if is_state.any():
        idx = np.flatnonzero(is_state)
        enc = pc.dictionary_encode(lower.take(pa.array(idx)))
        table = np.array(
            [_QUALITY_BY_LOWER_STATE[s] for s in enc.dictionary.to_pylist()], dtype=np.uint16
        )
        quality[idx] = table[np.asarray(enc.indices.to_numpy(zero_copy_only=False))]
    return values, quality


def read_pi(path: str) -> ParsedPoints:
    csv = read_csv_batches(path, HEADER)
    names = NameTable()
    tags, stamps, values, qualities = [], [], [], []
    for first, batch in csv:
        local, idx = csv.parse(encode_names, first, 1, batch.column(0))
        stamps.append(csv.parse(parse_timestamps, first, 2, batch.column(1)))
        v, q = csv.parse(_pi_values, first, 3, batch.column(2))
        tags.append(names.globalise(local, idx))
        values.append(v)
        qualities.append(q)
    return ParsedPoints(
        path,
        names.names,
        concat(tags, np.int32),
        concat(stamps, np.int64),
        concat(values, np.float64),
        concat(qualities, np.uint16),
        locate=lambda i: (csv.line_of_row(i), 2),
    )


def state_strings(values: ValueArray, quality: QualityArray) -> pa.Array:
    """Numbers for Good/Uncertain points, the digital state for Bad ones."""
    text = pc.cast(pa.array(values, pa.float64()), pa.string())
    text = pc.if_else(pa.array(np.isnan(values)), "NaN", text)
    bad = severity_of(quality) == Severity.BAD
    if not bad.any():
        return text
    uniq, inverse = np.unique(quality, return_inverse=True)
    names = [STATE_FOR_STATUS.get(status_name(int(q)), DEFAULT_BAD_STATE) for q in uniq]
    states = pa.array(names, pa.string()).take(pa.array(inverse.reshape(-1)))
    return pc.if_else(pa.array(bad), states, text)


_SCHEMA = pa.schema(
    [
        ("tag", pa.dictionary(pa.int32(), pa.string())),
        ("timestamp", pa.string()),
        ("value", pa.string()),
    ]
)


class PiCsvWriter:
    def __init__(self, path: str) -> None:
        self._sink, self._writer = open_csv_writer(path, _SCHEMA)
        self.points = 0

    def write(
        self, name: str, ts: TimeArray, values: ValueArray, quality: QualityArray, **_: Any
    ) -> None:
        if len(ts) == 0:
            return
        cols = [tag_column(name, len(ts)), format_timestamps(ts), state_strings(values, quality)]
        self._writer.write_batch(pa.record_batch(cols, schema=_SCHEMA))
        self.points += len(ts)

    def close(self) -> None:
        self._writer.close()
        self._sink.close()

    def __enter__(self) -> PiCsvWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
