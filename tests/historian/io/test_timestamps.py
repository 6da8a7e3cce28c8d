"""ISO 8601 <-> int64 ns: exact at nanoseconds, with any zone offset, and precise refusals."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.io.rows import BadRow
from historian.io.timestamps import format_timestamps, parse_timestamps

# int64 ns range whose whole seconds the parser accepts (1677-09-21 .. 2262-04-11)
LO, HI = -(2**63) + 2 * 10**9, 2**63 - 1 - 2 * 10**9


def _iso_with_offset(ns: int, offset_min: int, digits: int, style: str) -> str:
    """A reference rendering built from numpy's calendar, independent of the code under test."""
    local = ns + offset_min * 60 * 10**9
    secs, frac = divmod(local, 10**9)
    base = str(np.datetime64(secs, "s"))  # YYYY-MM-DDThh:mm:ss
    if digits:
        assert frac % 10 ** (9 - digits) == 0
        base += "." + f"{frac:09d}"[:digits]
    if style == "Z":
        return base + "Z"
    sign = "-" if offset_min < 0 else "+"
    hh, mm = divmod(abs(offset_min), 60)
    return base + (f"{sign}{hh:02d}:{mm:02d}" if style == "colon" else f"{sign}{hh:02d}{mm:02d}")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(LO, HI), min_size=1, max_size=50))
def test_format_parse_round_trip(ns: list[int]) -> None:
    arr = np.array(ns, dtype=np.int64)
    text = format_timestamps(arr)
    ref = np.datetime_as_string(arr.view("datetime64[ns]"), unit="ns", timezone="UTC")
    assert text.to_pylist() == ref.tolist()
    assert parse_timestamps(text).tolist() == ns


@settings(max_examples=300, deadline=None)
@given(
    secs=st.integers(-(2**33), 2**33),
    digits=st.integers(0, 9),
    frac_seed=st.integers(0, 10**9 - 1),
    offset_min=st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    style=st.sampled_from(["Z", "colon", "compact"]),
)
def test_offsets_and_fraction_lengths(
    secs: int, digits: int, frac_seed: int, offset_min: int, style: str
) -> None:
    if style == "Z":
        offset_min = 0
    frac = frac_seed - frac_seed % 10 ** (9 - digits) if digits else 0
    ns = secs * 10**9 + frac
    text = _iso_with_offset(ns, offset_min, digits, style)
    assert parse_timestamps(pa.array([text])).tolist() == [ns], text


def test_chunked_and_sliced_columns() -> None:
    a = format_timestamps(np.array([1, 2, 3, 4], np.int64))
    chunked = pa.chunked_array([a.slice(0, 1), a.slice(1, 3)])
    assert parse_timestamps(chunked).tolist() == [1, 2, 3, 4]
    assert parse_timestamps(a.slice(2, 2)).tolist() == [3, 4]
    with pytest.raises(BadRow) as ei:
        parse_timestamps(pa.chunked_array([a, pa.array(["2024-01-01T00:00:00"])]))
    assert ei.value.row == 4  # the row index counts across chunks


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2024-01-01T00:00:00", "has no zone; add Z"),
        ("2024-13-01T00:00:00Z", "month 13 is not 1..12"),
        ("2023-02-29T00:00:00Z", "day 29 is not in 2023-02 (1..28)"),
        ("2024-04-31T00:00:00Z", "day 31 is not in 2024-04 (1..30)"),
        ("2024-01-01T24:00:00Z", "hour 24 is not 0..23"),
        ("2024-01-01T00:60:00Z", "minute 60 is not 0..59"),
        ("2016-12-31T23:59:60Z", "leap second"),
        ("2024-01-01T00:00:00+24:00", "zone offset is not a valid"),
        ("2024-01-01T00:00:00.1234567890Z", "not a timestamp"),
        ("2024-01-01T00:00:00.Z", "not a timestamp"),
        ("2024-1-01T00:00:00Z", "not a timestamp"),
        ("2024-01-01", "not a timestamp"),
        ("1700000000", "not a timestamp"),
        ("2262-04-12T00:00:00Z", "outside the int64 nanosecond range"),
        ("", "not a timestamp"),
    ],
)
def test_refusals_say_why(text: str, why: str) -> None:
    col = pa.array(["2024-01-01T00:00:00Z", text])
    with pytest.raises(BadRow) as ei:
        parse_timestamps(col)
    assert ei.value.row == 1
    assert why in ei.value.why and repr(text) in ei.value.why


def test_leap_day_and_epoch_edges() -> None:
    got = parse_timestamps(
        pa.array(
            ["2000-02-29T00:00:00Z", "1969-12-31T23:59:59.999999999Z", "1970-01-01T00:00:00-00:01"]
        )
    )
    assert got.tolist() == [951782400 * 10**9, -1, 60 * 10**9]
