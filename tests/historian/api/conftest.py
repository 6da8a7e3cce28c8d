"""A real ``twinbench historian serve --http 127.0.0.1:0`` process over a seeded store.

The store is written offline first (one hour of a 1 Hz linear tag with a run of Bad
points and one Uncertain point, a stepped state tag, and empty tags for writes),
then the server is started as a subprocess, found through its ready file (with a
deadline), talked to over real HTTP with ``urllib``, and stopped by PID (SIGTERM,
then SIGKILL after a deadline).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from historian import Historian
from historian.api.times import parse_time
from historian.model import NS_PER_SECOND, PointBatch
from tests.historian.serve_process import ServeProcess

NS = NS_PER_SECOND  # the tests import it from here

BASE = parse_time("2026-11-30T00:00:00Z")
FLOW = "acme.site1.area1.line1.cell1.pump1.flow"
RUNNING = "acme.site1.area1.line1.cell1.pump1.running"
SETPOINT = "acme.site1.area1.line1.cell1.pump1.setpoint"
TEMP = "acme.site1.area1.line1.cell1.pump1.temp"
BAD_RUN = range(100, 105)  # FLOW indexes stored BadSensorFailure with NaN
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
legacy_name = "{legacy}"
unit = "{unit}"
low = 0.0
high = {high}
dtype = "{dtype}"
description = "{desc}"
"""
    for i, name, legacy, unit, high, dtype, desc in [
        (1, FLOW, "FIC101", "m3/h", 5000.0, "float64", "pump discharge flow"),
        (2, RUNNING, "XS101", "", 1.0, "bool", "pump running"),
        (3, SETPOINT, "FIC101.SP", "m3/h", 5000.0, "float64", "flow setpoint"),
        (4, TEMP, "TI101", "degC", 200.0, "float64", "bearing temperature"),
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


def seed_store(data_dir: Path) -> None:
    db = Historian.open(str(data_dir))
    try:
        ts, values, quality = flow_columns()
        db.write(PointBatch.from_arrays(np.full(3600, 1), ts, values, quality))
        run_ts = BASE + np.arange(6) * 600 * NS
        db.write(PointBatch.from_arrays(np.full(6, 2), run_ts, np.arange(6) % 2))
        db.flush()
    finally:
        db.close()


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ApiServer(ServeProcess):
    """One ``twinbench historian serve`` subprocess (see the module docstring)."""

    def __init__(self, tmp: Path, *extra: str, seed: bool = True) -> None:
        super().__init__(
            SERVE,
            tmp,
            CATALOGUE,
            seed_store if seed else None,
            ["--http", "127.0.0.1:0"],
            extra,
            60,
        )
        self.url: str = self.info["http"]

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return Reply(int(r.status), dict(r.headers), bytes(r.read()))
        except urllib.error.HTTPError as exc:
            return Reply(int(exc.code), dict(exc.headers), bytes(exc.read()))

    def get(self, path: str, **headers: str) -> Reply:
        return self.request(
            "GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )

    def post_json(self, path: str, doc: Any, headers: Mapping[str, str] | None = None) -> Reply:
        h = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", path, json.dumps(doc).encode(), h)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path_factory.mktemp("api"))
    yield server
    code = server.stop()
    assert code == 0, server.log.read_text()
