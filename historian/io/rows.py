"""Where an import file is wrong: a row-level error and the map from rows to physical lines.

Column parsers raise :class:`BadRow` with the row's index in the column; the file
reader turns it into :class:`~historian.errors.InputFormatError` with the physical
line (blank lines are skipped by the CSV parser, so row ``i`` is not always line
``i + 2``) and the 1-based column.

>>> lines = LineMap.from_bytes(b"tag,ts\\n\\na,1\\r\\n\\r\\nb,2\\n")
>>> lines.line_of_row(0), lines.line_of_row(1)      # header is line 1, blanks skipped
(3, 5)
>>> lines.line_of_record(2)                          # the 2nd non-blank record (1-based)
3
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BadRow", "LineMap"]


class BadRow(ValueError):
    """Row ``row`` (0-based, in the column being parsed) is invalid for the stated reason."""

    def __init__(self, row: int, why: str) -> None:
        super().__init__(f"row {row}: {why}")
        self.row = row
        self.why = why


class LineMap:
    """Physical line numbers of the non-blank lines of a text file (computed with numpy)."""

    __slots__ = ("_nonblank",)

    def __init__(self, nonblank_lines: np.ndarray[Any, np.dtype[np.int64]]) -> None:
        self._nonblank = nonblank_lines

    @classmethod
    def from_bytes(cls, data: bytes | memoryview | np.ndarray[Any, Any]) -> LineMap:
        buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
        nl = np.flatnonzero(buf == 0x0A)
        starts = np.concatenate(([0], nl + 1))
        ends = np.concatenate((nl, [len(buf)]))
        length = ends - starts
        # a line holding only "\r" (a CRLF blank line) is blank too
        cr_only = (length == 1) & (buf[np.minimum(starts, max(len(buf) - 1, 0))] == 0x0D)
        if len(buf) == 0:
            cr_only = np.zeros(len(starts), dtype=bool)
        blank = (length == 0) | cr_only
        return cls(np.flatnonzero(~blank).astype(np.int64) + 1)

    @classmethod
    def from_file(cls, path: str) -> LineMap:
        return cls.from_bytes(np.fromfile(path, dtype=np.uint8))

    def line_of_record(self, record: int) -> int:
        """Physical line of the ``record``-th non-blank line (1-based, header included)."""
        if 1 <= record <= len(self._nonblank):
            return int(self._nonblank[record - 1])
        return record

    def line_of_row(self, row: int, header_lines: int = 1) -> int:
        """Physical line of data row ``row`` (0-based) after ``header_lines`` header lines."""
        return self.line_of_record(row + header_lines + 1)
