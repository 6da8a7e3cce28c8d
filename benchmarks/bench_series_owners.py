"""What the ingest's series-ownership check costs next to decoding the same batch.

One 5,000-point TBWB batch of the scenario load generator (2,000 synthetic series
``1_000_001..``, round-robin, as ``harness.run.runner`` publishes them) is decoded with
``decode_batch`` and checked with :meth:`SourceBinding.check` (the source's partition,
then every series of the batch against its owner's :class:`SeriesSet`) under owner
sets of growing shape:

* ``source only``: a version 1 file (no series check): the baseline of the check;
* ``1 range``: the load generator's contiguous ids (the secure scenario's case);
* ``63 ranges``: the same 2,000 ids with a gap after every 32 ids (a collector whose tags
  are scattered over the catalogue);
* ``2000 ranges``: every owned id its own range;
* ``2000 ranges, 6 M span``: the same spread over 6 M ids, beyond the membership
  table's span (``TABLE_MAX_SPAN``): the ``searchsorted`` fallback.

Prints ns per batch (best of ``--repeat`` timings of ``--number`` calls each, as
``timeit`` does) and each check's cost as a ratio of the decode.

    python benchmarks/bench_series_owners.py [--points 5000] [--number 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import timeit

import numpy as np

from harness.load.synthetic import SyntheticSource
from historian.bus.subjects import partition_of
from historian.bus.wire import decode_batch, encode_batch
from historian.ingest.series_owners import SeriesSet
from historian.ingest.sources import SourceBinding

BASE = 1_000_001
N_SERIES = 2_000
SOURCE = "acme-collector-1"
PARTITIONS = 3


def _best_ns(fn: object, number: int, repeat: int) -> float:
    timer = timeit.Timer(fn)  # type: ignore[arg-type]
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=5_000, help="points per batch")
    ap.add_argument("--number", type=int, default=2_000, help="calls per timing")
    ap.add_argument("--repeat", type=int, default=7, help="timings (the best is reported)")
    args = ap.parse_args()

    gaps = np.arange(N_SERIES)
    scattered = BASE + gaps + gaps // 32  # a one-id gap after every 32 ids: 63 runs
    ids = {
        "1 range": BASE + gaps,
        "63 ranges": scattered,
        "2000 ranges": BASE + 2 * gaps,  # every other id: no two owned ids adjacent
        "2000 ranges, 6 M span": BASE + 3_000 * gaps,
    }
    home = partition_of(SOURCE, PARTITIONS)
    owners = {home: frozenset({SOURCE})}

    decode_ns = None
    rows: list[tuple[str, float, float]] = []
    for shape, series_ids in [("source only", ids["1 range"]), *ids.items()]:
        src = SyntheticSource(series_ids, seed=1, start_ns=1_700_000_000_000_000_000)
        payload = encode_batch(src.batch(0, args.points), source_id=SOURCE, sequence=1)
        decoded = decode_batch(payload)
        if decode_ns is None:
            decode_ns = _best_ns(lambda p=payload: decode_batch(p), args.number, args.repeat)
        if shape == "source only":
            binding = SourceBinding(PARTITIONS, owners)
        else:
            owned = SeriesSet.of_ids(series_ids.tolist())
            assert len(owned.ranges()) == int(shape.split()[0]), (shape, len(owned.ranges()))
            binding = SourceBinding(PARTITIONS, owners, {SOURCE: owned})
        series = decoded.batch.series
        assert binding.check(SOURCE, home, series) is None  # a genuine batch passes
        check_ns = _best_ns(
            lambda b=binding, s=series: b.check(SOURCE, home, s), args.number, args.repeat
        )
        rows.append((shape, check_ns, check_ns / decode_ns))

    assert decode_ns is not None
    print(f"batch: {args.points} points over {N_SERIES} series; load average {os.getloadavg()}")
    print(f"{'decode_batch':<30} {decode_ns:>10,.0f} ns/batch")
    for shape, ns, ratio in rows:
        print(f"{'check, ' + shape:<30} {ns:>10,.0f} ns/batch  {ratio:6.3f} x decode")


if __name__ == "__main__":
    main()
