"""The hand-made SVG charts: axis ticks, coordinates, escaping, gaps."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from harness.report.svgplot import bar_chart, line_chart, nice_ticks, percentile_chart


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 10, [0, 2, 4, 6, 8, 10]),
        (0, 1_050_000, [0, 200_000, 400_000, 600_000, 800_000, 1_000_000]),
        (3, 3, [3]),
    ],
)
def test_nice_ticks_are_round(lo: float, hi: float, expected: list[float]) -> None:
    assert nice_ticks(lo, hi) == pytest.approx(expected)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_line_chart_draws_scaled_lines_shades_and_escapes() -> None:
    svg = line_chart(
        [("a<b", [0, 1, 2], [0, 5, 10]), ("gappy", [0, 1, 2], [1, float("nan"), 2])],
        title="t & u",
        shaded=[(0.5, 1.5, "kill <historian>")],
    )
    root = _parse(svg)
    lines = root.findall("polyline")
    assert len(lines) == 2 and len(lines[1].get("points", "").split()) == 2  # NaN skipped
    xs = [float(p.split(",")[0]) for p in lines[0].get("points", "").split()]
    ys = [float(p.split(",")[1]) for p in lines[0].get("points", "").split()]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # rising data goes up the page
    assert "a&lt;b" in svg and "t &amp; u" in svg and "kill &lt;historian&gt;" in svg
    assert len([r for r in root.findall("rect") if r.get("fill") == "#f4c7c3"]) == 1


def test_percentile_and_bar_charts_are_well_formed() -> None:
    root = _parse(
        percentile_chart({"ack": [(0.0, 1.0), (50.0, 2.0), (99.0, 5.0), (100.0, 9.0)]}, title="p")
    )
    assert len(root.findall("polyline")) == 1
    svg = bar_chart(
        {"analog": 1.3, "state": 0.1, "none": float("nan")}, title="b", unit="B/pt", reference=1.47
    )
    root = _parse(svg)
    bars = [r for r in root.findall("rect") if r.find("title") is not None]
    assert len(bars) == 2 and "baseline 1.47" in svg
    widths = {r.find("title").text.split(":")[0]: float(r.get("width", 0)) for r in bars}  # type: ignore[union-attr]
    assert widths["analog"] == pytest.approx(13 * widths["state"], rel=0.02)
    assert not re.search(r"nan", svg, re.I)


def test_bar_labels_never_overprint_and_the_baseline_label_is_rounded() -> None:
    # the names the stress run's plant writes: once vertical bars' labels overlapped
    names = ["all stored data (engine)", "synthetic (codec)"] + [
        f"plant {t}" for t in ("tubing_pressure", "casing_pressure", "temperature", "tank_level",
                               "gas", "oil", "water_cut", "motor_current", "vibration")
    ]  # fmt: skip
    svg = bar_chart(
        {n: 3.0 + i / 3 for i, n in enumerate(names)},
        title="b",
        unit="B/point",
        reference=3.399988296393225,
    )
    root = _parse(svg)
    labels = [t for t in root.findall("text") if t.get("class") == "bar-label"]
    assert [t.text for t in labels] == names  # whole names, none cut to 14 characters
    ys = [float(t.get("y", 0)) for t in labels]
    assert all(b - a >= 14 for a, b in itertools.pairwise(ys))  # one row each, 10 px font
    bars = [r for r in root.findall("rect") if r.find("title") is not None]
    assert all(float(r.get("x", 0)) > float(labels[0].get("x", 0)) for r in bars)  # right of it
    assert "baseline 3.4<" in svg and "3.39998" not in svg


def test_line_chart_names_fault_windows_and_keeps_a_given_time_axis() -> None:
    faults = [(10.0, 12.0, "kill-historian"), (13.0, 14.0, "pause-nats")]
    a = line_chart([("queryable", [0, 20], [1, 2]), ("acked", [0, 20], [1, 2])], title="a",
                   shaded=faults, x_range=(0.0, 60.0), dashed={"acked"})  # fmt: skip
    b = line_chart([("cpu", [5, 58], [1, 2])], title="b", shaded=faults, x_range=(0.0, 60.0))
    for svg in (a, b):  # the same ticks on both: one time axis
        ticks = [t.text for t in _parse(svg).findall("text") if t.get("text-anchor") == "middle"]
        assert {"0", "10", "20", "30", "40", "50", "60"} <= set(ticks)
    labels = [t.text for t in _parse(a).findall("text") if t.get("class") == "fault-label"]
    assert labels == ["kill-historian", "pause-nats"]
    lines = _parse(a).findall("polyline")
    assert lines[1].get("stroke-dasharray") and not lines[0].get("stroke-dasharray")


def test_percentile_chart_goes_logarithmic_over_wide_ranges() -> None:
    svg = percentile_chart(
        {"fast": [(0.0, 1.0), (99.0, 10.0)], "outlier": [(0.0, 5.0), (99.0, 30_000.0)]}, title="p"
    )
    labels = [t.text for t in _parse(svg).findall("text")]
    assert {"1", "10", "100", "1k", "10k", "100k"} <= set(labels)
    narrow = percentile_chart({"a": [(0.0, 1.0), (99.0, 10.0)]}, title="p")
    assert "1k" not in [t.text for t in _parse(narrow).findall("text")]
