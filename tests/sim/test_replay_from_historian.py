"""``twinbench sim replay --from-historian``: a historian range becomes a recording, exactly,
and plays through the servers.

The historian is a real ``twinbench historian serve --http`` subprocess over a seeded
store (tests/historian/opcua/conftest.py); the range is fetched over its HTTP API.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim.replay import Recording, RecordingError, fetch_from_historian
from tests.historian.opcua.conftest import FLOW, RUNNING, OpcUaHistorian, flow_columns

TWINBENCH = str(Path(sys.executable).parent / "twinbench")
START, END = "2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z"
pytestmark = pytest.mark.slow  # a historian server and the plant servers start (~20 s each)


@pytest.fixture(scope="module")
def historian(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpcUaHistorian]:
    server = OpcUaHistorian(tmp_path_factory.mktemp("src"), "--http", "127.0.0.1:0")
    yield server
    assert server.stop() == 0, server.log.read_text()


def test_fetch_keeps_timestamps_values_and_quality_exactly(
    historian: OpcUaHistorian, tmp_path: Path
) -> None:
    url = str(historian.info["http"])
    path = fetch_from_historian(url, "*.pump1.*", START, END, tmp_path / "r.parquet", page=1000)
    t = pq.read_table(path)
    flow = t.filter(np.asarray(t["path"].to_pylist()) == FLOW)
    ts, values, quality = flow_columns()
    assert flow["timestamp"].to_numpy().tolist() == ts.tolist()  # paged 1000 at a time
    got = flow["value"].to_numpy()
    assert np.array_equal(got, values, equal_nan=True)
    assert flow["quality"].to_numpy().tolist() == quality.tolist()
    assert set(t["path"].to_pylist()) >= {FLOW, RUNNING}
    rec = Recording.from_file(path)  # the replay reader takes it as a long recording
    # every row, the five Bad points with NaN too (replayed as Bad, without a value)
    assert FLOW in rec.columns and len(rec.ts) == t.num_rows
    with pytest.raises(RecordingError, match="no historian tag matches"):
        fetch_from_historian(url, "nothing.*", START, END, tmp_path / "x.parquet")


def test_sim_replay_from_historian_serves_the_range(
    historian: OpcUaHistorian, tmp_path: Path
) -> None:
    argv = [TWINBENCH, "sim", "replay", "--from-historian", str(historian.info["http"]),
            "--tags", FLOW, "--start", START, "--end", END, "--speed", "1000",
            "--workdir", str(tmp_path)]  # fmt: skip
    env = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache"))
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("replaying"):
                break
        assert any(ln.startswith("replaying") for ln in lines), "".join(lines)
        assert (tmp_path / "historian-range.parquet").is_file()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_from_historian_usage_errors(tmp_path: Path) -> None:
    r = subprocess.run([TWINBENCH, "sim", "replay"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--from-historian" in r.stderr, r.stderr
    r = subprocess.run(
        [TWINBENCH, "sim", "replay", "--from-historian", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "--start and --end" in r.stderr, r.stderr
