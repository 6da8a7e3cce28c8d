"""A real ``twinbench historian serve --opcua 127.0.0.1:0`` process over a seeded store.

The store is written offline first, then the server is started as a subprocess,
found through its ready file (with a deadline), talked to by real OPC UA clients
over TCP, and stopped by PID (SIGTERM, then SIGKILL after a deadline).

Data (``BASE`` = 2026-12-01T00:00:00Z):

* ``FLOW`` (linear, m3/h, 0..5000, excdev 0.5): one hour at 1 Hz, value ``i * 0.5``,
  indexes 100..104 BadSensorFailure with NaN, index 200 Uncertain_DataSubNormal;
* ``RUNNING`` (bool, stepped): 0/1 every 10 minutes, 6 points;
* ``PRECISE``: 5 points at nanosecond-odd times (``BASE + k s + 123_456_789 ns``);
* ``EMPTY``: in the catalogue, no points.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from historian import Historian
from historian.model import NS_PER_SECOND, PointBatch
from tests.historian.serve_process import ServeProcess

NS = NS_PER_SECOND  # the tests import it from here

BASE = 1_796_083_200 * NS  # 2026-12-01T00:00:00Z
FLOW = "acme.site1.area1.line1.cell1.pump1.flow"
RUNNING = "acme.site1.area1.line1.cell1.pump1.running"
PRECISE = "acme.site1.area1.line1.cell1.pump1.precise"
EMPTY = "acme.site1.area1.line1.cell1.pump1.empty"
BAD_RUN = range(100, 105)
UNCERTAIN_AT = 200
BAD_SENSOR = 0x808C
UNCERTAIN_DATA_SUBNORMAL = 0x40A4
SERVE = [str(Path(sys.executable).parent / "twinbench"), "historian", "serve"]

CATALOGUE = """format = "twinbench-catalogue"
version = 1
""" + "".join(
    f"""
[[tag]]
id = {i}
path = "{name}"
legacy_name = "L{i}"
unit = "{unit}"
low = 0.0
high = {high}
dtype = "{dtype}"
description = "{desc}"
{extra}
"""
    for i, name, unit, high, dtype, desc, extra in [
        (1, FLOW, "m3/h", 5000.0, "float64", "pump discharge flow", "excdev = 0.5"),
        (2, RUNNING, "", 1.0, "bool", "pump running", ""),
        (3, PRECISE, "bar", 10.0, "float64", "nanosecond timestamps", ""),
        (4, EMPTY, "degC", 200.0, "float64", "never written", ""),
    ]
)


def flow_columns() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    i = np.arange(3600)
    ts = BASE + i * NS
    values = i * 0.5
    quality = np.zeros(3600, np.uint16)
    values[list(BAD_RUN)] = np.nan
    quality[list(BAD_RUN)] = BAD_SENSOR
    quality[UNCERTAIN_AT] = UNCERTAIN_DATA_SUBNORMAL
    return ts.astype(np.int64), values, quality


def running_columns() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return (BASE + np.arange(6) * 600 * NS).astype(np.int64), (np.arange(6) % 2).astype(float)


def precise_ts() -> np.ndarray[Any, Any]:
    return (BASE + np.arange(5) * NS + 123_456_789).astype(np.int64)


def seed_store(data_dir: Path) -> None:
    db = Historian.open(str(data_dir))
    try:
        ts, values, quality = flow_columns()
        db.write(PointBatch.from_arrays(np.full(3600, 1), ts, values, quality))
        run_ts, run_v = running_columns()
        db.write(PointBatch.from_arrays(np.full(6, 2), run_ts, run_v))
        db.write(PointBatch.from_arrays(np.full(5, 3), precise_ts(), np.arange(5) * 1.25))
        db.flush()
    finally:
        db.close()


class OpcUaHistorian(ServeProcess):
    """One ``twinbench historian serve --opcua`` subprocess (see the module docstring)."""

    def __init__(self, tmp: Path, *extra: str, seed: bool = True) -> None:
        super().__init__(
            SERVE,
            tmp,
            CATALOGUE,
            seed_store if seed else None,
            ["--opcua", "127.0.0.1:0"],
            extra,
            90,
        )
        self.url: str = self.info["opcua"]


@pytest.fixture(scope="package")
def historian_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpcUaHistorian]:
    server = OpcUaHistorian(tmp_path_factory.mktemp("opcua"))
    yield server
    code = server.stop()
    assert code == 0, server.log.read_text()
