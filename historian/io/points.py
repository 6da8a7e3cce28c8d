"""Parsed import data (columns + tag names) and the column parsers every input format shares.

A :class:`ParsedPoints` is one file's points as columns, with tags as indices into
a list of distinct names (tags are few, points many: no per-point strings survive
parsing). The parsers raise :class:`~historian.io.rows.BadRow`; file readers add
the file, line and column.

>>> import pyarrow as pa
>>> parse_values(pa.array(["1.5", "", "-2e3", "nan"])).tolist()
[1.5, nan, -2000.0, nan]
>>> q = parse_status_column(pa.array(["Good", "BadNoData", "0x40000000"]))
>>> q.tolist()
[0, 32923, 16384]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from historian.catalogue.tag import check_name
from historian.errors import CatalogueError
from historian.model import QualityArray, Severity, TimeArray, ValueArray, severity_of
from historian.statuscodes import parse_statuses

from .rows import BadRow

__all__ = [
    "NameTable",
    "ParsedPoints",
    "check_empty_values",
    "encode_names",
    "parse_status_column",
    "parse_values",
]


@dataclass(frozen=True)
class ParsedPoints:
    """The points of one input file; ``tag[i]`` indexes ``names``."""

    path: str
    names: list[str]
    tag: NDArray[np.int32]
    ts: TimeArray
    values: ValueArray
    quality: QualityArray
    locate: Callable[[int], tuple[int, int]] = field(default=lambda i: (0, 0), compare=False)
    """(line, column) of point ``i``'s timestamp in the file, for error messages."""

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def nbytes(self) -> int:
        return int(self.tag.nbytes + self.ts.nbytes + self.values.nbytes + self.quality.nbytes)


class NameTable:
    """Tag names across the batches of one file: batch-local indices -> file-wide ones."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def globalise(self, names: list[str], local: NDArray[np.int32]) -> NDArray[np.int32]:
        table = np.array([self._add(n) for n in names], dtype=np.int32)
        return table[local] if len(table) else np.zeros(0, np.int32)

    def _add(self, name: str) -> int:
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]


def concat(parts: list[NDArray[Any]], dtype: Any) -> NDArray[Any]:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _strings(column: Any) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def encode_names(column: pa.Array | pa.ChunkedArray) -> tuple[list[str], NDArray[np.int32]]:
    """Distinct tag names and one index per row; every name checked once."""
    enc = pc.dictionary_encode(_strings(column))
    names: list[str] = enc.dictionary.to_pylist()
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
    for k, name in enumerate(names):
        try:
            check_name(name)
        except CatalogueError:
            row = int(np.argmax(idx == k))
            what = "is empty" if not name else "is not a valid tag path"
            raise BadRow(
                row,
                f"tag {name!r} {what}: use dot-separated segments of letters, digits, '_' "
                "and '-' (e.g. acme.site.area.line.cell.pump1.speed)",
            ) from None
    return names, idx


def parse_values(column: pa.Array | pa.ChunkedArray) -> ValueArray:
    """float64 per row; empty strings and nulls become NaN (see :func:`check_empty_values`)."""
    raw = _strings(column)
    if pa.types.is_floating(raw.type) or pa.types.is_integer(raw.type):
        return np.asarray(pc.fill_null(pc.cast(raw, pa.float64()), np.nan).to_numpy(), np.float64)
    filled = pc.if_else(pc.equal(pc.fill_null(raw, ""), ""), "nan", pc.fill_null(raw, ""))
    try:
        out = pc.cast(filled, pa.float64())
    except pa.ArrowInvalid:
        raise BadRow(_first_non_number(filled), _value_why(filled)) from None
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=np.float64)


def _first_non_number(strings: pa.Array) -> int:
    # only on the error path: find the failing block, then the failing string
    block = 65536
    for lo in range(0, len(strings), block):
        part = strings.slice(lo, block)
        try:
            pc.cast(part, pa.float64())
        except pa.ArrowInvalid:
            for j, s in enumerate(part.to_pylist()):
                try:
                    pc.cast(pa.array([s]), pa.float64())
                except pa.ArrowInvalid:
                    return lo + j
    return 0


def _value_why(strings: pa.Array) -> str:
    text = strings[_first_non_number(strings)].as_py()
    return f"value {text!r} is not a number (write e.g. 12.5, -3e-2, NaN, inf; empty only for Bad)"


def check_empty_values(present: NDArray[np.bool_], quality: QualityArray) -> None:
    """An absent value is allowed only on a Bad point (it means "no value": NaN)."""
    wrong = ~present & (severity_of(quality) != Severity.BAD)
    if wrong.any():
        raise BadRow(
            int(np.argmax(wrong)),
            "value is empty but the status is not Bad; give a number, or a Bad status "
            "(e.g. Bad, BadNoData) for a point without a value",
        )


def value_present(column: pa.Array | pa.ChunkedArray) -> NDArray[np.bool_]:
    raw = _strings(column)
    if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
        empty = pc.equal(pc.fill_null(raw, ""), "")
    else:
        empty = raw.is_null()
    return ~np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)


def parse_status_column(column: pa.Array | pa.ChunkedArray) -> QualityArray:
    """Stored quality per row from StatusCode names or numbers (parsed once per distinct text)."""
    raw = _strings(column)
    if pa.types.is_integer(raw.type):  # Parquet: uint32 StatusCodes
        codes = np.asarray(pc.fill_null(raw, 0).to_numpy(), dtype=np.int64)
        bad = (codes < 0) | (codes > 0xFFFFFFFF) | ((codes & 0xFFFF) != 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise BadRow(i, f"status {codes[i]:#x} is not a 32-bit StatusCode without info bits")
        return (codes >> 16).astype(np.uint16)
    enc = pc.dictionary_encode(pc.fill_null(raw, ""))
    distinct: list[str] = enc.dictionary.to_pylist()
    table, bad_k, why = parse_statuses(distinct)
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    if bad_k >= 0:
        row = int(np.argmax(idx == bad_k))
        if distinct[bad_k].strip() == "":
            why = "status is empty; write Good, Uncertain, Bad, a StatusCode name or 0x80000000"
        raise BadRow(row, why)
    return table[idx]
