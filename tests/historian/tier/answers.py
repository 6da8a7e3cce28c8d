"""The same questions asked of a store before and after export: answers must not change."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from historian import Historian
from historian.catalogue import TagCatalogue
from historian.query.engine import QueryEngine

from .conftest import DAY, DAYS, T0, TAGS

S = 1_000_000_000


def ask(db: Historian) -> dict[str, Any]:
    """Recorded, summary (hourly, daily, by index and by decoding), plot, at-times, per tag."""
    q = QueryEngine(db, TagCatalogue.load(db.directory))
    lo, hi = T0 - DAY, T0 + (DAYS + 1) * DAY
    times = np.array([T0 - 1, T0, T0 + 90 * S, T0 + DAY - 1, T0 + DAY + 30 * S, hi], np.int64)
    out: dict[str, Any] = {}
    for t in TAGS:
        cols = q.recorded(t.name, lo, hi).columns
        out[f"{t.id}.recorded"] = (cols.ts, cols.values, cols.quality)
        for label, width, use_index in (
            ("1h", 3_600 * S, True),
            ("1d", DAY, True),
            ("1h-scan", 3_600 * S, False),
        ):
            s = q.summary(
                t.name,
                T0,
                T0 + DAYS * DAY,
                width,
                types=[
                    "average",
                    "minimum",
                    "maximum",
                    "total",
                    "count",
                    "percent_good",
                    "duration_good",
                    "start",
                    "end",
                    "delta",
                    "min_time",
                    "max_time",
                ],
                use_index=use_index,
            )
            out[f"{t.id}.summary.{label}"] = {
                f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name != "weighting"
            }
        p = q.plot(t.name, T0, T0 + DAYS * DAY, 300)
        out[f"{t.id}.plot"] = (p.ts, p.values, p.quality)
        a = q.at_times(t.name, times)
        out[f"{t.id}.at"] = (a.ts, a.values, a.quality, a.flags)
        last = q.last(t.name)
        out[f"{t.id}.last"] = (last.ts, last.values)
    return out


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            for f in x:
                np.testing.assert_allclose(
                    np.asarray(x[f], np.float64),
                    np.asarray(y[f], np.float64),
                    rtol=1e-9,
                    atol=1e-9,
                    equal_nan=True,
                    err_msg=f"{key}.{f}",
                )
        else:
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                np.testing.assert_array_equal(u, v, err_msg=f"{key}[{i}]")
