"""The cold tier's figures on ``/metrics`` of a real ``serve --tier --http`` process.

Before the first round the seeded days older than the hot window are the export
lag; once the server's round has exported them, the lag is 0, the rounds and
exported points counters moved, and the status timestamp is recent.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness.services import S3Server
from tests.historian.serve_process import ServeProcess
from tests.historian.tier.test_serve import POINTS, _seed, _tier_toml

SERVE = [str(Path(sys.executable).parent / "twinbench"), "historian", "serve"]


def _tier_samples(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    return {
        s.name: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name.startswith("twinbench_tier_")
    }


def test_tier_rounds_and_export_lag_reach_the_metrics_page(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    tier_file = _tier_toml(tmp_path / "tier.toml", s3_server, s3_bucket)
    # rounds 3 s apart: the first scrape (right after the ready file) sees the state before
    tier_file.write_text(tier_file.read_text().replace('"1s"', '"3s"'))
    proc = ServeProcess(
        SERVE,
        tmp_path,
        None,
        _seed,
        ["--http", "127.0.0.1:0"],
        ["--tier", str(tier_file), "--bucket", "1d"],
        ready_timeout_s=60,
    )
    try:
        url = proc.info["http"]
        first = _tier_samples(url)
        # the status written at attach time, before any round: seeded 2024 days are overdue
        # (a machine so loaded that the first round ran already shows it in the counter)
        assert (
            first["twinbench_tier_export_lag_seconds"] > 86_400
            or first["twinbench_tier_rounds_total"] >= 1
        ), first
        deadline = time.monotonic() + 60
        s = first
        while s.get("twinbench_tier_exported_points_total", 0) < POINTS:
            assert proc.proc.poll() is None, proc.log.read_text()
            assert time.monotonic() < deadline, f"no export on /metrics after 60 s: {s}"
            time.sleep(0.2)
            s = _tier_samples(url)
        deadline = time.monotonic() + 30
        while s["twinbench_tier_export_lag_seconds"] != 0.0:  # the status after the round
            assert time.monotonic() < deadline, f"export lag stayed: {s}"
            time.sleep(0.2)
            s = _tier_samples(url)
        assert s["twinbench_tier_rounds_total"] >= 1
        assert s["twinbench_tier_round_failures_total"] == 0
        assert abs(s["twinbench_tier_status_timestamp_seconds"] - time.time()) < 30
    finally:
        assert proc.stop() == 0, proc.log.read_text()
