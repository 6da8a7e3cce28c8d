"""End to end: a real Prometheus scrapes a real historian and a real collector, and the
shipped consumer-lag rule fires when the ingest really falls behind.

The stack: nats-server; ``twinbench historian serve --nats URL --http 127.0.0.1:0``; a
simulator node serving Modbus; ``harness.plant.collector_process --metrics 127.0.0.1:0``
polling it every 0.25 s and publishing to the stream; Prometheus on loopback scraping
both every second with the rules of ``deploy/prometheus/alerts.yml``.

1. Every metric the rules use (except the cold tier's, which need ``serve --tier``:
   tests/historian/tier/test_tier_metrics.py) is a series in Prometheus, and no
   alert fires while everything is healthy.
2. The historian's durable consumer is paused through the JetStream API (what an
   operator's ``nats consumer pause`` does) while the collector keeps publishing:
   the oldest unacked message ages, the historian reports it, and
   ``TwinbenchConsumerLagHigh`` fires.

The rules are the shipped ones, thresholds included (lag > 10 s); the test copy only
sets that alert's ``for:`` from 1m to 0s, because waiting a minute of hold time would
test Prometheus's ``for:`` (covered by the promtool unit tests), not our metrics.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from harness.services import ManagedProcess, NatsServer
from historian.bus.options import BusOptions
from tests.deploy.prometheus_server import PrometheusServer
from tests.deploy.test_prometheus_rules import RULES
from tests.harness.plant.test_collector_metrics import collector_argv, metrics_url, start_node
from tests.historian.serve_process import ServeProcess

pytestmark = [pytest.mark.service]

SERVE = [str(Path(sys.executable).parent / "twinbench"), "historian", "serve"]
LAG_ALERT = "TwinbenchConsumerLagHigh"
TIER_ONLY = re.compile(r"twinbench_tier_")


def rule_metrics() -> set[str]:
    """Every ``twinbench_*`` metric name the shipped rules use."""
    return set(re.findall(r"\btwinbench_[a-z_]+\b", RULES.read_text()))


def rules_copy(dest: Path) -> Path:
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == LAG_ALERT:
                rule["for"] = "0s"
    out = dest / "alerts.yml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def scrape_config(dest: Path, historian: str, collector: str) -> Path:
    cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules_copy(dest))],
        "scrape_configs": [
            {"job_name": "twinbench-historian", "static_configs": [{"targets": [historian]}]},
            {"job_name": "twinbench-collector", "static_configs": [{"targets": [collector]}]},
        ],
    }
    out = dest / "prometheus.yml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def wait_until(probe: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last: {last}")


async def pause_consumer(url: str, seconds: float) -> None:
    opts = BusOptions()
    nc = await nats.connect(url)
    try:
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        await nc.jetstream().pause_consumer(
            opts.stream, opts.consumer_name(0), until.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    finally:
        await nc.close()


def lag_alerts(prom: PrometheusServer, state: str | None = None) -> list[dict[str, Any]]:
    """The consumer-lag alerts Prometheus has (pending or firing), optionally of one state."""
    return [
        a
        for a in prom.alerts()
        if a["labels"]["alertname"] == LAG_ALERT and state in (None, a["state"])
    ]


async def resume_consumer(url: str) -> None:
    opts = BusOptions()
    nc = await nats.connect(url)
    try:
        await nc.jetstream().resume_consumer(opts.stream, opts.consumer_name(0))
    finally:
        await nc.close()


def test_prometheus_scrapes_the_stack_and_a_real_lag_fires_its_alert(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    t0 = time.monotonic()
    node, cat, modbus = start_node(tmp_path)
    (tmp_path / "hist").mkdir()
    serve: ServeProcess | None = None
    log = tmp_path / "collector.log"
    argv = collector_argv(cat, modbus, nats_server.url, tmp_path / "spool")
    collector = ManagedProcess("collector", argv, log)
    prom: PrometheusServer | None = None
    try:
        serve = ServeProcess(
            SERVE, tmp_path / "hist", cat.read_text(), None, ["--http", "127.0.0.1:0"],
            ["--nats", nats_server.url], 90,
        )  # fmt: skip
        collector.start()
        collector.wait_for_log("READY\n", 60)
        historian_target = serve.info["http"].removeprefix("http://")
        collector_target = metrics_url(log, 30).removeprefix("http://").removesuffix("/metrics")
        config = scrape_config(tmp_path, historian_target, collector_target)
        prom = PrometheusServer(tmp_path / "prom", config).start()

        # 1. both targets up, every series the rules need exists, nothing fires
        wait_until(lambda: len(prom.query("up == 1")) == 2, 30, "both targets scraped and up")
        wanted = {m for m in rule_metrics() if not TIER_ONLY.match(m)}
        deadline = time.monotonic() + 30
        while absent := [m for m in sorted(wanted) if not prom.query(m)]:
            assert time.monotonic() < deadline, f"no series in Prometheus for {absent}"
            time.sleep(0.5)
        published = prom.query('twinbench_collector_points_published_total{source="collector-m"}')
        assert float(published[0]["value"][1]) > 0
        assert float(prom.query("max(twinbench_ingest_consumer_lag_seconds)")[0]["value"][1]) < 10
        assert [a["labels"]["alertname"] for a in prom.alerts()] == []

        # 2. pause the historian's consumer while the collector keeps publishing
        asyncio.run(pause_consumer(nats_server.url, 120))
        paused_at = time.monotonic()
        firing = wait_until(lambda: lag_alerts(prom, "firing"), 40, f"{LAG_ALERT} to fire")
        waited = time.monotonic() - paused_at
        assert firing[0]["labels"]["partition"] == "0"
        assert float(firing[0]["value"]) > 10
        assert waited >= 10  # the lag had to really build up past the shipped threshold
        lag_msgs = prom.query("twinbench_ingest_consumer_lag_messages")
        assert float(lag_msgs[0]["value"][1]) > 0

        # 3. resume: the backlog drains, the lag falls under the threshold, the alert clears
        asyncio.run(resume_consumer(nats_server.url))
        wait_until(lambda: not lag_alerts(prom), 30, f"{LAG_ALERT} to clear after the resume")
        print(f"lag alert fired {waited:.1f} s after the pause; test {time.monotonic() - t0:.1f} s")
    finally:
        if prom is not None:
            prom.stop()
        collector.stop()
        node.stop()
        if serve is not None:
            assert serve.stop() == 0, serve.log.read_text()
