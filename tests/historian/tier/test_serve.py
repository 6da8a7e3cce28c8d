"""``twinbench historian serve --tier FILE``: the server exports while it serves.

A real server process over a seeded store (three days of 2024 data, one-day
buckets), a real moto S3 server, real HTTP: the server's tier round exports
every bucket older than the hot window, writes ``tier-status.json``, and the
HTTP API still answers the whole range with exactly the seeded values, now
read from Parquet on S3.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from harness.services import S3Server
from historian import Historian
from historian.catalogue import TagCatalogue
from historian.tier.serve import read_status
from tests.historian.serve_process import ServeProcess
from tests.historian.tier.conftest import DAYS, STEP, TAGS, open_store, write_days

SERVE = [str(Path(sys.executable).parent / "twinbench"), "historian", "serve"]
POINTS = DAYS * 86_400 * 10**9 // STEP * len(TAGS)


def _tier_toml(path: Path, s3: S3Server, bucket: str) -> Path:
    path.write_text(
        f"""[s3]
endpoint = "{s3.endpoint}"
bucket = "{bucket}"
access_key = "{s3.access_key}"
secret_key = "{s3.secret_key}"
region = "{s3.region}"

[tier]
prefix = "served"
hot_window = "1d"
export_every = "1s"
"""
    )
    return path


def _seed(data: Path) -> None:
    db = open_store(str(data))
    write_days(db)
    db.close()


def _expected(data: Path) -> tuple[np.ndarray, np.ndarray]:
    with Historian.open(str(data)) as db:
        ts, v, _ = db.read(TAGS[0].id, 0, 2**62)
    return ts, v


def test_serve_exports_to_the_cold_tier_and_queries_read_it(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    seeded = tmp_path / "seeded"
    _seed(seeded)
    want_ts, want_v = _expected(seeded)
    tier_file = _tier_toml(tmp_path / "tier.toml", s3_server, s3_bucket)
    proc = ServeProcess(
        SERVE,
        tmp_path,
        None,
        lambda d: _seed(d),
        ["--http", "127.0.0.1:0"],
        ["--tier", str(tier_file), "--bucket", "1d"],
        ready_timeout_s=60,
    )
    try:
        assert "tier" in proc.info
        deadline = time.monotonic() + 60
        status = read_status(proc.data)
        while not (status and status["exported_points_total"] >= POINTS):
            assert proc.proc.poll() is None, proc.log.read_text()
            assert time.monotonic() < deadline, f"no export after 60 s: {status}"
            time.sleep(0.2)
            status = read_status(proc.data)
        assert status["exported_points_total"] == POINTS
        assert status["failures"] == 0
        assert status["cold_points"] == POINTS
        assert status["last_export"] is not None or status["rounds"] >= 1

        url = (
            f"{proc.info['http']}/api/v1/tags/{TAGS[0].name}/recorded"
            f"?start=2024-10-01T00:00:00Z&end=2024-10-10T00:00:00Z&max_count=100000"
        )
        with urllib.request.urlopen(url, timeout=30) as resp:
            items = json.loads(resp.read())["items"]
        got_v = np.array([np.nan if i["value"] is None else i["value"] for i in items])
        assert len(items) == len(want_ts)
        good = ~np.isnan(want_v)
        assert np.array_equal(got_v[good], want_v[good])
        assert items[0]["timestamp"].startswith("2024-10-04T00:00:00")
    finally:
        assert proc.stop() == 0, proc.log.read_text()
    # the hot tier kept nothing of the exported days: the segments left the SSD
    with Historian.open(str(proc.data)) as db:
        assert db.stats().points == 0
    assert TagCatalogue.load(str(proc.data)) is not None


def test_serve_refuses_a_bad_tier_file(tmp_path: Path) -> None:
    bad = tmp_path / "tier.toml"
    bad.write_text('[tier]\nhot_window = "soon"\n')
    out = subprocess.run(
        [*SERVE, str(tmp_path / "data"), "--tier", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "--tier" in out.stderr and "hot_window" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "data").exists()
