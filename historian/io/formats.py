"""The exchange formats by name: detect an input's format, read it, make a writer.

>>> FORMATS
('long', 'wide', 'parquet', 'pi')
"""

from __future__ import annotations

from collections.abc import Callable

from historian.errors import InputFormatError

from . import csv_long, pi_csv
from .csv_long import read_long
from .csv_table import read_header
from .csv_wide import TIME_COLUMN, read_wide
from .parquet import read_parquet
from .pi_csv import read_pi
from .points import ParsedPoints

__all__ = ["FORMATS", "detect_format", "read_points"]

FORMATS = ("long", "wide", "parquet", "pi")
_READERS: dict[str, Callable[[str], ParsedPoints]] = {
    "long": read_long,
    "wide": read_wide,
    "parquet": read_parquet,
    "pi": read_pi,
}
_PARQUET_MAGIC = b"PAR1"


def detect_format(path: str) -> str:
    """``parquet`` by magic bytes, else the CSV header decides (long, PI or wide)."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputFormatError(path, 0, 0, f"cannot read: {exc.strerror}") from None
    if magic == _PARQUET_MAGIC:
        return "parquet"
    header = read_header(path)
    if header == csv_long.HEADER:
        return "long"
    if header == pi_csv.HEADER:
        return "pi"
    if header and header[0] == TIME_COLUMN:
        return "wide"
    raise InputFormatError(
        path,
        1,
        1,
        f"header {','.join(header)!r} is none of the exchange formats: long "
        "'tag,timestamp,value,status', PI 'tag,timestamp,value', wide 'timestamp,<tag>,...' "
        "(or give --format)",
    )


def read_points(path: str, fmt: str) -> ParsedPoints:
    if fmt not in _READERS:
        raise InputFormatError(path, 0, 0, f"unknown format {fmt!r}; use one of {FORMATS}")
    return _READERS[fmt](path)
