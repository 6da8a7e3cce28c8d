"""Reports: JSON round trip, self-contained HTML (uPlot inline, SVG fallback), thresholds to
exit code, CLI, and the readability fixes (labels, one time axis, start time)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.accounting import Ledger
from harness.cli.app import build_app
from harness.cli.report import compare_table
from harness.load.synthetic import SyntheticSource
from harness.metrics import LatencyHistogram, ThroughputSeries, TimeSeries
from harness.report.charts import find_uplot_dist, require_uplot_dist
from harness.report.model import (
    SCHEMA,
    Report,
    ReportError,
    Threshold,
    evaluate,
    exit_code,
    load_report,
)
from harness.report.write import write_run
from historian.model import PointBatch

T0 = 1_767_225_600 * 1_000_000_000
# report.html inlines uPlot from node_modules (the nox sessions install it)
needs_uplot = pytest.mark.skipif(
    find_uplot_dist() is None, reason="needs uPlot (scripts/install-npm-deps.sh)"
)


def _report(p99_scale: float = 1.0, lose: int = 0) -> Report:
    """A report filled the way the runner fills one, from real measurements of a small run."""
    r = Report(
        scenario="partitioned", profile="normal", seed=7, duration_s=30.0, description="test run"
    )
    rng = np.random.default_rng(0)
    ack = LatencyHistogram()
    ack.record_many_ns(rng.lognormal(np.log(3e6 * p99_scale), 0.5, 5_000))
    r.add_latency("publish_to_ack", ack)
    q = LatencyHistogram()
    q.record_many_ns(rng.lognormal(np.log(9e6 * p99_scale), 0.5, 5_000))
    r.add_latency("publish_to_queryable_nominal", q)
    tp = ThroughputSeries(0)
    tp.add_many(np.arange(30) * 10**9, np.full(30, 50_000))
    r.add_series(tp.to_series("acked"), group="throughput")
    lag = TimeSeries(
        "consumer_lag",
        "messages",
        [float(t) for t in range(30)],
        [0.0] * 10 + [500.0] * 10 + [0.0] * 10,
    )
    r.add_series(lag, group="lag")
    r.add_phase("steady", 0, 10, 50_000)
    r.add_phase("fault", 10, 20, 50_000)
    r.add_fault("partition-bus-historian", "nats->historian", 10.0, 20.0)

    src = SyntheticSource(np.arange(5), seed=1, start_ns=T0)
    ledger = Ledger()
    batches = []
    for i in range(4):
        b = src.batch(i, 10)
        ledger.record(i, b, "steady" if i < 2 else "fault")
        ledger.mark_acked(i)
        batches.append(b)
    stored = PointBatch.concat(batches).sorted()
    stored = stored.take(np.arange(lose, len(stored)))
    r.add_accounting(ledger.reconcile(stored))
    r.set_metric("storage.bytes_per_point", 1.4, "B/point")
    r.set_metric("storage.baseline_bytes_per_point", 1.47, "B/point")
    r.set_metric("drain.rate_over_nominal", 7.5, "x")
    r.set_metric("not.measured", float("nan"))
    r.bytes_per_point = {"analog": 1.3, "counter": 0.4, "state": 0.1}
    return r


THRESHOLDS = [
    Threshold("acked lost", "accounting.total.lost", "==", 0, "points"),
    Threshold("p99 queryable", "latency.publish_to_queryable_nominal.p99_ms", "<", 50.0, "ms"),
    Threshold(
        "bytes/point vs baseline",
        "storage.bytes_per_point",
        "<=",
        "storage.baseline_bytes_per_point",
        "B/point",
    ),
    Threshold("drain", "drain.rate_over_nominal", ">=", 5.0, "x"),
]


@needs_uplot
def test_passing_report_round_trips_through_json(tmp_path: Path) -> None:
    r = _report()
    assert evaluate(r, THRESHOLDS) == "pass" and exit_code(r) == 0
    out = write_run(r, tmp_path)
    assert re.fullmatch(r"\d{8}T\d{6}Z-partitioned", out.name)
    doc = json.loads((out / "report.json").read_text())
    assert doc["schema"] == SCHEMA and doc["verdict"] == "pass"
    assert doc["metrics"]["not.measured"] is None  # JSON has no NaN
    back = load_report(out)
    assert back.to_json() == json.loads(json.dumps(r.to_json()))
    assert back.metrics["accounting.total.stored"] == 40
    assert (
        back.metrics["latency.publish_to_ack.p99_ms"] == r.metrics["latency.publish_to_ack.p99_ms"]
    )
    assert LatencyHistogram.decode(back.latency["publish_to_ack"]["hdr"]).count == 5_000
    assert load_report(out / "report.json").scenario == "partitioned"
    assert write_run(r, tmp_path) != out  # same second, new directory


@needs_uplot
def test_failing_threshold_gives_a_nonzero_exit_code_and_says_why(tmp_path: Path) -> None:
    r = _report(p99_scale=10.0, lose=3)
    assert evaluate(r, THRESHOLDS) == "fail" and exit_code(r) == 1
    failed = {t["name"]: t for t in r.thresholds if not t["passed"]}
    assert set(failed) == {"acked lost", "p99 queryable"}
    assert failed["acked lost"]["value"] == 3 and "is not == 0" in failed["acked lost"]["why"]
    md = (write_run(r, tmp_path) / "report.md").read_text()
    assert "FAIL" in md and "**FAIL** | acked lost" in md
    assert "| **total** | 40 | 40 | 37 | 3 |" in md


def test_missing_metric_fails_instead_of_passing() -> None:
    r = _report()
    evaluate(
        r,
        [
            Threshold("recovery", "recovery.crash_s", "<", 10.0, "s"),
            Threshold("nan metric", "not.measured", "<", 1.0),
        ],
    )
    assert [t["passed"] for t in r.thresholds] == [False, False]
    assert "missing" in r.thresholds[0]["why"] and exit_code(r) == 1
    assert evaluate(r, []) == "unscored" and exit_code(r) == 0
    with pytest.raises(ValueError, match="comparator"):
        Threshold("x", "y", "~", 1)  # type: ignore[arg-type]


@needs_uplot
def test_html_is_self_contained_with_uplot_inline_and_svg_fallbacks(tmp_path: Path) -> None:
    r = _report()
    evaluate(r, THRESHOLDS)
    html = (write_run(r, tmp_path) / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 4  # throughput, lag, latency percentiles, bytes/point
    assert html.count("<noscript><svg") == 2  # the time series: static copies of the charts
    assert "fault windows shaded" in html and 'fill="#f4c7c3"' in html  # the partition window
    assert "baseline 1.47" in html
    # no network references at all; the one URL is in uPlot's licence banner (a comment)
    urls = re.findall(r"(?:https?:)?//[a-z0-9][^\"' )]*", html, re.I)
    assert urls == ["https://github.com/leeoniya/uPlot"], urls
    assert "<link" not in html and "@import" not in html and " src=" not in html
    assert "uPlot" in html and html.count("<script") == 3  # uPlot, the data, the drawing
    assert html.count("<polyline") == 1 + 1 + 2  # acked, lag, two latency curves
    data = json.loads(
        html.split('<script type="application/json" id="report-data">')[1]
        .split("</script>")[0]
        .replace("<\\/", "</")
    )
    charts = {c["title"]: c for c in data["charts"]}
    assert set(charts) == {"throughput", "lag"}
    tp = charts["throughput"]
    assert tp["names"] == ["acked"] and len(tp["x"]) == len(tp["ys"][0]) == 30  # columnar
    assert data["faults"] == [{"name": "partition-bus-historian", "start_s": 10.0, "end_s": 20.0}]
    assert data["x_range"] == [0.0, 30.0]
    assert data["started_utc"] is None  # built by hand: t = 0 is not known to be the load start


def test_started_time_says_whether_it_is_the_start_of_the_load(tmp_path: Path) -> None:
    from harness.report.md import render_markdown

    r = _report()
    assert f"- started: {r.started_utc} (UTC, when the report was made, after the load)" in (
        render_markdown(r)
    )
    r.started_is_load_start = True  # what the runner sets, with the load's start time
    md = render_markdown(r)
    assert f"- started: {r.started_utc} (UTC, the start of the load: t = 0 s on the charts)" in md
    old = r.to_json()
    del old["started_is_load_start"]  # a report written before the field existed
    assert Report.from_json(old).started_is_load_start is False


def test_bytes_per_point_says_what_the_baseline_judges() -> None:
    from harness.report.md import render_markdown

    r = _report()
    r.set_metric("plant.tags_with_data", 10, "tags")
    r.set_metric("plant.points_stored", 1_520, "points")
    evaluate(r, THRESHOLDS)
    md = render_markdown(r)
    assert "| *baseline* | 1.47 |" in md
    assert (
        "The *baseline* row is the compression baseline, 1.47 B/point; the threshold "
        "'bytes/point vs baseline' compares `storage.bytes_per_point` (1.4 B/point) with it "
        "(pass): it judges the store as a whole, not each tag type. The plant rows are per tag "
        "type, over 152 points per tag in this run"
    ) in md


def test_html_without_uplot_fails_naming_the_install_script(tmp_path: Path) -> None:
    from harness.report.html import render_html

    with pytest.raises(ReportError, match=r"scripts/install-npm-deps\.sh"):
        render_html(_report(), uplot_dist=tmp_path)  # a directory without uPlot in it
    with pytest.raises(ReportError, match=r"scripts/install-npm-deps\.sh"):
        require_uplot_dist(tmp_path)  # what the runner checks before it starts anything
    # a report without time series needs no uPlot at all
    bare = Report(scenario="x", profile="normal", seed=1, duration_s=1.0)
    assert "<script" not in render_html(bare, uplot_dist=tmp_path)


@needs_uplot
def test_cpu_and_memory_series_get_separate_charts() -> None:
    from harness.report.html import render_html

    r = Report(scenario="x", profile="normal", seed=1, duration_s=1.0)
    r.add_series(TimeSeries("cpu.historian", "%", [0.0, 1.0], [50.0, 60.0]), group="resources")
    r.add_series(TimeSeries("rss.historian", "bytes", [0.0, 1.0], [1e8, 2e8]), group="resources")
    html = render_html(r)
    assert html.count("<svg") == 2
    assert "resources (%) over time" in html and "resources (bytes) over time" in html


def test_load_report_errors_are_specific(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such report"):
        load_report(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"schema": "twinbench.report/0"}))
    with pytest.raises(ReportError, match=r"twinbench\.report/1"):
        load_report(tmp_path)


@needs_uplot
def test_compare_prints_deltas_between_runs(tmp_path: Path) -> None:
    a, b = _report(), _report(p99_scale=2.0, lose=1)
    b.set_metric("only.in.b", 1.0)
    a_dir, b_dir = write_run(a, tmp_path / "a"), write_run(b, tmp_path / "b")
    table = compare_table(load_report(a_dir), load_report(b_dir))
    lost_row = next(
        line for line in table.splitlines() if line.startswith("accounting.total.lost ")
    )
    assert lost_row.split()[1:4] == ["0", "1", "+1"]
    p99 = next(ln for ln in table.splitlines() if ln.startswith("latency.publish_to_ack.p99_ms"))
    assert "+10" in p99.split()[-1] or "+9" in p99.split()[-1]  # ~ +100 %: twice the latency
    assert "missing in A" in table
    assert "not.measured" in table and "not measured" in table

    result = CliRunner().invoke(
        build_app(),
        [
            "report",
            "compare",
            str(a_dir),
            str(b_dir / "report.json"),
            "--prefix",
            "accounting.total",
            "--changed-only",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "accounting.total.lost" in result.output
        and "accounting.total.produced" not in result.output
    )

    shown = CliRunner().invoke(build_app(), ["report", "show", str(a_dir)])
    assert shown.exit_code == 0 and "# twinbench report: partitioned" in shown.output
    missing = CliRunner().invoke(
        build_app(), ["report", "compare", str(a_dir), str(tmp_path / "nope")]
    )
    assert missing.exit_code == 2


@needs_uplot
def test_non_finite_values_anywhere_become_null(tmp_path: Path) -> None:
    r = _report()
    r.stress = {
        "steps": [{"name": "ramp-7", "p99_ms": float("inf")}],
        "highest_sustained_pts_s": 1.0,
    }
    r.bytes_per_point["broken"] = float("nan")
    r.add_series(TimeSeries("gap", "x", [0.0, 1.0, 2.0], [1.0, float("nan"), 3.0]), group="lag")
    out = write_run(r, tmp_path)
    doc = json.loads((out / "report.json").read_text())
    html = (out / "report.html").read_text()
    outside_scripts = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert "nan" not in outside_scripts.lower()  # tables and SVGs
    data = html.split('id="report-data">')[1].split("</script>")[0]
    assert "nan" not in data.lower() and "null" in data  # the chart data: the gap is a null
    assert doc["stress"]["steps"][0]["p99_ms"] is None and doc["bytes_per_point"]["broken"] is None
    assert doc["timeseries"]["gap"]["values"] == [1.0, None, 3.0]
    from harness.report.html import render_html

    # re-renders from the JSON alone; "gap" (unit x) gets its own lag chart
    assert render_html(load_report(out)).count("<svg") == 5


@needs_uplot
def test_report_render_rewrites_md_and_html_from_the_json(tmp_path: Path) -> None:
    out = write_run(_report(), tmp_path)
    (out / "report.html").unlink()
    (out / "report.md").write_text("stale")
    result = CliRunner().invoke(build_app(), ["report", "render", str(out)])
    assert result.exit_code == 0, result.output
    assert "# twinbench report: partitioned" in (out / "report.md").read_text()
    assert 'id="report-data"' in (out / "report.html").read_text()
    missing = CliRunner().invoke(build_app(), ["report", "render", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such report" in missing.output
