"""report.html in headless Debian chromium (Playwright): the uPlot charts of a real run.

The page is rendered from a stored result, the 600 s chaos run's report.json in
reports/examples (20 faults; no scenario runs in the test), opened from file://
with every other request refused (the file must be self-contained). It must draw
every time-series chart on one time axis, name every fault window, zoom all charts
together on a drag, reset them on a double-click and show values in the hover
read-out. A screenshot is saved in the test's tmp dir.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.report.charts import fault_windows, find_uplot_dist, time_charts
from harness.report.html import render_html
from harness.report.model import load_report

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "reports" / "examples" / "20261201-chaos-600s" / "report.json"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
X_SCALES = "() => reportCharts.map((u) => [u.scales.x.min, u.scales.x.max])"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason="needs Debian's chromium (scripts/install-system-deps.sh)",
    ),
    pytest.mark.skipif(
        find_uplot_dist() is None, reason="needs uPlot (scripts/install-npm-deps.sh)"
    ),
]


def _x_of(box: dict[str, float], scale: list[float], t: float) -> float:
    """The page x of time ``t`` on a chart whose plot area is ``box``."""
    return box["x"] + (t - scale[0]) / (scale[1] - scale[0]) * box["width"]


def test_report_charts_draw_zoom_together_and_read_out(tmp_path: Path) -> None:
    from playwright.sync_api import Route, sync_playwright

    report = load_report(EXAMPLE)
    charts = time_charts(report)
    faults = fault_windows(report)
    assert len(charts) >= 4 and len(faults) == 20  # the stored run is what the test expects
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(report), encoding="utf-8")

    refused: list[str] = []

    def only_the_file(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", only_the_file)
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-charts-ready]", timeout=30_000)

            # every chart drew: one canvas each, with its series
            assert page.get_attribute("body", "data-charts-ready") == str(len(charts))
            assert page.locator("figure.tchart canvas").count() == len(charts)
            for c in charts:
                fig = f"#{c.key}"
                assert page.get_attribute(fig, "data-series") == str(len(c.names))
                assert page.locator(f"{fig} .u-legend .u-series").count() == len(c.names) + 1
                assert page.get_attribute(fig, "data-fault-labels") == str(len(faults))
            n_series = page.evaluate("() => reportCharts.map((u) => u.series.length - 1)")
            assert n_series == [len(c.names) for c in charts]

            # one time axis: every chart spans the same x range
            full: list[list[float]] = page.evaluate(X_SCALES)
            assert all(s == full[0] for s in full), full
            assert full[0][0] <= 0 and full[0][1] >= report.duration_s

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            print(f"report screenshot: {shot}")

            # a drag across the first chart zooms every chart to the same window
            box: Any = page.locator(f"#{charts[0].key} .u-over").bounding_box()
            assert box is not None
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] * 0.25, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.50, y, steps=8)
            page.mouse.up()
            page.wait_for_function(
                f"() => reportCharts[0].scales.x.max - reportCharts[0].scales.x.min"
                f" < {0.5 * (full[0][1] - full[0][0])}"
            )
            zoomed: list[list[float]] = page.evaluate(X_SCALES)
            span = full[0][1] - full[0][0]
            assert zoomed[0][0] == pytest.approx(full[0][0] + 0.25 * span, abs=0.02 * span)
            assert zoomed[0][1] == pytest.approx(full[0][0] + 0.50 * span, abs=0.02 * span)
            assert all(s == pytest.approx(zoomed[0], abs=1e-6 * span) for s in zoomed), zoomed

            # hovering inside a fault window: the read-out names the fault and gives values
            a, b, name = next(f for f in faults if zoomed[0][0] < f[0] and f[1] < zoomed[0][1])
            page.mouse.move(_x_of(box, zoomed[0], (a + b) / 2), y)
            page.wait_for_function(
                "document.querySelector('#readout').textContent.includes('t = ')"
            )
            readout = page.inner_text("#readout")
            assert f"fault: {name}" in readout, readout
            assert any(ch.isdigit() for ch in readout.split("—")[1]), readout  # values shown
            legend = page.locator(f"#{charts[0].key} .u-legend .u-series").nth(1)
            value = legend.locator(".u-value").inner_text()
            assert value not in ("", "–") and any(ch.isdigit() for ch in value), value

            # the read-out follows the chart under the mouse; the others' cursors follow it
            other = page.locator(f"#{charts[1].key} .u-over")
            other_box: Any = other.bounding_box()
            other.hover(position={"x": other_box["width"] * 0.6, "y": other_box["height"] / 2})
            page.wait_for_function(
                f"document.querySelector('#readout').textContent.includes({charts[1].title!r})"
            )
            at = page.evaluate(
                "() => reportCharts.map((u) => u.cursor.left >= 0 ? u.posToVal(u.cursor.left, 'x')"
                " : null)"
            )
            assert None not in at and max(at) - min(at) < 0.01 * span, at  # cursor.sync

            zoomed_shot = tmp_path / "report-zoomed.png"
            page.screenshot(path=str(zoomed_shot), full_page=False)
            print(f"report screenshot after the zoom: {zoomed_shot}")

            # a double-click zooms every chart back out to the run's full range
            first = page.locator(f"#{charts[0].key} .u-over")  # scrolled away from: locate again
            first.dblclick(position={"x": box["width"] * 0.3, "y": box["height"] / 2})
            page.wait_for_function(f"() => reportCharts[0].scales.x.max >= {full[0][1]}")
            assert page.evaluate(X_SCALES) == full
            assert errors == [] and refused == []
        finally:
            browser.close()
