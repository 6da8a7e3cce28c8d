"""The ``shadow`` scenario end to end (short): one JetStream feed, twinbench's ingest worker and
two legacy consumers (PostgreSQL SCADA, PI-style archive) with seeded discrepancies; the run
passes only when the diff reports every injection against both legacies and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_short_shadow_scenario_detects_every_injection(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli.app", "scenario", "run", "shadow", "--short",
         "--reports", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (run,) = tmp_path.iterdir()
    report = json.loads((run / "report.json").read_text())
    m = report["metrics"]
    assert report["verdict"] == "pass"
    assert m["shadow.missed"] == 0 and m["shadow.false_alarms"] == 0
    assert m["shadow.detected"] == m["shadow.injected"] == 12  # 6 injections x 2 legacies
    # the SCADA consumer was stopped mid-feed: it lagged, caught up, and lost nothing
    assert m["shadow.legacy.max_lag_messages"] > 0
    assert m["shadow.legacy.rows_written"] > 0.9 * m["shadow.feed.points"]
    outcome = (run / "shadow.md").read_text()
    assert outcome.count("| detected |") == 12 and "missed" not in outcome
    pg = json.loads((run / "shadow-postgresql.json").read_text())
    assert pg["summary"]["verdicts"]["mismatch"] == 6
    assert pg["summary"]["verdicts"]["match"] == 18
    for doc in (pg, json.loads((run / "shadow-pi-csv.json").read_text())):
        stuck = next(t for t in doc["tags"] if t["tag"].endswith(".well0002.esp.tubing_pressure"))
        # one 20-minute stuck stretch, although the legacy froze it batch by batch
        assert [r["count"] for r in stuck["reasons"] if r["kind"] == "stuck_in_legacy"] == [1]
