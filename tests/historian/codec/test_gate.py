"""The compression gate passes on the committed baseline and fails on regressions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from typer.testing import CliRunner

from historian.codec import encode_chunk
from historian.codec.cli import app
from historian.codec.corpus import load_corpus
from historian.codec.gate import (
    DEFAULT_BASELINE,
    Tolerance,
    baseline_document,
    check,
    measure_corpus,
    read_baseline,
)

runner = CliRunner()


def _small_corpus() -> list[Any]:
    return [s for s in load_corpus() if s.name.startswith("nab/") or "2dp" in s.name]


def worse_codec(
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    quality: NDArray[np.uint16],
    codec: str | int | None = None,
) -> bytes:
    """A deliberately worse chooser: always stores raw floats (still lossless)."""
    return encode_chunk(ts, values, quality, codec="raw" if codec is None else codec)


def test_gate_passes_on_the_committed_baseline() -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "compression gate passed" in result.output
    for header in ("series", "points", "B/pt now", "baseline", "best other codec"):
        assert header in result.output


def test_gate_fails_when_the_chooser_gets_worse() -> None:
    corpus = _small_corpus()
    baseline = baseline_document(measure_corpus(corpus), Tolerance())["series"]
    assert check(measure_corpus(corpus), baseline, Tolerance()).passed
    result = check(measure_corpus(corpus, encode=worse_codec), baseline, Tolerance())
    assert not result.passed
    assert all(any("chooser" in p for p in row.problems) for row in result.rows)


def test_gate_fails_on_worse_numbers_in_the_cli(tmp_path: Path) -> None:
    doc = json.loads(DEFAULT_BASELINE.read_text())
    name = next(iter(doc["series"]))
    doc["series"][name]["chooser"] *= 0.9  # the committed figure was 10 % better
    doc["series"][name]["codecs"]["gorilla"] *= 0.5
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["check", "--baseline", str(path)])
    assert result.exit_code == 1
    assert "FAIL" in result.output and name in result.output


def test_gate_fails_on_missing_and_new_series(tmp_path: Path) -> None:
    series, tol = read_baseline(DEFAULT_BASELINE)
    measured = measure_corpus(_small_corpus())
    partial = {k: v for k, v in series.items() if k != measured[0].name}
    partial["retired/series"] = series[measured[0].name]
    problems = check(measured, partial, tol).failures
    assert any("not in the baseline" in p for p in problems)
    assert any("retired/series" in p for p in problems)


def test_update_baseline_writes_a_file_that_then_passes(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    assert runner.invoke(app, ["update-baseline", "--baseline", str(path)]).exit_code == 0
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 1
    assert len(doc["series"]) == len(load_corpus())
    assert runner.invoke(app, ["check", "--baseline", str(path)]).exit_code == 0


def test_tolerance_rule() -> None:
    tol = Tolerance(relative=0.01, absolute=0.002)
    assert tol.allows(1.012, 1.0)
    assert not tol.allows(1.013, 1.0)
