"""`twinbench sim serve` and `twinbench sim replay` as a person runs them: start, serve, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

pytestmark = pytest.mark.slow
# committed in the repository (reports/corpus/nab), so the test runs on every clone
NAB = Path(__file__).parents[2] / "reports/corpus/nab/machine_temperature_system_failure.csv"


def _start(args: list[str], tmp: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli.app import main; main()", "sim", *args,
         "--workdir", str(tmp)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "Ctrl-C" in line:
            return proc, lines
    proc.kill()
    raise AssertionError("no 'Ctrl-C' prompt; output:\n" + "\n".join(lines))


def _interrupt(proc: subprocess.Popen[str]) -> str:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole group
    out, _ = proc.communicate(timeout=60)
    return out


def _server_pids(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.search(r"\] pid (\d+) ", line))]


def _modbus(lines: list[str]) -> tuple[str, int]:
    m = next(m for line in lines if (m := re.search(r"modbus ([\d.]+):(\d+)", line)))
    return m.group(1), int(m.group(2))


def test_serve_prints_endpoints_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc, lines = _start(["serve", "--profile", "normal", "--speed", "10"], tmp_path)
    try:
        assert any("opc.tcp://127.0.0.1:" in line for line in lines)
        assert any("tags 0..499 (series 1..500, units [1])" in line for line in lines)
        host, port = _modbus(lines)
        c = ModbusTcpClient(host, port=port)
        assert c.connect()  # type: ignore[no-untyped-call]  # pymodbus: sync connect unannotated
        assert not c.read_input_registers(0, count=14, device_id=1).isError()
        c.close()  # type: ignore[no-untyped-call]  # pymodbus: sync close unannotated
        pids = _server_pids(lines)
        assert len(pids) == 1
    finally:
        out = _interrupt(proc)
    assert proc.returncode == 0, out
    assert "stopped (exit codes [0])" in out
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_replay_serves_recorded_values(tmp_path: Path) -> None:
    proc, lines = _start(["replay", str(NAB), "--speed", "600"], tmp_path)
    try:
        assert any("one tick = 300 s" in line for line in lines)
        host, port = _modbus(lines)
        c = ModbusTcpClient(host, port=port)
        assert c.connect()  # type: ignore[no-untyped-call]  # pymodbus: sync connect unannotated
        r = c.read_input_registers(0, count=2, device_id=1)
        value = c.convert_from_registers(r.registers, ModbusTcpClient.DATATYPE.FLOAT32)
        c.close()  # type: ignore[no-untyped-call]  # pymodbus: sync close unannotated
        assert isinstance(value, float), value
        assert 0.0 < value < 120.0  # a machine temperature from the recording
    finally:
        out = _interrupt(proc)
    assert proc.returncode == 0, out
