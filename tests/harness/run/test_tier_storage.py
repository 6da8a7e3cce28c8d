"""The tier's storage scoring returns the codec's sizes per series from its scratch store.

Scoring a run with the cold tier used to encode every series twice (the codec
sizes, then the scratch store); now the scratch store's chunk lengths stand in
for the first. Inside one store bucket they are the very bytes the direct
encode gives (the same codec choice, chunks of 4,096 points).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.run.scoring import codec_sizes
from harness.run.tier_storage import restored_bytes_per_point
from historian import Historian, Options

S = 1_000_000_000
T0 = 1_700_000_000 * S // (3_600 * S) * (3_600 * S)  # an hour's start: one 1 h bucket


def test_scratch_store_sizes_are_the_codec_sizes(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    with Historian.open(str(tmp_path / "store"), Options(background=False)) as db:
        n = 10_000  # three chunks of 4,096 and a short one per series
        ts = T0 + np.arange(n, dtype=np.int64) * 300_000_000  # 0.3 s apart: 50 min
        for sid, values in (
            (1, np.round(20 + np.cumsum(rng.normal(0, 0.05, n)), 2)),  # a 2-decimal sensor
            (2, rng.normal(0, 1, n)),  # full-precision noise
            (3, np.repeat([0.0, 1.0], n // 2)),  # a stepped state
        ):
            db.write_arrays(np.full(n, sid), ts, values)
        series = [1, 2, 3, 4]  # 4 holds nothing
        bpp, points, sizes = restored_bytes_per_point(db, series, tmp_path)
        assert sizes == codec_sizes(db, series)
        assert sizes[4] == (0, 0) and points == 3 * n
        assert bpp >= sum(b for b, _ in sizes.values()) / points  # files add index + footer
    assert not any(p.name.startswith("bpp-store-") for p in tmp_path.iterdir())  # cleaned up
