"""The trend viewer in headless Debian chromium (Playwright), against a real server.

It loads from the server (uPlot from node_modules, no CDN), draws a tag, marks its
Bad values, zooms by dragging (which must re-query ``plot`` for the narrower
window), shows the hover read-out with statuses, keeps the view in the URL, and
adds a second tag from the search box. A screenshot is saved in the test's tmp dir.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from historian.api.app import find_vendor_dir
from historian.api.times import format_time, parse_time

from .conftest import BASE, FLOW, NS, RUNNING, ApiServer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = [
    pytest.mark.service,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason="needs Debian's chromium (scripts/install-system-deps.sh)",
    ),
    pytest.mark.skipif(
        find_vendor_dir() is None, reason="needs uPlot (scripts/install-npm-deps.sh)"
    ),
]


def test_viewer_draws_marks_bad_values_zooms_and_requeries(api: ApiServer, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    plot_queries: list[dict[str, Any]] = []

    def on_request(req: Any) -> None:
        if req.url.endswith("/api/v1/streams/query") and req.method == "POST":
            body = json.loads(req.post_data or "{}")
            plot_queries.extend(q for q in body.get("queries", []) if q.get("kind") == "plot")

    start, end = format_time(BASE), format_time(BASE + 3600 * NS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", on_request)
            page.goto(f"{api.url}/viewer/?tags={FLOW}&start={start}&end={end}")
            page.wait_for_selector("body[data-ready='1']", timeout=20_000)
            assert page.locator("#chart canvas").count() == 1
            assert len(plot_queries) == 1 and plot_queries[0]["start"] == start
            assert int(page.get_attribute("#chart", "data-bad-markers") or 0) >= 1
            assert "plot values of 1 tag" in page.inner_text("#status")
            shot = tmp_path / "viewer.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            print(f"viewer screenshot: {shot}")

            box = page.locator("#chart .u-over").bounding_box()
            assert box is not None
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] * 0.25, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.50, y, steps=8)
            page.mouse.up()
            page.wait_for_function(
                "Number(document.querySelector('#chart').dataset.plotRequests) >= 2"
            )
            page.wait_for_function(
                "!document.querySelector('#status').textContent.startsWith('')"
                " || document.querySelector('#status').textContent.includes('plot values')"
            )
            zoom = plot_queries[-1]
            z0, z1 = parse_time(zoom["start"]), parse_time(zoom["end"])
            assert BASE < z0 < z1 < BASE + 3600 * NS and z1 - z0 < 0.4 * 3600 * NS
            view = parse_qs(urlsplit(page.url).query)
            assert parse_time(view["start"][0]) == pytest.approx(z0, abs=NS // 1000)

            page.mouse.move(box["x"] + box["width"] * 0.4, y)
            page.wait_for_function("document.querySelector('#readout').textContent.includes('[')")
            readout = page.inner_text("#readout")
            assert FLOW in readout and "[Good]" in readout

            zoomed = tmp_path / "viewer-zoomed.png"
            page.screenshot(path=str(zoomed), full_page=True)
            print(f"viewer screenshot after the zoom: {zoomed}")

            page.fill("#search", "running")
            page.wait_for_selector(f"#results li[data-tag='{RUNNING}']")
            page.click(f"#results li[data-tag='{RUNNING}']")
            page.wait_for_function(f"location.search.includes('{RUNNING}')")
            page.wait_for_function("document.querySelectorAll('#selected li').length === 2")
            assert {q["tag"] for q in plot_queries[-2:]} == {FLOW, RUNNING}
            assert errors == []
        finally:
            browser.close()


def test_viewer_live_tail_picks_up_a_new_value(api: ApiServer) -> None:
    import time

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.goto(f"{api.url}/viewer/?tags={FLOW}&start={format_time(BASE)}&end=*&live=1")
            page.wait_for_selector("body[data-ready='1']", timeout=20_000)
            assert page.is_checked("#live")
            new_ns = time.time_ns() - NS
            doc = {"tag": FLOW, "timestamp": [new_ns], "value": [4242.0]}
            assert api.post_json("/api/v1/write", doc).status == 200
            # the poll of `last` (every 2 s) appends it and slides the window to it
            appended = (
                f"() => {{ const s = state.series['{FLOW}']; return s && s.v.at(-1) === 4242; }}"
            )
            page.wait_for_function(appended, timeout=15_000)
            newest = page.evaluate(f"() => state.series['{FLOW}'].t.at(-1)")
            assert abs(newest - new_ns / NS) < 1e-3
        finally:
            browser.close()
