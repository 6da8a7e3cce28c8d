"""Stream a CSV file as batches of string columns, reporting defects by line and column.

Every column is read as text (the formats' own parsers convert each batch, with
exact row positions), one record per line, blank lines skipped. Files of any size
stream in blocks of ``_BLOCK`` bytes, so only the parsed columns accumulate (no
whole-file string table; Arrow string columns also stop at 2 GiB). A row with the
wrong number of fields is located with a second, single-threaded streaming parse
(only on that error path) because the multi-threaded parse does not number rows.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv

from historian.errors import InputFormatError

from .rows import BadRow, LineMap

__all__ = ["CsvBatches", "open_csv_writer", "read_csv_batches", "read_header"]

T = TypeVar("T")

_BLOCK = 16 << 20  # pyarrow block size: large blocks parse fastest on few cores


@dataclass
class CsvBatches:
    """A CSV file's rows as record batches of strings: iterate for (first row, batch)."""

    path: str
    columns: list[str]
    _lines: LineMap | None = field(default=None, repr=False)

    def line_of_row(self, row: int) -> int:
        if self._lines is None:
            self._lines = LineMap.from_file(self.path)
        return self._lines.line_of_row(row)

    def error(self, bad: BadRow, column: int) -> InputFormatError:
        """The row error as ``FILE:LINE:COLUMN: why`` (``column`` 1-based)."""
        return InputFormatError(self.path, self.line_of_row(bad.row), column, bad.why)

    def parse(self, fn: Callable[..., T], first_row: int, column: int, *args: Any) -> T:
        """``fn(*args)``, with a :class:`BadRow` it raises turned into this file's error."""
        try:
            return fn(*args)
        except BadRow as bad:
            raise self.error(BadRow(first_row + bad.row, bad.why), column) from None

    def __iter__(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        invalid: list[int] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            invalid.append(row.actual_columns)
            return "skip"

        try:  # open_csv parses the first block already: its errors are the file's too
            reader = _open(self.path, self.columns, on_invalid, threads=True)
        except pa.ArrowInvalid as exc:
            raise InputFormatError(
                self.path, 0, 0, f"cannot parse as CSV: {_one_line(exc)}"
            ) from None
        done = 0
        try:
            for batch in reader:
                if invalid:  # rows after a skipped one would be numbered wrong: stop here
                    raise _locate_width_error(self.path, self.columns)
                yield done, batch
                done += batch.num_rows
        except pa.ArrowInvalid as exc:
            raise InputFormatError(
                self.path, 0, 0, f"cannot parse as CSV: {_one_line(exc)}"
            ) from None
        finally:
            reader.close()
        if invalid:
            raise _locate_width_error(self.path, self.columns)


def _one_line(exc: Exception) -> str:
    # pyarrow quotes the offending row, which may hold a quoted line break
    return str(exc).replace("\r", "\\r").replace("\n", "\\n")


def _check_utf8(path: str) -> None:
    """Refuse a file that is not UTF-8 before pyarrow sees it (pyarrow's invalid-row
    callback dies decoding such a row, printing a traceback; found by fuzzing). Cheap:
    ``isascii`` runs at memory speed, only non-ASCII blocks are decoded."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            if not (block.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    _not_utf8(path, offset + exc.start)
            offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        _not_utf8(path, offset - len(decoder.getstate()[0]))


def _not_utf8(path: str, at: int) -> None:
    with open(path, "rb") as fh:
        head = fh.read(at)
    start = head.rfind(b"\n") + 1
    line, column = head.count(b"\n") + 1, head[start:].count(b",") + 1
    raise InputFormatError(
        path, line, column, f"byte {at} is not UTF-8 text; save the file as UTF-8"
    )


def _open(
    path: str, header: list[str], on_invalid: Callable[[Any], str], *, threads: bool
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=_BLOCK, use_threads=threads),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=False
        ),
    )


def open_csv_writer(path: str, schema: pa.Schema) -> tuple[pa.NativeFile, pacsv.CSVWriter]:
    """A CSV writer with an unquoted header line (field values are never quoted: every
    format writes only path tokens, numbers, timestamps and status names)."""
    sink = pa.OSFile(path, "wb")
    sink.write((",".join(schema.names) + "\n").encode())
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    return sink, pacsv.CSVWriter(sink, schema, write_options=options)


def read_header(path: str) -> list[str]:
    """The header's field names (pyarrow's CSV tokenizer, so quoting rules agree)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline()
    except OSError as exc:
        raise InputFormatError(path, 0, 0, f"cannot read: {exc.strerror}") from None
    if not first.strip():
        raise InputFormatError(path, 1, 1, "the first line must be the header")
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFormatError(
            path, 1, 1, f"the header is not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(first), read_options=pacsv.ReadOptions(use_threads=False)
        )
    except pa.ArrowInvalid as exc:
        raise InputFormatError(path, 1, 1, f"not a CSV header line: {_one_line(exc)}") from None
    return list(table.schema.names)


def read_csv_batches(path: str, expected: list[str] | None = None) -> CsvBatches:
    """The file's batches; ``expected`` (if given) must equal the header exactly."""
    if not os.path.isfile(path):
        raise InputFormatError(path, 0, 0, "no such file")
    header = read_header(path)
    if expected is not None and header != expected:
        raise InputFormatError(
            path, 1, 1, f"header is {','.join(header)!r}, expected {','.join(expected)!r}"
        )
    _check_utf8(path)
    return CsvBatches(path, header)


def _locate_width_error(path: str, header: list[str]) -> InputFormatError:
    width = len(header)
    found: list[pacsv.InvalidRow] = []

    def first(row: pacsv.InvalidRow) -> str:
        if not found:
            found.append(row)
        return "skip"

    reader = _open(path, header, first, threads=False)  # numbers rows; memory stays one block
    for _ in reader:
        if found:
            break
    reader.close()
    if not found:
        return InputFormatError(path, 0, 0, f"a row does not have {width} fields")
    row = found[0]
    # pyarrow numbers records without blank lines, the header being record 1
    line = LineMap.from_file(path).line_of_record(row.number) if row.number else 0
    got = row.actual_columns
    column = got + 1 if got < width else width + 1
    what = f"column {column} ({header[got]}) is missing" if got < width else "extra field"
    return InputFormatError(
        path,
        line,
        column,
        f"expected {width} fields ({','.join(header)}), got {got}: {what}; "
        "quote fields that contain commas",
    )
