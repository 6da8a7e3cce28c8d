"""Interop: node-opcua (an independent OPC UA stack) browses, reads, writes and subscribes.

Optional: skipped when node/npm are missing or the package cannot be installed
(the install script puts it in the git-ignored .cache/node-opcua).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sim.catalogue_gen import generate_oilfield
from sim.servers.node import TwinNode
from sim.twin import PlantTwin

HERE = Path(__file__).parent
W1 = "acme.permian.field_01.pad_01.well_0001"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    try:
        out = subprocess.run([str(HERE / "install_node_opcua.sh")], capture_output=True,
                             text=True, timeout=240, check=True)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"node-opcua-client could not be installed: {exc}")
    return Path(out.stdout.strip().splitlines()[-1])


async def test_node_opcua_client(node_modules: Path) -> None:
    twin = PlantTwin(generate_oilfield(3, seed=1), seed=1, start_ns=1_700_000_000 * 10**9)
    node = TwinNode(twin, speed=20.0, modbus_port=None)
    await node.start()
    ticking = asyncio.create_task(node.run())
    try:
        proc = await asyncio.create_subprocess_exec(
            "node", str(HERE / "node_opcua_client.cjs"), node.opcua.endpoint,
            f"{W1}.wellhead.tubing_pressure", f"{W1}.esp.pump_speed", f"{W1}.wellhead",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_PATH": str(node_modules)},
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()[-2000:]
        result = [ln for ln in out.decode().splitlines() if ln.startswith("RESULT ")]
        assert result, out.decode()[-2000:]
        seen = json.loads(result[-1][len("RESULT ") :])
    finally:
        node.request_stop()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        await node.stop()
    assert seen["browse"] == ["casing_pressure", "temperature", "tubing_pressure"]
    assert seen["status"] == 0 and 0.0 < seen["value"] < 5000.0
    assert seen["sourceTimestamp"].startswith("2023-11-14")
    assert seen["unknownStatus"] == "BadNodeIdUnknown"
    assert seen["writeSetpoint"] == "Good"
    assert seen["writeOutOfRange"] == "BadOutOfRange"
    assert seen["writeMeasurement"] == "BadNotWritable"
    assert len(set(seen["changes"])) >= 3
    assert twin.inputs.speed_sp[0] == 3150.0
