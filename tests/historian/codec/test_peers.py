"""A real InfluxDB 1.x stores the same series: TSM bytes after compaction, NaN left out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from historian.codec.cli import app
from historian.codec.peers import influx_tsm_sizes, prometheus_block_sizes

needs_influxd = pytest.mark.skipif(
    shutil.which("influxd") is None, reason="influxd (Debian influxdb) not installed"
)
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed"
)


@needs_influxd
def test_influx_stores_each_series_in_its_own_tsm() -> None:
    rng = np.random.default_rng(1)
    ts = 1_767_225_600 * 10**9 + np.arange(5000, dtype=np.int64) * 10**9
    smooth = np.round(50 + np.cumsum(rng.normal(0, 0.05, 5000)), 2)
    noisy = rng.normal(0, 1, 5000)
    noisy[::100] = np.nan
    sizes = influx_tsm_sizes([("smooth", ts, smooth), ("noisy", ts, noisy)])
    assert sizes["smooth"].points == 5000 and sizes["smooth"].skipped == 0
    assert sizes["noisy"].points == 4950 and sizes["noisy"].skipped == 50
    # Gorilla-style XOR floats: 2-decimal values cost bytes, full-precision noise nearly 8
    assert 0 < sizes["smooth"].nbytes < sizes["noisy"].nbytes
    assert 4 < sizes["noisy"].nbytes / 4950 < 10


@needs_promtool
def test_prometheus_blocks_hold_each_series() -> None:
    rng = np.random.default_rng(2)
    ts = 1_767_225_600 * 10**9 + np.arange(7200, dtype=np.int64) * 10**9  # 2 h at 1 Hz
    ts[5] += 1  # 1 ns past the ms grid: Prometheus truncates it
    smooth = np.round(50 + np.cumsum(rng.normal(0, 0.05, 7200)), 2)
    noisy = rng.normal(0, 1, 7200)
    sizes = prometheus_block_sizes([("smooth", ts, smooth), ("noisy", ts, noisy)])
    assert sizes["smooth"].points == 7200 and sizes["smooth"].skipped == 1
    assert 0 < sizes["smooth"].nbytes < sizes["noisy"].nbytes
    assert 4 < sizes["noisy"].nbytes / 7200 < 10  # XOR chunks of full-precision noise


@needs_influxd
@needs_promtool
def test_measure_with_peers_adds_the_peer_columns(tmp_path: Path) -> None:
    csv = tmp_path / "half_hour.csv"
    rows = [f"2026-01-01 00:{i // 60:02d}:{i % 60:02d},{20 + i % 7 / 10}" for i in range(1800)]
    csv.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    result = CliRunner().invoke(app, ["measure", str(csv), "--peers", "--format", "json"])
    assert result.exit_code == 0, result.output
    (s,) = json.loads(result.output)["files"][0]["series"]
    for peer in ("influxdb", "prometheus"):
        assert s["external"][peer]["bytes_per_point"] > s["chosen"]["bytes_per_point"]


def test_measure_needs_files_or_the_corpus() -> None:
    result = CliRunner().invoke(app, ["measure"])
    assert result.exit_code == 2
    assert "pass --corpus" in result.output
