"""``python -m historian.collect``: usage errors are one line and exit 2, before any I/O."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CATALOGUE = """format = "twinbench-catalogue"
version = 1

[[tag]]
id = 1
path = "acme.site.area.line.cell.pump.flow"
legacy_name = "FI1"
unit = "m3/h"
low = 0.0
high = 100.0
dtype = "float32"
deadband = 0.5

[tag.modbus]
table = "input"
unit_id = 1
address = 0
encoding = "float32"
"""


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = ["--protocol", "modbus", "--endpoint", "127.0.0.1:1", "--nats", "nats://127.0.0.1:1",
            "--spool", str(tmp / "spool"), "--source-id", "t"]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "historian.collect", *base, *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--pattern", "nowhere.*"], "no tags selected"),
        (["--pattern", "*", "--tags-file", "x"], "not both"),
        (["--metrics", "nohost"], "expected HOST:PORT"),
        (["--tags-file", "missing.txt"], "missing.txt"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    cat = tmp_path / "cat.toml"
    cat.write_text(CATALOGUE)
    p = run(tmp_path, "--catalogue", str(cat), *args)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and says in p.stderr, p.stderr
    assert not (tmp_path / "spool").exists()


def test_a_catalogue_without_modbus_addresses_is_refused(tmp_path: Path) -> None:
    cat = tmp_path / "cat.toml"
    cat.write_text(CATALOGUE.split("[tag.modbus]")[0])
    p = run(tmp_path, "--catalogue", str(cat))
    assert p.returncode == 2 and "[tag.modbus] table is required" in p.stderr, p.stderr


def test_drain_only_with_the_bus_down_stops_on_sigterm_and_keeps_its_spool(
    tmp_path: Path,
) -> None:
    """A removed connection's drain process must not hang when stopped before the bus is
    back (nats-py retries a first connect forever): exit 1, the batch still spooled."""
    import os
    import signal
    import time

    import numpy as np

    from historian.bus.wire import encode_batch
    from historian.collect.spool import DiskSpool
    from historian.model import PointBatch

    cat = tmp_path / "cat.toml"
    cat.write_text(CATALOGUE)
    now = time.time_ns()
    batch = PointBatch.from_arrays(np.array([1]), np.array([now]), np.array([1.0]))
    DiskSpool(tmp_path / "spool").put(7, "t/7", encode_batch(batch, source_id="t", sequence=7,
                                                             created_ns=now))  # fmt: skip
    base = ["--protocol", "modbus", "--endpoint", "127.0.0.1:1", "--nats", "nats://127.0.0.1:1",
            "--spool", str(tmp_path / "spool"), "--source-id", "t", "--catalogue", str(cat),
            "--drain-only", "--drain-on-stop", "15",
            "--ready-file", str(tmp_path / "ready")]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "historian.collect", *base],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "drain never got ready"
            time.sleep(0.05)
        time.sleep(1.0)  # into nats-py's reconnect loop
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(DiskSpool(tmp_path / "spool")) == 1
