"""``twinbench compression measure``: CSV/Parquet in, sizes out, clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from historian.codec.cli import app
from historian.codec.corpus import DEFAULT_CORPUS_DIR

runner = CliRunner()
NAB = DEFAULT_CORPUS_DIR / "nab" / "ambient_temperature_system_failure.csv"


def test_measure_nab_json_schema() -> None:
    result = runner.invoke(app, ["measure", str(NAB), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema_version"] == 1
    (f,) = doc["files"]
    assert f["time_column"] == "timestamp" and f["rows"] == 7267
    (s,) = f["series"]
    assert s["name"] == "value" and s["points"] == 7267 and s["round_trip"] == "ok"
    assert set(s["chosen"]) == {
        "bytes",
        "bytes_per_point",
        "value_codec",
        "timestamp_codec",
        "quality_codec",
    }
    assert set(s["external"]) == {"pcodec", "parquet"}
    assert s["codecs"]["const"] is None
    chosen = s["chosen"]["bytes_per_point"]
    assert chosen <= min(v["bytes_per_point"] for v in s["codecs"].values() if v)
    assert chosen < s["external"]["pcodec"]["bytes_per_point"]
    assert chosen < s["external"]["parquet"]["bytes_per_point"]


def test_measure_semicolon_csv_with_named_time_column_and_table(tmp_path: Path) -> None:
    path = tmp_path / "plant.csv"
    rows = ["when;TI101;state;note"]
    for i in range(50):
        rows.append(f"{1_700_000_000 + i};{20 + i / 100:.2f};{i % 2};x")
    path.write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, ["measure", str(path), "--time-column", "when", "--format", "json"])
    assert result.exit_code == 0, result.output
    names = [s["name"] for s in json.loads(result.output)["files"][0]["series"]]
    assert names == ["TI101", "state"]  # the text column is not a series
    table = runner.invoke(app, ["measure", str(path), "--time-column", "when"])
    assert table.exit_code == 0 and "TI101" in table.output and "gorilla" in table.output


def test_measure_parquet(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    ts = np.arange(100, dtype=np.int64) * 10**9
    pq.write_table(
        pa.table({"time": pa.array(ts, pa.timestamp("ns")), "v": np.round(np.sin(ts / 1e10), 3)}),
        path,
    )
    result = runner.invoke(app, ["measure", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["files"][0]["series"][0]["points"] == 100


def test_bad_cell_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,1.5\n2024-01-01 00:00:01,oops\n")
    result = runner.invoke(app, ["measure", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: column 'value': 'oops' is not a number" in result.output


def test_bad_time_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bad_time.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,1.5\nyesterday,2\n")
    result = runner.invoke(app, ["measure", str(path)])
    assert result.exit_code == 2 and ":3: column 'timestamp'" in result.output
    result = runner.invoke(app, ["measure", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_out_of_order_rows_are_sorted_and_counted() -> None:
    path = DEFAULT_CORPUS_DIR / "nab" / "machine_temperature_system_failure.csv"
    result = runner.invoke(
        app, ["measure", str(path), "--format", "json", "--chunk-points", "4096"]
    )
    assert result.exit_code == 0, result.output
    f = json.loads(result.output)["files"][0]
    assert f["out_of_order_rows"] > 0 and f["series"][0]["points"] == 22695


def test_lossy_command_reports_size_and_fidelity() -> None:
    result = runner.invoke(app, ["lossy", str(NAB), "--comp-dev-percent", "0.5"])
    assert result.exit_code == 0, result.output
    for word in ("swinging door", "exception", "max abs err", "TWA", "integral"):
        assert word in result.output
