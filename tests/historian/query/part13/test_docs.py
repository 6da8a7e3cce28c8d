"""docs/query/opcua-aggregates.md: its worked example and aggregate table match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from historian.query.part13 import AGGREGATES
from historian.query.part13.status import describe, parse
from tests.historian.query.part13.annex_a import NS, at, dataset

DOC = Path(__file__).resolve().parents[4] / "docs" / "query" / "opcua-aggregates.md"


def _worked_rows() -> list[list[str]]:
    text = DOC.read_text()
    block = text.split("<!-- worked-example:begin -->")[1].split("<!-- worked-example:end -->")[0]
    lines = [ln for ln in block.strip().splitlines()[2:] if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def test_worked_example_has_rows() -> None:
    assert len(_worked_rows()) >= 5


@pytest.mark.parametrize("row", _worked_rows(), ids=lambda r: f"{r[0]}@{r[1]}")
def test_worked_example_row(row: list[str]) -> None:
    from historian.query.part13 import aggregate

    name, clock, seconds, value, status = row
    d = dataset("Historian1")
    start = at(clock)
    res = aggregate(name, d.ts, d.values, d.quality, start, start + int(seconds) * NS, 0, d.config)
    assert res.values[0] == pytest.approx(float(value), abs=1e-9)
    assert describe(int(res.status[0])) == describe(parse(status))


def test_table_lists_every_aggregate_with_its_node_id() -> None:
    text = DOC.read_text()
    listed = dict(re.findall(r"^\| (\w+) \| i=(\d+) \|", text, flags=re.M))
    assert {k: int(v) for k, v in listed.items()} == {
        a.name: a.node_id for a in AGGREGATES.values()
    }
