"""Helpers for the import/export tests: write inputs, read a store back as rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from historian.catalogue import TagCatalogue
from historian.lsm.engine import Historian


def write(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def store_rows(data_dir: Path) -> list[tuple[str, int, str, int]]:
    """Every stored point as (tag, ts, repr(value), quality), via the public read API."""
    cat = TagCatalogue.load(data_dir)
    if cat is None:
        return []
    rows: list[tuple[str, int, str, int]] = []
    with Historian.open(str(data_dir)) as db:
        for t in cat:
            ts, v, q = db.read(t.id, -(2**63), 2**63 - 1)
            rows += [
                (t.name, int(a), "nan" if np.isnan(b) else repr(float(b)), int(c))
                for a, b, c in zip(ts, v, q, strict=True)
            ]
    return rows


@pytest.fixture
def numba_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/tmp/numba-cache")
