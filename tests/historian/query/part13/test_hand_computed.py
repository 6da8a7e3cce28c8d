"""Hand-computed Part 13 cases beyond Annex A: intervals, extrapolation, spreads, quality codes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from historian.query.part13 import (
    AGGREGATES,
    AggregateConfiguration,
    AggregateRequestError,
    aggregate,
    describe,
)
from historian.query.part13.status import (
    BAD_NO_DATA,
    CALCULATED,
    GOOD,
    MULTI_VALUE,
    UNCERTAIN_DATA_SUB_NORMAL,
    compose,
)

S = 1_000_000_000
RAMP_TS = np.array([0, 10, 20, 30], np.int64) * S
RAMP_V = np.array([0.0, 10.0, 20.0, 30.0])
GOOD4 = np.zeros(4, np.uint16)
CFG = AggregateConfiguration()


def run(name: str, ts, values, quality, start, end, interval, cfg=CFG):  # type: ignore[no-untyped-def]
    return aggregate(name, ts, values, quality, start * S, end * S, interval * S, cfg)


def texts(res) -> list[str]:  # type: ignore[no-untyped-def]
    return [describe(int(s)) for s in res.status]


def test_time_average_of_a_ramp_then_stepped_extrapolation() -> None:
    r = run("TimeAverage", RAMP_TS, RAMP_V, GOOD4, 0, 40, 10)
    assert r.values.tolist() == [5.0, 15.0, 25.0, 30.0]
    assert texts(r) == ["Good, Calculated"] * 3 + ["UncertainDataSubNormal, Calculated"]


def test_sloped_extrapolation_continues_the_last_line() -> None:
    cfg = AggregateConfiguration(use_sloped_extrapolation=True)
    r = run("TimeAverage", RAMP_TS, RAMP_V, GOOD4, 30, 40, 10, cfg)
    assert r.values.tolist() == [
        35.0
    ]  # the line through (20, 20) and (30, 30), averaged over 30..40
    i = run("Interpolative", RAMP_TS, RAMP_V, GOOD4, 35, 40, 5, cfg)
    assert i.values.tolist() == [35.0]
    assert texts(i) == ["UncertainDataSubNormal, Interpolated"]


def test_total_is_time_average_times_seconds_and_total2_the_non_bad_integral() -> None:
    r = run("Total", RAMP_TS, RAMP_V, GOOD4, 0, 30, 10)
    assert r.values.tolist() == [50.0, 150.0, 250.0]
    q = np.array([0, 0, 0x8000, 0], np.uint16)  # 20 s Bad: TimeAverage2/Total2 leave 20..30 out
    t2 = run("Total2", RAMP_TS, RAMP_V, q, 0, 30, 10)
    assert t2.values[:2].tolist() == [50.0, 100.0]  # 10..20 held flat at 10: the value after is Bad
    assert math.isnan(t2.values[2]) and describe(int(t2.status[2])) == "BadNoData"


def test_interval_zero_gives_one_interval_for_the_whole_range() -> None:
    r = run("TimeAverage", RAMP_TS, RAMP_V, GOOD4, 0, 40, 0)
    assert r.timestamps.tolist() == [0]
    assert r.values.tolist() == [(450.0 + 300.0) / 40.0]  # ramp 0..30, then 30 held to 40
    assert texts(r) == ["UncertainDataSubNormal, Calculated"]  # the last 10 s are extrapolated


def test_last_interval_shorter_than_the_processing_interval_is_partial() -> None:
    r = run("Average", RAMP_TS, RAMP_V, GOOD4, 0, 25, 10)
    assert r.timestamps.tolist() == [0, 10 * S, 20 * S]
    assert texts(r) == ["Good, Calculated", "Good, Calculated", "Good, Calculated, Partial"]


def test_end_before_start_returns_intervals_latest_first() -> None:
    fwd = run("TimeAverage", RAMP_TS, RAMP_V, GOOD4, 0, 40, 10)
    back = run("TimeAverage", RAMP_TS, RAMP_V, GOOD4, 40, 0, 10)
    assert back.timestamps.tolist() == [40 * S, 30 * S, 20 * S, 10 * S]
    assert back.values.tolist() == fwd.values[::-1].tolist()
    assert back.status.tolist() == fwd.status[::-1].tolist()


def test_empty_range_gives_no_rows() -> None:
    assert len(run("Count", RAMP_TS, RAMP_V, GOOD4, 10, 10, 5)) == 0


SPREAD = np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("StandardDeviationPopulation", 2.0),
        ("VariancePopulation", 4.0),
        ("VarianceSample", 32.0 / 7.0),
        ("StandardDeviationSample", math.sqrt(32.0 / 7.0)),
        ("Average", 5.0),
        ("Range", 7.0),
        ("Count", 8.0),
    ],
)
def test_spread_of_the_textbook_sample_ignores_a_bad_outlier(name: str, expected: float) -> None:
    ts = np.arange(10, dtype=np.int64) * S
    # A Bad outlier inside the interval must never reach arithmetic; the raw value at
    # 9 s is the first one after the range (the caller passes it, see the contract).
    values = np.concatenate([SPREAD, [1e6, 100.0]])
    q = np.array([0] * 8 + [0x808C, 0], np.uint16)
    r = run(name, ts, values, q, 0, 9, 9)
    assert r.values[0] == pytest.approx(expected)
    assert texts(r) == ["UncertainDataSubNormal, Calculated"]  # 1 of 9 values Bad


def test_sample_spread_of_one_value_is_bad() -> None:
    r = run("VarianceSample", RAMP_TS[:1], RAMP_V[:1], GOOD4[:1], 0, 10, 10)
    assert math.isnan(r.values[0]) and describe(int(r.status[0])) == "Bad"


def test_worst_quality_returns_the_first_worst_status_code_as_value() -> None:
    ts = np.arange(5, dtype=np.int64) * S  # the Good value at 4 s closes the range
    q = np.array([0x0000, 0x4093, 0x808C, 0x8005, 0x0000], np.uint16)
    r = run("WorstQuality", ts, np.arange(5.0), q, 0, 4, 4)
    assert int(r.values[0]) == 0x808C0000  # BadSensorFailure, sub-code kept
    assert int(r.status[0]) == compose(GOOD, CALCULATED)
    only_uncertain = run("WorstQuality", ts, np.arange(5.0), q, 0, 2, 2)
    assert int(only_uncertain.values[0]) == 0x40930000


def test_start_end_and_delta_report_raw_values_and_their_codes() -> None:
    ts = np.array([1, 2, 3, 4], np.int64) * S
    v = np.array([5.0, 7.0, 8.0, 11.0])
    q = np.array([0x4093, 0, 0, 0x8000], np.uint16)
    start = run("Start", ts, v, q, 0, 10, 10)
    assert (start.timestamps[0], start.values[0], int(start.status[0])) == (1 * S, 5.0, 0x40930000)
    end = run("End", ts, v, q, 0, 10, 10)
    assert (
        end.timestamps[0] == 4 * S
        and math.isnan(end.values[0])
        and int(end.status[0]) == 0x80000000
    )
    delta = run("Delta", ts, v, q, 0, 10, 10, AggregateConfiguration(treat_uncertain_as_bad=False))
    assert delta.values[0] == 3.0  # 8 - 5: the Bad 11 is not a value
    assert int(delta.status[0]) & 0xFFFF0000 == UNCERTAIN_DATA_SUB_NORMAL


def test_transitions_and_durations_in_state() -> None:
    ts = np.arange(6, dtype=np.int64) * S
    v = np.array([0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    q = np.zeros(6, np.uint16)
    assert run("NumberOfTransitions", ts, v, q, 0, 6, 6).values.tolist() == [3.0]
    # Two intervals: the 0 -> 1 change at 5 s counts against the value before the interval.
    assert run("NumberOfTransitions", ts, v, q, 0, 6, 3).values.tolist() == [1.0, 2.0]
    # States hold (stepped) even for a sloped variable; the last value's time is after the data.
    zero = run("DurationInStateZero", ts, v, q, 0, 5, 5)
    nonzero = run("DurationInStateNonZero", ts, v, q, 0, 5, 5)
    assert (zero.values[0], nonzero.values[0]) == (3000.0, 2000.0)


def test_multi_value_when_two_raw_values_share_the_maximum() -> None:
    ts = np.array([0, 1, 2, 3], np.int64) * S
    v = np.array([3.0, 9.0, 9.0, 1.0])
    r = run("MaximumActualTime", ts, v, np.zeros(4, np.uint16), 0, 3, 3)
    assert r.timestamps[0] == 1 * S
    assert int(r.status[0]) == compose(GOOD, MULTI_VALUE)


def test_end_bound_and_delta_bounds() -> None:
    eb = run("EndBound", RAMP_TS, RAMP_V, GOOD4, 0, 25, 5)
    assert eb.timestamps.tolist() == [5 * S, 10 * S, 15 * S, 20 * S, 25 * S]
    assert eb.values.tolist() == [5.0, 10.0, 15.0, 20.0, 25.0]
    db = run("DeltaBounds", RAMP_TS, RAMP_V, GOOD4, 0, 30, 10)
    assert db.values.tolist() == [10.0, 10.0, 10.0]
    assert texts(db) == ["Good, Calculated"] * 3


def test_no_data_at_all_is_bad_no_data_everywhere() -> None:
    empty_i = np.zeros(0, np.int64)
    for name in AGGREGATES:
        r = aggregate(name, empty_i, np.zeros(0), np.zeros(0, np.uint16), 0, 10 * S, 5 * S)
        assert [int(s) & 0xFFFF0000 for s in r.status] == [BAD_NO_DATA, BAD_NO_DATA], name
        assert np.isnan(r.values).all(), name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aggregate": "Median"}, "unknown aggregate 'Median'"),
        ({"interval_ns": -1}, "processing interval must be >= 0"),
        ({"ts": np.array([2, 1], np.int64)}, "strictly ascending"),
        ({"values": np.zeros(3)}, "equal length"),
    ],
)
def test_request_errors_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "aggregate": "Average",
        "ts": np.array([1, 2], np.int64),
        "values": np.zeros(2),
        "quality": np.zeros(2, np.uint16),
        "start_ns": 0,
        "end_ns": 10,
        "interval_ns": 5,
    }
    args.update(kwargs)
    with pytest.raises(AggregateRequestError, match=message) as err:
        aggregate(**args)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_configuration_rejects_inconsistent_percentages() -> None:
    with pytest.raises(
        AggregateRequestError, match="percent_data_good must be >= 100 - percent_data_bad"
    ):
        AggregateConfiguration(percent_data_bad=20, percent_data_good=50)
    with pytest.raises(AggregateRequestError, match=r"within 0\.\.100"):
        AggregateConfiguration(percent_data_bad=120)


def test_time_average_is_always_sloped_time_average2_follows_stepped() -> None:
    cfg = AggregateConfiguration(stepped=True)
    assert run("TimeAverage", RAMP_TS, RAMP_V, GOOD4, 0, 30, 10, cfg).values.tolist() == [
        5.0,
        15.0,
        25.0,
    ]
    assert run("Total", RAMP_TS, RAMP_V, GOOD4, 0, 10, 10, cfg).values.tolist() == [50.0]
    assert run("TimeAverage2", RAMP_TS, RAMP_V, GOOD4, 0, 30, 10, cfg).values.tolist() == [
        0.0,
        10.0,
        20.0,
    ]
    # Interpolative honours Stepped (Annex A Historian3).
    assert run("Interpolative", RAMP_TS, RAMP_V, GOOD4, 5, 10, 5, cfg).values.tolist() == [0.0]


def test_end_bound_timestamp_stays_inside_sub_millisecond_intervals() -> None:
    ts = np.array([0, 1000], np.int64)  # a ramp over 1 microsecond
    r = aggregate("MaximumActualTime2", ts, [0.0, 10.0], [0, 0], 0, 1000, 100)
    lo = np.arange(0, 1000, 100)
    assert np.all((r.timestamps >= lo) & (r.timestamps < lo + 100))
    assert r.values.tolist() == pytest.approx([1.0 * (k + 1) for k in range(10)])
