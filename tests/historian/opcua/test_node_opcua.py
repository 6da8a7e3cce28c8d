"""Interop: node-opcua (an independent OPC UA stack) browses the historian's address space and
reads history — raw with bounds and continuation points, release, processed Average,
TimeAverage, Interpolative, Minimum and Count, and at-time — against ``serve --opcua``.

Skipped when node/npm are missing or node-opcua cannot be installed (the install script,
``tests/sim/interop/install_node_opcua.sh``, puts it in the git-ignored .cache/node-opcua).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.historian.opcua.conftest import BASE, FLOW, NS, OpcUaHistorian, flow_columns

HERE = Path(__file__).parent
INSTALL = HERE.parents[1] / "sim" / "interop" / "install_node_opcua.sh"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    try:
        out = subprocess.run(
            [str(INSTALL)], capture_output=True, text=True, timeout=240, check=True
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"node-opcua-client could not be installed: {exc}")
    return Path(out.stdout.strip().splitlines()[-1])


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).isoformat().replace("+00:00", "Z")


def test_node_opcua_reads_history(historian_server: OpcUaHistorian, node_modules: Path) -> None:
    start, end = BASE - 2 * NS, BASE + 3600 * NS + 5 * NS
    r = subprocess.run(
        ["node", str(HERE / "node_opcua_history.cjs"), historian_server.url, FLOW,
         FLOW.rsplit(".", 1)[0], _iso(start), _iso(end)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, r.stdout[-2000:]
    seen: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    assert seen["browse"] == ["empty", "flow", "precise", "running"]
    raw = seen["raw"]
    # 3600 values + two Bad_BoundNotFound placeholders (no data before the start / after the end)
    assert raw["count"] == 3602 and raw["pages"] == 4
    assert raw["first"]["s"] == raw["last"]["s"] == 0x80D70000
    assert raw["first"]["t"].startswith(_iso(start)[:19])
    ts, values, _ = flow_columns()
    assert [v["v"] for v in raw["sample"][1:]] == values[:2].tolist()
    assert seen["release"] == {"released": 0, "reused": "BadContinuationPointInvalid"}
    for name in ("Average", "TimeAverage", "Interpolative", "Minimum", "Count"):
        got = seen["processed"][name]
        # 3607 s in 10-minute intervals from start: 6 whole + a 7 s Partial remainder
        assert got["status"] == 0 and len(got["values"]) == 7, name
    second = {n: seen["processed"][n]["values"][1] for n in seen["processed"]}
    # [start + 600 s, start + 1200 s) holds the Good values i = 598..1197, value i / 2
    assert all(v["s"] & 0xFFFF0000 == 0 for v in second.values()), second
    assert second["Average"]["s"] & 0x1 == 1  # Calculated
    assert math.isclose(second["Average"]["v"], float(values[598:1198].mean()))
    assert second["Count"]["v"] == 600
    assert second["Minimum"]["v"] == 299.0
    assert second["Interpolative"]["v"] == 299.0  # the value at the interval start
    assert math.isclose(second["TimeAverage"]["v"], 448.75 + 0.25)  # linear, to 1198 s
    assert ts.size == 3600
    assert seen["atTime"][0]["v"] == 4.25  # start + 10.5 s = BASE + 8.5 s, linear
    assert seen["atTime"][1]["s"] >> 16 == 0x809B  # before the data: Bad_NoData
