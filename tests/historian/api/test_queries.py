"""Every query endpoint through a real server process, against hand-computed answers.

The seeded FLOW tag is ``value = 0.5 * seconds since BASE`` at 1 Hz for an hour, so
every interpolated, at-time and time-weighted answer is known in closed form; the
Bad run (indexes 100-104) and the Uncertain point (200) check statuses end to end.
"""

from __future__ import annotations

import io
import urllib.parse
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from historian.api.encode import ARROW_MEDIA_TYPE
from historian.api.times import format_time

from .conftest import (
    BAD_RUN,
    BASE,
    FLOW,
    NS,
    RUNNING,
    SETPOINT,
    TEMP,
    UNCERTAIN_AT,
    ApiServer,
    flow_columns,
)

pytestmark = [pytest.mark.service]


def t(seconds: float) -> str:
    return urllib.parse.quote(format_time(BASE + int(seconds * NS)))


def items(reply_json: dict[str, Any]) -> list[dict[str, Any]]:
    out = reply_json["items"]
    assert isinstance(out, list)
    return out


def test_tags_list_pattern_and_one_tag(api: ApiServer) -> None:
    r = api.get("/api/v1/tags")
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    names = [x["name"] for x in r.json()["items"]]
    assert names == [FLOW, RUNNING, SETPOINT, TEMP]
    r = api.get("/api/v1/tags?pattern=" + urllib.parse.quote("*.pump1.[fr]*"))
    assert [x["name"] for x in r.json()["items"]] == [FLOW, RUNNING]
    one = api.get(f"/api/v1/tags/{FLOW}").json()
    assert one == {
        "name": FLOW,
        "unit": "m3/h",
        "stepped": False,
        "low": 0.0,
        "high": 5000.0,
        "description": "pump discharge flow",
        "legacy_name": "FIC101",
    }
    assert api.get(f"/api/v1/tags/{RUNNING}").json()["stepped"] is True


def test_recorded_values_statuses_and_reverse(api: ApiServer) -> None:
    r = api.get(f"/api/v1/tags/{FLOW}/recorded?start={t(98)}&end={t(106)}")
    assert r.status == 200
    got = items(r.json())
    assert [x["timestamp"] for x in got] == [format_time(BASE + s * NS) for s in range(98, 106)]
    assert [x["value"] for x in got] == [49.0, 49.5, None, None, None, None, None, 52.5]
    assert [x["status"] for x in got][1:3] == ["Good", "BadSensorFailure"]
    assert [x["good"] for x in got] == [True, True, False, False, False, False, False, True]
    assert "next_page_token" not in r.json()
    u = items(api.get(f"/api/v1/tags/{FLOW}/recorded?start={t(UNCERTAIN_AT)}&end={t(201)}").json())
    assert u == [
        {
            "timestamp": format_time(BASE + 200 * NS),
            "value": 100.0,
            "status": "UncertainDataSubNormal",
            "good": False,
        }
    ]
    # end before start: newest first, (end, start]
    rev = items(api.get(f"/api/v1/tags/{FLOW}/recorded?start={t(12)}&end={t(9)}").json())
    assert [x["value"] for x in rev] == [6.0, 5.5, 5.0]


def test_recorded_boundaries(api: ApiServer) -> None:
    q = f"/api/v1/tags/{FLOW}/recorded?start={t(10.5)}&end={t(12.5)}"
    inside = items(api.get(q).json())
    assert [x["value"] for x in inside] == [5.5, 6.0]
    outside = items(api.get(q + "&boundary=outside").json())
    assert [x["value"] for x in outside] == [5.0, 5.5, 6.0, 6.5]
    interp = items(api.get(q + "&boundary=interpolated").json())
    assert [x["value"] for x in interp] == [5.25, 5.5, 6.0, 6.25]
    assert interp[0]["timestamp"] == format_time(BASE + 10_500_000_000)


def test_recorded_paging_returns_every_value_once(api: ApiServer) -> None:
    base = f"/api/v1/tags/{FLOW}/recorded?start={t(0)}&end={t(3600)}&max_count=1000"
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        r = api.get(base + (f"&page_token={urllib.parse.quote(token)}" if token else "")).json()
        seen += [x["timestamp"] for x in r["items"]]
        pages += 1
        token = r.get("next_page_token")
        if token is None:
            break
    assert pages == 4
    ts, _, _ = flow_columns()
    assert seen == [format_time(int(x)) for x in ts]


def test_recorded_arrow_is_the_json_answer(api: ApiServer) -> None:
    q = f"/api/v1/tags/{FLOW}/recorded?start={t(0)}&end={t(3600)}"
    r = api.get(q, accept=ARROW_MEDIA_TYPE)
    assert r.status == 200 and r.headers["content-type"] == ARROW_MEDIA_TYPE
    table = pa.ipc.open_stream(io.BytesIO(r.body)).read_all()
    assert table.schema.field("timestamp").type == pa.timestamp("ns", "UTC")
    assert table.schema.metadata[b"tag"] == FLOW.encode()
    ts, values, quality = flow_columns()
    np.testing.assert_array_equal(table.column("timestamp").cast(pa.int64()).to_numpy(), ts)
    np.testing.assert_array_equal(table.column("value").to_numpy(), values)  # NaN kept
    np.testing.assert_array_equal(table.column("quality").to_numpy(), quality)
    assert table.column("status").to_pylist()[100] == "BadSensorFailure"
    assert table.column("good").to_pylist()[UNCERTAIN_AT] is False
    js = items(api.get(q).json())
    assert [x["value"] for x in js] == [None if np.isnan(v) else v for v in values.tolist()]


def test_interpolated_linear_and_stepped(api: ApiServer) -> None:
    r = api.get(f"/api/v1/tags/{FLOW}/interpolated?start={t(0)}&end={t(10)}&interval=2500ms")
    got = items(r.json())
    assert [x["timestamp"] for x in got] == [
        format_time(BASE + k * 2_500_000_000) for k in range(4)
    ]
    assert [x["value"] for x in got] == [0.0, 1.25, 2.5, 3.75]
    step = items(
        api.get(
            f"/api/v1/tags/{RUNNING}/interpolated?start={t(0)}&end={t(1800)}&interval=5m"
        ).json()
    )
    assert [x["value"] for x in step] == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]


def test_at_times_in_request_order(api: ApiServer) -> None:
    q = "&".join(f"time={t(s)}" for s in (0.25, 3599, 1.5))
    got = items(api.get(f"/api/v1/tags/{FLOW}/at?{q}").json())
    assert [x["value"] for x in got] == [0.125, 1799.5, 0.75]
    assert got[0]["timestamp"] == format_time(BASE + 250_000_000)


def test_plot_keeps_extremes_and_bad_values(api: ApiServer) -> None:
    got = items(api.get(f"/api/v1/tags/{FLOW}/plot?start={t(0)}&end={t(3600)}&intervals=10").json())
    values = [x["value"] for x in got]
    assert values[0] == 0.0 and values[-1] == 1799.5
    assert len(got) <= 4 * 10 + len(BAD_RUN) + 1
    bad = [x for x in got if x["status"] == "BadSensorFailure"]
    assert [x["timestamp"] for x in bad] == [format_time(BASE + i * NS) for i in BAD_RUN]
    assert any(x["status"] == "UncertainDataSubNormal" for x in got)
    stamps = [x["timestamp"] for x in got]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_summary_time_and_event_weighted(api: ApiServer) -> None:
    q = f"/api/v1/tags/{FLOW}/summary?start={t(300)}&end={t(420)}&interval=1m"
    got = items(api.get(q + "&types=average,count,minimum,maximum,min_time,duration_good").json())
    by = {(x["type"], x["start"]): x for x in got}
    first, second = format_time(BASE + 300 * NS), format_time(BASE + 360 * NS)
    assert by[("average", first)]["value"] == pytest.approx(0.5 * (300 + 360) / 2)
    assert by[("average", second)]["value"] == pytest.approx(0.5 * (360 + 420) / 2)
    assert by[("count", first)]["value"] == 60
    assert by[("minimum", first)]["value"] == 150.0
    assert by[("min_time", first)]["value"] == first
    assert by[("duration_good", first)]["value"] == 60.0
    assert all(x["status"] == "Good" and x["percent_good"] == 100.0 for x in got)
    assert by[("average", first)]["end"] == second
    ev = items(api.get(q + "&types=average&weighting=event").json())
    assert ev[0]["value"] == pytest.approx(np.mean(0.5 * np.arange(300, 360)))
    bad = items(
        api.get(f"/api/v1/tags/{FLOW}/summary?start={t(100)}&end={t(105)}&types=average").json()
    )
    assert bad[0]["status"] == "BadNoData" and bad[0]["value"] is None


def test_summary_arrow_columns(api: ApiServer) -> None:
    q = f"/api/v1/tags/{FLOW}/summary?start={t(300)}&end={t(420)}&interval=1m&types=average,count"
    table = pa.ipc.open_stream(io.BytesIO(api.get(q, accept=ARROW_MEDIA_TYPE).body)).read_all()
    assert table.column("average").to_pylist() == pytest.approx([165.0, 195.0])
    assert table.column("count").to_pylist() == [60, 60]
    assert table.column("status").to_pylist() == ["Good", "Good"]


def test_last_value_and_empty_tag(api: ApiServer) -> None:
    assert items(api.get(f"/api/v1/tags/{FLOW}/last").json()) == [
        {
            "timestamp": format_time(BASE + 3599 * NS),
            "value": 1799.5,
            "status": "Good",
            "good": True,
        }
    ]
    assert items(api.get(f"/api/v1/tags/{TEMP}/last").json()) == []


def test_streams_query_several_tags_and_kinds(api: ApiServer) -> None:
    hour = {"start": format_time(BASE), "end": format_time(BASE + 3600 * NS)}
    doc = {
        "queries": [
            {"tag": FLOW, "kind": "plot", **hour, "intervals": 5},
            {"tag": RUNNING, "kind": "last"},
            {
                "tag": FLOW,
                "kind": "summary",
                "start": format_time(BASE + 300 * NS),
                "end": format_time(BASE + 360 * NS),
                "types": ["average"],
            },
            {"tag": FLOW + "x", "kind": "last"},
            {"tag": FLOW, "kind": "at", "time": [format_time(BASE + NS // 2)]},
        ]
    }
    r = api.post_json("/api/v1/streams/query", doc)
    assert r.status == 200
    res = r.json()["results"]
    assert [x["kind"] for x in res] == ["plot", "last", "summary", "last", "at"]
    assert res[0]["items"][0]["value"] == 0.0
    assert res[1]["items"][0]["value"] == 1.0
    assert res[2]["items"][0]["value"] == pytest.approx(165.0)
    assert res[3]["error"]["code"] == "unknown_tag" and FLOW in res[3]["error"]["close_matches"]
    assert res[4]["items"][0]["value"] == 0.25
    del doc["queries"][2]
    h = {"Content-Type": "application/json", "Accept": ARROW_MEDIA_TYPE}
    arrow = api.request("POST", "/api/v1/streams/query", _json(doc), h)
    table = pa.ipc.open_stream(io.BytesIO(arrow.body)).read_all()
    q = table.column("query").to_pylist()
    assert set(q) == {0, 1, 3} and q == sorted(q)
    assert b"errors" in table.schema.metadata


def _json(doc: object) -> bytes:
    import json

    return json.dumps(doc).encode()
