"""PointBatch, quality codes and SeriesIndex: the contracts every layer relies on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from historian.errors import BatchValidationError, TimestampOutOfWindowError, UnknownSeriesError
from historian.model import (
    NanPolicy,
    PointBatch,
    Quality,
    SeriesIndex,
    quality_from_status_code,
    severity_of,
    status_code_from_quality,
)


def test_from_arrays_coerces_dtypes_and_defaults_quality_to_good() -> None:
    b = PointBatch.from_arrays([1, 2], [10, 20], [1, 2])
    assert b.series.dtype == np.uint32
    assert b.ts.dtype == np.int64
    assert b.values.dtype == np.float64
    assert b.quality.tolist() == [Quality.GOOD, Quality.GOOD]


def test_length_mismatch_names_every_column() -> None:
    with pytest.raises(BatchValidationError, match=r"'ts': 1"):
        PointBatch.from_arrays([1, 2], [10], [1.0, 2.0])


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        ("series", [-1]),
        ("series", [2**32]),
        ("ts", [1.5]),
        ("ts", [float("nan")]),
        ("quality", [70000]),
    ],
)
def test_out_of_range_or_non_integer_columns_are_refused(column: str, bad: list[float]) -> None:
    cols: dict[str, list[float]] = {"series": [1], "ts": [1], "values": [1.0], "quality": [0]}
    cols[column] = bad
    with pytest.raises(BatchValidationError, match=column):
        PointBatch.from_arrays(cols["series"], cols["ts"], cols["values"], cols["quality"])


def test_two_dimensional_column_is_refused() -> None:
    with pytest.raises(BatchValidationError, match="1-D"):
        PointBatch.from_arrays([[1]], [1], [1.0])


def test_sorted_is_stable_so_last_write_stays_last() -> None:
    b = PointBatch.from_arrays([5, 5, 1], [7, 7, 3], [1.0, 2.0, 9.0])
    s = b.sorted()
    assert s.series.tolist() == [1, 5, 5]
    assert s.values.tolist() == [9.0, 1.0, 2.0]  # arrival order kept for equal keys


def test_false_sorted_flag_is_caught_by_validate() -> None:
    b = PointBatch.from_arrays([2, 1], [1, 1], [0.0, 0.0], is_sorted=True)
    with pytest.raises(BatchValidationError, match="is_sorted"):
        b.validate()


def test_nan_policies() -> None:
    b = PointBatch.from_arrays([1, 1], [1, 2], [np.nan, 1.0], [Quality.BAD_SENSOR_FAILURE, 0])
    b.validate(nan_policy=NanPolicy.ALLOW)
    b.validate(nan_policy=NanPolicy.ALLOW_IF_BAD)
    with pytest.raises(BatchValidationError, match="index 0"):
        b.validate(nan_policy=NanPolicy.REJECT)
    good_nan = PointBatch.from_arrays([1], [1], [np.nan], [Quality.GOOD])
    with pytest.raises(BatchValidationError, match="allow_if_bad"):
        good_nan.validate(nan_policy=NanPolicy.ALLOW_IF_BAD)


def test_unknown_series_and_window() -> None:
    idx = SeriesIndex({1: "a.b.c.d.e.f.g", 3: "a.b.c.d.e.f.h"})
    b = PointBatch.from_arrays([1, 3, 2], [5, 6, 7], [0.0, 0.0, 0.0])
    with pytest.raises(UnknownSeriesError, match="series id 2 at index 2"):
        b.validate(known_series=idx)
    b2 = PointBatch.from_arrays([1, 3, 1000], [5, 6, 7], [0.0] * 3)
    with pytest.raises(UnknownSeriesError, match="1000"):
        b2.validate(known_series=idx)
    with pytest.raises(TimestampOutOfWindowError, match="older"):
        b.validate(min_ts=6)
    with pytest.raises(TimestampOutOfWindowError, match="newer"):
        b.validate(max_ts=6)


def test_series_index_lookups_and_conflicts() -> None:
    idx = SeriesIndex({7: "x.y.z.a.b.c.d"})
    assert idx.id_of("x.y.z.a.b.c.d") == 7
    assert idx.path_of(7) == "x.y.z.a.b.c.d"
    with pytest.raises(UnknownSeriesError):
        idx.id_of("nope")
    with pytest.raises(ValueError, match="two series ids"):
        SeriesIndex({1: "p", 2: "p"})


def test_quality_keeps_severity_and_subcode() -> None:
    assert quality_from_status_code(0x808C0000) == Quality.BAD_SENSOR_FAILURE
    assert status_code_from_quality(Quality.UNCERTAIN_LAST_USABLE) == 0x40900000
    q = np.array([0x0000, 0x4090, 0x808C, 0xC000], dtype=np.uint16)
    assert severity_of(q).tolist() == [0, 1, 2, 2]


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_status_code_round_trip_keeps_high_bits(code: int) -> None:
    assert status_code_from_quality(quality_from_status_code(code)) == code & 0xFFFF0000


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(-(2**62), 2**62), st.floats(allow_nan=False)),
        max_size=50,
    )
)
def test_sorted_orders_by_series_then_time(rows: list[tuple[int, int, float]]) -> None:
    b = PointBatch.from_arrays(
        [r[0] for r in rows], np.array([r[1] for r in rows], dtype=np.int64), [r[2] for r in rows]
    )
    s = b.sorted()
    assert s.check_sorted()
    assert sorted(zip(s.series.tolist(), s.ts.tolist(), strict=True)) == list(
        zip(s.series.tolist(), s.ts.tolist(), strict=True)
    )
    assert len(s) == len(b)
