"""A real InfluxDB 1.x stores the same series: TSM bytes after compaction, NaN left out."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from historian.codec.cli import app
from historian.codec.corpus import DEFAULT_CORPUS_DIR
from historian.codec.peers import influx_tsm_sizes

needs_influxd = pytest.mark.skipif(
    shutil.which("influxd") is None, reason="influxd (Debian influxdb) not installed"
)
NAB = DEFAULT_CORPUS_DIR / "nab" / "ambient_temperature_system_failure.csv"


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


@needs_influxd
def test_measure_with_peers_adds_the_influxdb_column() -> None:
    result = CliRunner().invoke(app, ["measure", str(NAB), "--peers", "--format", "json"])
    assert result.exit_code == 0, result.output
    (s,) = json.loads(result.output)["files"][0]["series"]
    assert s["external"]["influxdb"]["bytes_per_point"] > s["chosen"]["bytes_per_point"]


def test_measure_needs_files_or_the_corpus() -> None:
    result = CliRunner().invoke(app, ["measure"])
    assert result.exit_code == 2
    assert "pass --corpus" in result.output
