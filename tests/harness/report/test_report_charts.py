"""The report's chart model: series aligned on one x array, one time range, faults, payload."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from harness.metrics import TimeSeries
from harness.report.charts import (
    _aligned,
    _inline_script,
    chart_payload,
    fault_windows,
    time_charts,
    time_range,
)
from harness.report.model import Report

times = st.lists(
    st.floats(-1.0, 1e4, allow_nan=False, allow_infinity=False), unique=True, max_size=40
)


@given(st.lists(times, min_size=1, max_size=5))
def test_aligned_puts_every_sample_at_its_time_and_gaps_elsewhere(ts: list[list[float]]) -> None:
    series: list[tuple[str, list[float | None], list[float | None]]] = [
        (f"s{k}", list(t), [float(k * 1000 + i) for i in range(len(t))]) for k, t in enumerate(ts)
    ]
    x, ys = _aligned(series)
    assert np.all(np.diff(x) > 0)  # sorted, each time once
    assert set(x.tolist()) == {v for t in ts for v in t}
    for (_, t, v), y in zip(series, ys, strict=True):
        got = {float(xi): float(yi) for xi, yi in zip(x, y, strict=True) if not math.isnan(yi)}
        assert got == dict(zip(t, v, strict=True))


def _report() -> Report:
    r = Report(scenario="c", profile="normal", seed=1, duration_s=20.0)
    r.add_series(
        TimeSeries("queryable", "points/s", [0.0, 1.0, 2.0], [5.0, 6.0, 7.0]), group="throughput"
    )
    r.add_series(
        TimeSeries("acked", "points/s", [0.0, 1.0, 2.0], [5.0, 6.0, 7.0]), group="throughput"
    )
    r.add_series(TimeSeries("consumer lag", "messages", [-0.2, 0.3], [0.0, math.nan]), group="lag")
    r.faults = [
        {"kind": "kill-nats", "target": "nats-server", "start_s": 3.0, "end_s": 24.5},
        {"kind": "disk-full-historian", "target": "d", "start_s": 5.0, "end_s": 7.0,
         "skipped": "not running as root"},
    ]  # fmt: skip
    return r


def test_charts_share_one_range_and_acked_draws_last() -> None:
    r = _report()
    charts = time_charts(r)
    assert [c.title for c in charts] == ["throughput", "lag"]
    assert charts[0].names == ["queryable", "acked"]  # on top of queryable, not under it
    assert time_range(r, charts) == (-0.2, 24.5)  # widened to a sample and to a fault's end
    assert fault_windows(r) == [(3.0, 24.5, "kill-nats")]  # a skipped fault is no window


def test_payload_is_columnar_json_and_cannot_end_its_script_element() -> None:
    r = _report()
    r.add_series(TimeSeries("</script><b>x", "u", [0.0], [1.0]), group="lag")
    payload = chart_payload(r, time_charts(r))
    lag = next(c for c in payload["charts"] if c["names"] == ["consumer lag"])
    assert lag["x"] == [-0.2, 0.3] and lag["ys"] == [[0.0, None]]  # None: no sample
    text = _inline_script(json.dumps(payload))
    assert "</script>" not in text and "</" not in text
    assert json.loads(text.replace("<\\/", "</")) == payload  # the same document to a parser
