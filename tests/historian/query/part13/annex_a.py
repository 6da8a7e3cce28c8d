"""Load the Annex A fixture (data/annex_a.json) into raw columns and expected rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from historian.model import NS_PER_SECOND
from historian.query.part13 import AggregateConfiguration, AggregateResult, aggregate
from historian.query.part13.status import parse

NS = NS_PER_SECOND  # the tests import it from here

FIXTURE = Path(__file__).with_name("data") / "annex_a.json"
QUALITY = {"Good": 0x0000, "Uncertain": 0x4000, "Bad": 0x8000, "BadNoData": 0x809B}


@cache
def load() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text())
    return doc


def at(clock: str) -> int:
    """'12:00:15.999' on the fixture's date -> ns since the epoch (UTC)."""
    day = datetime.fromisoformat(load()["date"]).replace(tzinfo=UTC)
    h, m, s = clock.split(":")
    base = int(day.timestamp()) * NS
    sec, _, frac = s.partition(".")
    return base + ((int(h) * 60 + int(m)) * 60 + int(sec)) * NS + int((frac or "0").ljust(9, "0"))


@dataclass(frozen=True)
class DataSet:
    ts: NDArray[np.int64]
    values: NDArray[np.float64]
    quality: NDArray[np.uint16]
    config: AggregateConfiguration


@cache
def dataset(name: str) -> DataSet:
    d = load()["datasets"][name]
    pts = d["points"]
    return DataSet(
        np.array([at(p[0]) for p in pts], np.int64),
        np.array([np.nan if p[1] is None else p[1] for p in pts], np.float64),
        np.array([QUALITY[p[2]] for p in pts], np.uint16),
        AggregateConfiguration(**d["config"]),
    )


@cache
def run(name: str, ds: str, interval_s: int) -> AggregateResult:
    d = dataset(ds)
    doc = load()
    return aggregate(
        name, d.ts, d.values, d.quality, at(doc["start"]), at(doc["end"]), interval_s * NS, d.config
    )


@dataclass(frozen=True)
class Row:
    aggregate: str
    dataset: str
    interval_s: int
    index: int
    clock: str
    value: float | None
    status: int
    source: str

    @property
    def id(self) -> str:
        return f"{self.aggregate}-{self.dataset}-{self.clock}"


def rows() -> list[Row]:
    out = []
    for c in load()["cases"]:
        for i, (clock, value, status) in enumerate(c["rows"]):
            out.append(
                Row(
                    c["aggregate"],
                    c["dataset"],
                    c["interval_s"],
                    i,
                    clock,
                    value,
                    parse(status),
                    c["source"],
                )
            )
    return out
