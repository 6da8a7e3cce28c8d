"""twinbench historian tier status | export-now | verify, against the real (moto) S3 server."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from typer.testing import CliRunner

from harness.services import S3Server
from historian.cli import app

from .conftest import NOW, open_store, write_days


def test_status_export_now_verify(
    s3_server: S3Server, s3_bucket: str, store_dir: str, tmp_path: object
) -> None:
    db = open_store(store_dir)
    write_days(db)
    db.close()
    cfg = os.path.join(str(tmp_path), "twinbench.toml")
    with open(cfg, "w") as fh:
        fh.write(
            f'[tier]\nendpoint = "{s3_server.endpoint}"\nbucket = "{s3_bucket}"\n'
            'prefix = "store1"\nhot_window = "1d"\n'
        )
    run = CliRunner()
    now = datetime.fromtimestamp(NOW / 1e9, UTC).isoformat()
    r = run.invoke(app, ["tier", "export-now", store_dir, "--config", cfg, "--now", now])
    assert r.exit_code == 0, r.output
    assert "exported 2 day(s), 4 part(s), 8640 points" in r.output
    r = run.invoke(app, ["tier", "status", store_dir, "--config", cfg])
    assert r.exit_code == 0, r.output
    st = json.loads(r.output)
    assert st["parts"] == 4 and st["cold_points"] == 8640 and st["bytes"]["raw"] > 0
    r = run.invoke(app, ["tier", "verify", store_dir, "--config", cfg])
    assert r.exit_code == 0 and "checked 16 objects" in r.output and "OK" in r.output, r.output


def test_usage_errors_are_one_line_exit_2(store_dir: str, tmp_path: object) -> None:
    bad = os.path.join(str(tmp_path), "bad.toml")
    with open(bad, "w") as fh:
        fh.write('[tier]\nhot_windw = "1d"\n')
    r = CliRunner().invoke(app, ["tier", "status", store_dir, "--config", bad])
    assert r.exit_code == 2
    assert "tier.hot_windw: unknown setting" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["tier", "export-now", store_dir, "--hot-window", "soon"])
    assert r.exit_code == 2 and "duration 'soon'" in r.output


def test_config_file_reads_s3_then_tier(tmp_path: object) -> None:
    from historian.tier import TierConfig

    path = os.path.join(str(tmp_path), "t.toml")
    with open(path, "w") as fh:
        fh.write(
            '[s3]\nendpoint = "http://minio:9000"\nbucket = "cold"\nembedded = false\n'
            '[tier]\nprefix = "plant7"\nhot_window = "36h"\n'
            'rollup_retention = { 1m = "90d" }\n'
        )
    c = TierConfig.load(path)
    assert (c.endpoint, c.bucket, c.prefix, c.hot_window_ns) == (
        "http://minio:9000", "cold", "plant7", 36 * 3_600 * 10**9,
    )  # fmt: skip
    assert c.rollup_retention_ns == {"1m": 90 * 86_400 * 10**9, "1h": None, "1d": None}
