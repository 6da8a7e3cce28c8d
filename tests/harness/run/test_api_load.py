"""The scenario's API load: synthetic tag names, its catalogue, locust stats parsing, scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.html import render_html
from harness.report.md import render_markdown
from harness.report.model import Report
from harness.run.api_load import (
    SYNTHETIC_TAG_GLOB,
    api_window_s,
    parse_locust_stats,
    synthetic_tag_name,
    write_scenario_catalogue,
)
from harness.run.api_scoring import kind_key
from harness.scenario import ScenarioError
from historian.catalogue import TagCatalogue
from scenarios import get

STATS = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,\
80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,plot 1 h,250,0,12,15.1,3.2,88.0,2600,12.0,0.0,12,14,16,18,25,31,40,61,88,88,88
POST,last x5,300,2,8,9.0,2.0,120.5,900,14.0,0.1,8,9,10,10,12,15,20,33,120,120,120
GET,plot 30 d,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,550,2,10,11.8,2.0,120.5,1700,26.0,0.1,10,11,13,14,19,24,33,55,120,120,120
"""
FAILURES = """\
Method,Name,Error,Occurrences
POST,last x5,"ConnectionResetError(104, 'Connection reset by peer')",2
"""


def test_locust_stats_parse_into_one_row_per_kind_and_the_window_rate() -> None:
    r = parse_locust_stats(STATS, window_s=10.0, users=20, failures_csv=FAILURES)
    assert [k.name for k in r.kinds] == ["last x5", "plot 1 h", "plot 30 d"]
    last = r.kinds[0]
    assert (last.requests, last.failures, last.p50_ms, last.p99_ms, last.max_ms) == (
        300, 2, 8.0, 33.0, 120.5
    )  # fmt: skip
    assert last.requests_per_s == pytest.approx(30.0)  # over the window, not locust's 14/s
    empty = r.kinds[2]
    assert empty.requests == 0 and empty.p99_ms is None  # "N/A" is not a number
    assert (r.total.requests, r.total.failures, r.total.p99_ms) == (550, 2, 55.0)
    assert r.total.requests_per_s == pytest.approx(55.0)
    assert r.errors == ["POST last x5: ConnectionResetError(104, 'Connection reset by peer') (x2)"]


def test_a_file_that_is_not_locust_stats_is_refused() -> None:
    with pytest.raises(ValueError, match="not a locust stats CSV"):
        parse_locust_stats("a,b\n1,2\n", window_s=1.0, users=1)


def test_synthetic_names_are_isa95_paths_in_a_catalogue_the_historian_reads(
    tmp_path: Path,
) -> None:
    base = 1_000_001
    ids = list(range(base, base + 250))
    plant = tmp_path / "plant.toml"
    plant.write_text(
        'format = "twinbench-catalogue"\nversion = 1\n[catalogue]\nname = "p"\n\n[[tag]]\n'
        'id = 1\npath = "acme.s.a.l.c.pump.flow"\nlegacy_name = "40001"\nunit = "m3/h"\n'
        'low = 0.0\nhigh = 10.0\ndtype = "float32"\nsample_ms = 1000\n[tag.modbus]\n'
        'table = "input"\n'
    )
    cat = TagCatalogue.load_toml(write_scenario_catalogue(tmp_path / "c.toml", ids, base, plant))
    assert len(cat) == 251 and cat.by_id(1) is not None  # the plant's tag is kept
    names = [t.name for t in cat.match(SYNTHETIC_TAG_GLOB)]
    assert len(names) == 250 and all(len(n.split(".")) == 7 for n in names)
    assert synthetic_tag_name(base + 123, base) == (
        "twinbench.loadgen.synthetic.bank_01.cell_2.series_0123.value"
    )
    assert cat.by_name(synthetic_tag_name(base + 123, base)).id == base + 123  # type: ignore[union-attr]


def test_the_window_is_the_second_half_of_the_named_phase() -> None:
    s = get("stress")
    start, middle, end = api_window_s(s.schedule(), "steady")
    assert (start, middle, end) == pytest.approx((20.0, 40.0, 60.0))
    with pytest.raises(ValueError, match="not a phase"):
        api_window_s(s.schedule(), "nope")


def test_a_scenario_refuses_negative_users_and_an_unknown_phase() -> None:
    import dataclasses

    s = get("stress")
    with pytest.raises(ScenarioError, match="api_load_users must be >= 0"):
        dataclasses.replace(s, api_load_users=-1)
    with pytest.raises(ScenarioError, match="api_load_phase 'nope'"):
        dataclasses.replace(s, api_load_phase="nope")


def test_reports_show_the_api_load_table() -> None:
    r = parse_locust_stats(STATS, window_s=10.0, users=20, failures_csv=FAILURES)
    report = Report("stress", "stress", 1, 10.0)
    report.api_load = {
        **r.to_json(),
        "phase": "steady",
        "window_run_s": [40.0, 60.0],
        "baseline_run_s": [20.0, 40.0],
        "ingest_p99_ms_without_api": 12.5,
        "ingest_batches_without_api": 900,
        "ingest_p99_ms_with_api": 19.0,
        "ingest_batches_with_api": 880,
    }
    md = render_markdown(report)
    assert "## API load during the run" in md
    assert "| last x5 | 300 | 2 | 30 | 8 | 33 | 120.5 |" in md
    assert "| all requests | 550 | 2 | 55 | 10 | 55 | 120.5 |" in md
    assert "12.5 ms without the API load" in md and "19 ms with it" in md
    html = render_html(report)
    assert "<h2>API load during the run</h2>" in html and "<td>plot 1 h</td>" in html
    assert kind_key("summary 1 d hourly") == "summary_1_d_hourly"
