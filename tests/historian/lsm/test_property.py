"""Property: any interleaving of writes, flushes, compactions and reopens reads like a dict."""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from historian import FsyncPolicy, Historian, Options

SERIES = 4
BUCKET = 16

point = st.tuples(
    st.integers(0, SERIES - 1),
    st.integers(0, 80),  # few timestamps: duplicates and out-of-order are common
    st.floats(width=64),  # NaN, inf and -0.0 included: stored bit-exact,
    st.integers(0, 0xFFFF),
)
op = st.one_of(
    st.tuples(st.just("write"), st.lists(point, min_size=1, max_size=30)),
    st.tuples(st.just("flush"), st.none()),
    st.tuples(st.just("compact"), st.none()),
    st.tuples(st.just("reopen"), st.none()),
)


def options() -> Options:
    return Options(
        fsync=FsyncPolicy.never(),
        background=False,
        memtable_bytes=22 * 64,  # small: automatic flushes happen mid-sequence
        bucket_ns=BUCKET,
        l0_compaction_trigger=2,
        chunk_max_points=8,
    )


def bits(values: object) -> list[int]:
    return np.asarray(values, dtype=np.float64).view(np.uint64).tolist()  # type: ignore[no-any-return]


def check(db: Historian, model: dict[int, dict[int, tuple[float, int]]]) -> None:
    for s in range(SERIES):
        want = sorted(model[s].items())
        ts, v, q = db.read(s, 0, 10_000)
        assert ts.tolist() == [t for t, _ in want]
        assert bits(v) == bits([x[0] for _, x in want])
        assert q.tolist() == [x[1] for _, x in want]
        lo, hi = 10, 45  # a window cut through buckets: end exclusive
        ts, _, _ = db.read(s, lo, hi)
        assert ts.tolist() == [t for t, _ in want if lo <= t < hi]
        last = db.last(s)
        if want:
            assert last is not None
            assert (last.ts, last.quality) == (want[-1][0], want[-1][1][1])
            assert bits([last.value]) == bits([want[-1][1][0]])
        else:
            assert last is None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(op, min_size=1, max_size=25))
def test_engine_matches_dict_model(ops: list[tuple[str, object]]) -> None:
    root = tempfile.mkdtemp(prefix="hist-prop-")
    try:
        db = Historian.open(root, options())
        model: dict[int, dict[int, tuple[float, int]]] = {s: {} for s in range(SERIES)}
        for name, arg in ops:
            if name == "write":
                pts = arg
                assert isinstance(pts, list)
                s, t, v, q = (np.array(c) for c in zip(*pts, strict=True))
                db.write_arrays(s, t, v.astype(np.float64), q)
                for ps, pt, pv, pq in pts:
                    model[ps][pt] = (pv, pq)
            elif name == "flush":
                db.flush()
            elif name == "compact":
                db.compact()
            else:
                db.close()
                db = Historian.open(root, options())
            check(db, model)
        db.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
