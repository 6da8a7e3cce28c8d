"""Pure units: time/interval parsing (format -> parse round trips with ns and offsets)
and the columnar JSON encoder against a per-point reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from historian.api.encode import value_items_json
from historian.api.times import (
    TimeFormatError,
    format_time,
    format_times,
    parse_interval,
    parse_time,
)
from historian.model import NS_PER_SECOND as NS
from historian.query.columns import QueryColumns
from historian.statuscodes import status_name
from tests.strategies import float_arrays, quality_arrays

# what int64 ns can name, kept inside 0001..9999 after any offset
TIMES = st.integers(min_value=-(2**63) + 2 * 86_400 * NS, max_value=2**63 - 1 - 2 * 86_400 * NS)
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)


@given(TIMES, OFFSETS)
def test_format_parse_round_trip_with_offsets_and_nanoseconds(ns: int, offset: int) -> None:
    text = format_time(ns, offset)
    assert parse_time(text) == ns
    assert parse_time(text.replace("T", " ")) == ns


@given(st.lists(TIMES, max_size=50))
def test_vectorised_format_matches_the_scalar_one(stamps: list[int]) -> None:
    arr = np.array(stamps, dtype=np.int64)
    assert [b.decode() for b in format_times(arr)] == [format_time(s) for s in stamps]


@given(
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from(["ns", "us", "ms", "s", "m", "h", "d", "w"]),
)
def test_interval_units(n: int, unit: str) -> None:
    scale = {
        "ns": 1,
        "us": 10**3,
        "ms": 10**6,
        "s": NS,
        "m": 60 * NS,
        "h": 3600 * NS,
        "d": 86_400 * NS,
        "w": 7 * 86_400 * NS,
    }[unit]
    assert parse_interval(f"{n}{unit}") == n * scale


def test_iso_forms() -> None:
    assert parse_time("2026-01-01T00:00:00Z") == 1_767_225_600 * NS
    assert parse_time("2026-01-01") == 1_767_225_600 * NS
    assert parse_time("2026-01-01T00:00") == 1_767_225_600 * NS
    assert parse_time("2026-01-01T05:30:00+0530") == 1_767_225_600 * NS
    assert parse_time("2025-12-31T19:00:00-05") == 1_767_225_600 * NS
    assert parse_time("2026-01-01T00:00:00,5Z") == 1_767_225_600 * NS + NS // 2
    assert parse_time("2024-02-29T00:00:00Z") - parse_time("2024-02-28T00:00:00Z") == 86_400 * NS


def test_relative_times() -> None:
    now = parse_time("2026-03-04T05:06:07.000000008Z")
    day = parse_time("2026-03-04")
    assert parse_time("*", now_ns=now) == now
    assert parse_time("*-1h", now_ns=now) == now - 3600 * NS
    assert parse_time("*-7d", now_ns=now) == now - 7 * 86_400 * NS
    assert parse_time("t", now_ns=now) == day
    assert parse_time("y", now_ns=now) == day - 86_400 * NS
    assert parse_time("t+8h-30m", now_ns=now) == day + 8 * 3600 * NS - 1800 * NS
    assert parse_time("-1.5s", now_ns=now) == now - 1_500_000_000
    assert parse_time("today", now_ns=now) == day and parse_time("NOW", now_ns=now) == now


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("2026-13-01T00:00:00Z", "names no calendar day"),
        ("2025-02-29", "names no calendar day"),
        ("2026-01-01T24:00:00Z", "out of range"),
        ("2026-01-01T00:00:00+25:00", "offset out of range"),
        ("2026-01-01T00:00:00.1234567891Z", "expected an ISO 8601"),
        ("3000-01-01", "representable range"),
        ("*-1fortnight", "cannot read"),
        ("tomorrow", "expected an ISO 8601"),
        ("", "empty"),
        ("*-0.5ns", "whole number of nanoseconds"),
    ],
)
def test_bad_times_say_what_was_expected(text: str, expect: str) -> None:
    with pytest.raises(TimeFormatError, match=expect):
        parse_time(text)


@pytest.mark.parametrize("text", ["5", "s", "0s", "-5s", "5 sec", "1.5ns", "1e3s"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_interval(text)


@st.composite
def value_columns(draw: st.DrawFn) -> QueryColumns:
    values = draw(float_arrays(max_size=200))
    n = len(values)
    ts = np.array(draw(st.lists(TIMES, min_size=n, max_size=n)), dtype=np.int64)
    return QueryColumns.from_arrays(ts, values, draw(quality_arrays(n)))


@settings(max_examples=200)
@given(value_columns())
def test_columnar_json_equals_a_per_point_encoding(cols: QueryColumns) -> None:
    got = json.loads(value_items_json(cols))
    want = [
        {
            "timestamp": format_time(int(t)),
            "value": v if math.isfinite(v) else None,
            "status": status_name(int(q)),
            "good": int(q) < 0x4000,
        }
        for t, v, q in zip(
            cols.ts.tolist(), cols.values.tolist(), cols.quality.tolist(), strict=True
        )
    ]
    assert got == want
    # the exact float comes back (shortest round-trip form, no precision lost)
    for item, v in zip(got, cols.values.tolist(), strict=True):
        if item["value"] is not None:
            assert item["value"] == v and math.copysign(1, item["value"]) == math.copysign(1, v)


def test_large_answers_keep_their_padding_and_stay_valid_json() -> None:
    rng = np.random.default_rng(7)
    n = 6_000  # above COMPACT_ROWS: the space-padded rows are sent as built
    values = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, size=n)
    values[::97] = np.nan
    quality = rng.choice(np.array([0, 0x40A4, 0x808C, 0x8000], np.uint16), size=n)
    cols = QueryColumns.from_arrays(np.sort(rng.integers(0, 2**62, size=n)), values, quality)
    body = value_items_json(cols)
    assert b"  " in body  # padded
    got = json.loads(body)
    assert [x["value"] for x in got] == [v if math.isfinite(v) else None for v in values.tolist()]
    assert [x["status"] for x in got] == [status_name(int(q)) for q in quality.tolist()]
