"""Shadow diff throughput: points compared per second, against PostgreSQL and a PI CSV.

    python benchmarks/bench_shadow.py [--quick] [--tags N] [--hours H]

One feed (``harness.shadow.inject.shadow_feed``: N analog tags at 1 Hz, with
Uncertain/Bad readings) is written to a real twinbench store, to a real
PostgreSQL ``scada_readings`` table through the legacy writer's COPY path, and
to a PI-style archive (ExcDev + swinging door) exported as CSV; the legacy side
carries the scenario's seeded discrepancies. Measured in this one run:

- the legacy writer's COPY rate (rows/s, rollup refresh included);
- reading the legacy back (``COPY ... TO STDOUT`` parsed by Arrow; PI CSV parse);
- the diff itself (``diff_store``): points compared per second, where a point
  compared is a legacy value checked against twinbench's at-time value plus a
  twinbench value checked against the legacy's reconstruction; the issue's
  target is >= 1 M points/s;
- the same end to end (read + diff), which is what ``twinbench shadow diff`` costs.

Figures swing +-30 % between runs on the shared 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from harness.legacy.pi_legacy import PiLegacyArchive
from harness.legacy.scada_writer import ScadaAggregator, ScadaTagMap
from harness.services import PostgresServer
from harness.shadow.diff import diff_store
from harness.shadow.inject import apply_injections, shadow_feed
from harness.shadow.legacy_read import read_pi_csv, read_postgres
from harness.shadow.scenario import START_NS, injections_for
from historian import Historian
from historian.model import PointBatch
from historian.query.engine import QueryEngine

S = 1_000_000_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a smoke run (8 tags x 3 h)")
    ap.add_argument("--tags", type=int, default=40)
    ap.add_argument("--hours", type=float, default=24.0)
    args = ap.parse_args()
    tags, hours = (8, 3.0) if args.quick else (args.tags, args.hours)
    seconds = int(hours * 3600)
    catalogue, feed = shadow_feed(tags, START_NS, seconds, seed=16)
    legacy_batch = apply_injections(feed, injections_for(seconds))
    end = START_NS + seconds * S
    print(f"feed: {tags} tags x {hours:g} h at 1 Hz = {len(feed):,} points per side")
    work = tempfile.mkdtemp(prefix="bench-shadow-")
    db = Historian.open(os.path.join(work, "store"))
    db.write_arrays(feed.series, feed.ts, feed.values, feed.quality)
    db.flush()
    engine = QueryEngine(db, catalogue)
    pg = PostgresServer(durable=False).start()
    try:
        agg = ScadaAggregator(pg.dsn, ScadaTagMap.from_catalogue(catalogue), max_rows=10_000)
        t0 = time.perf_counter()
        step = 10_000
        for lo in range(0, len(legacy_batch), step):  # in the writer's own batch size
            b = legacy_batch
            sl = slice(lo, lo + step)
            agg.add(PointBatch(b.series[sl], b.ts[sl], b.values[sl], b.quality[sl]))
            agg.flush_due()
        agg.flush_due(force=True)
        copy_s = time.perf_counter() - t0
        agg.close()
        print(
            f"legacy writer COPY: {agg.rows_written:,} rows in {copy_s:.2f} s = "
            f"{agg.rows_written / copy_s:,.0f} rows/s ({agg.copies} COPY transactions, "
            "rollups refreshed)"
        )

        t0 = time.perf_counter()
        legacy = read_postgres(pg.dsn, START_NS, end)
        read_s = time.perf_counter() - t0
        print(
            f"PostgreSQL read (COPY TO STDOUT): {legacy.points:,} rows in {read_s:.2f} s = "
            f"{legacy.points / read_s:,.0f} rows/s"
        )
        rep = diff_store(engine, legacy, START_NS, end)
        rate = rep.points_compared / rep.elapsed_s
        print(
            f"diff vs PostgreSQL: {rep.points_compared:,} points compared in "
            f"{rep.elapsed_s:.2f} s = {rate:,.0f} points/s ({rep.counts})"
        )
        print(
            "  end to end (read + diff): "
            f"{rep.points_compared / (rep.elapsed_s + read_s):,.0f} points/s"
        )

        pi = PiLegacyArchive(catalogue)
        pi.add(legacy_batch)
        csv = os.path.join(work, "pi.csv")
        n = pi.export_csv(csv)
        t0 = time.perf_counter()
        pi_legacy = read_pi_csv(csv, START_NS, end)
        pi_read_s = time.perf_counter() - t0
        rep2 = diff_store(engine, pi_legacy, START_NS, end)
        rate2 = rep2.points_compared / rep2.elapsed_s
        print(
            f"PI CSV: {n:,} archived points of {len(feed):,} ({n / len(feed):.1%}); "
            f"parse {pi_read_s:.2f} s"
        )
        print(
            f"diff vs PI CSV: {rep2.points_compared:,} points compared in "
            f"{rep2.elapsed_s:.2f} s = {rate2:,.0f} points/s ({rep2.counts})"
        )
        print(
            "target >= 1,000,000 points/s: "
            f"PostgreSQL {'met' if rate >= 1e6 else 'NOT met'}, "
            f"PI CSV {'met' if rate2 >= 1e6 else 'NOT met'}"
        )
    finally:
        pg.close()
        db.close()


if __name__ == "__main__":
    main()
