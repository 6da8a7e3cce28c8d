"""The replay progress line (sim time, measured speed, ETA), drawn by `twinbench sim replay`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from historian.model import NS_PER_SECOND as NS
from sim.replay_progress import ProgressMeter

T0 = 1_388_534_400 * NS  # 2014-01-01T00:00:00Z
TWINBENCH = str(Path(sys.executable).parent / "twinbench")


def _doc(sim_s: float, finished: bool = False) -> dict[str, object]:
    return {"sim_ns": T0 + int(sim_s * NS), "first_ns": T0, "last_ns": T0 + 1000 * NS,
            "lag_s": 0.01, "finished": finished}  # fmt: skip


def test_meter_measures_speed_and_eta_from_successive_reads() -> None:
    m = ProgressMeter(processes=2)
    assert "waiting" in m.line([])
    m.line([_doc(0), _doc(10)], now=100.0)  # the slower process is where the replay is
    line = m.line([_doc(200), _doc(250)], now=102.0)  # 200 sim s in 2 wall s: 100x
    assert "20.0%" in line and "100x" in line and "sim 2014-01-01T00:03:20Z" in line
    assert "ETA 0:00:08" in line  # 800 sim s left at 100x
    assert "[####----------------]" in line
    assert m.line([_doc(1000, True), _doc(1000, True)], now=104.0).endswith("done")
    one = ProgressMeter(processes=2)  # only one process has written: not started yet
    assert "0.0%" in one.line([_doc(500)], now=1.0)


@pytest.mark.slow
def test_sim_replay_prints_progress_until_finished(tmp_path: Path) -> None:
    rows = "".join(f"2014-01-01 00:{m // 60:02d}:{m % 60:02d},{m * 0.25}\n" for m in range(600))
    rec = tmp_path / "rec.csv"
    rec.write_text("timestamp,value\n" + rows)
    env = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache"))
    argv = [
        TWINBENCH,
        "sim",
        "replay",
        str(rec),
        "--speed",
        "150",
        "--workdir",
        str(tmp_path / "w"),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("replay finished"):
                break
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    text = "\n".join(lines)
    assert "replay finished" in text, text
    bars = [ln for ln in lines if ln.startswith("[")]
    assert len(bars) >= 2, text  # a line every 2 s when stdout is not a terminal, and the last
    assert bars[-1].endswith("done") and "100.0%" in bars[-1], text
    assert "sim 2014-01-01T00:09:59Z" in bars[-1], text
    speeds = [float(m.group(1).replace(",", "")) for b in bars[:-1]
              if (m := re.search(r"  ([\d,]+)x  ", b))]  # fmt: skip
    assert any(50 < s < 400 for s in speeds), bars  # measured, near the 150x asked for
    assert any("ETA 0:00:0" in b for b in bars[:-1]), bars
