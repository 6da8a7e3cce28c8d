"""Event store figures: durable append (fsync per round) and time-range queries.

    .venv/bin/python benchmarks/bench_events.py [--events 20000] [--batch 64]

Appends ``--events`` plant events in rounds of ``--batch`` (what one ingest fetch
round stores: one fsync each), spread over 3 days, then queries one hour and
pages through one day. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from historian.events.model import Event
from historian.events.store import EventStore

BASE = 1_767_225_600 * 10**9
NS_PER_S = 10**9


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    step = 3 * 86_400 * NS_PER_S // a.events
    events = [
        Event(
            f"plant-1:{i}",
            BASE + i * step,
            f"acme.s.a.pad_{i % 7}.well_{i % 50:04d}",
            ("alarm-raised", "alarm-cleared", "trip", "operator-action")[i % 4],
            100 + i % 900,
            f"event {i}",
            value=float(i),
            limit=25.0,
        )
        for i in range(a.events)
    ]
    with tempfile.TemporaryDirectory() as d:
        store = EventStore(d)
        t0 = time.perf_counter()
        for k in range(0, len(events), a.batch):
            store.append(events[k : k + a.batch])
        append_s = time.perf_counter() - t0
        store.close()
        t0 = time.perf_counter()
        store = EventStore(d)
        open_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        hour, _ = store.query(BASE + 86_400 * NS_PER_S, BASE + 86_400 * NS_PER_S + 3600 * NS_PER_S)
        hour_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        after, pages, n = None, 0, 0
        while True:
            items, more = store.query(BASE, BASE + 86_400 * NS_PER_S, after=after, max_count=1000)
            pages, n = pages + 1, n + len(items)
            if not more:
                break
            after = (items[-1].time_ns, items[-1].id)
        day_s = time.perf_counter() - t0
    print(json.dumps({
        "events": a.events, "batch": a.batch,
        "append_events_per_s": round(a.events / append_s),
        "append_round_ms": round(1000 * append_s / -(-a.events // a.batch), 2),
        "open_s": round(open_s, 3), "hour_query_events": len(hour),
        "hour_query_ms": round(1000 * hour_s, 1), "day_pages": pages, "day_events": n,
        "day_paged_s": round(day_s, 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
