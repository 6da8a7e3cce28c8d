"""The ``shadow`` scenario: one feed, twinbench and two legacy historians, seeded discrepancies.

A self-contained run (its own nats-server, store and PostgreSQL; the runner hands
over to :func:`run_shadow` when ``Scenario.shadow`` is set):

1. a synthetic feed (``inject.shadow_feed``: 24 analog tags at 1 Hz of data time,
   with Uncertain and Bad readings) is published on the JetStream stream at the
   scenario's nominal rate, in TBWB batches, as collectors would;
2. twinbench's own ``IngestWorker`` stores it; the SCADA legacy (``ScadaAggregator``
   in PostgreSQL) and the PI-style legacy (``PiLegacyArchive``, ExcDev + swinging
   door) each consume it through their own durable consumer and apply the seeded
   discrepancies to what they store (a dropped hour on two tags, a stuck sensor,
   a psi/kPa scale error, a +2 s clock offset, every status mapped to Good);
3. half-way the SCADA legacy's consumer is stopped for a while and restarted: it
   lags, then catches up on its own;
4. both legacies are diffed against the store; every injection must be reported
   on its tag (detected / missed), and nothing may be reported on the clean tags
   or beyond an injection's expected consequences (false alarms).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import numpy as np

from harness.legacy.consumer import LegacyConsumer
from harness.legacy.pi_legacy import PiLegacyArchive
from harness.legacy.scada_writer import ScadaAggregator, ScadaTagMap
from harness.report.model import Report, Threshold, evaluate
from harness.report.write import environment
from harness.scenario import MetricKey, Scenario
from harness.services import NatsServer, PostgresServer
from harness.shadow.diff import diff_store
from harness.shadow.inject import (
    EXPECTED_REASON,
    SECONDARY_REASONS,
    Injection,
    apply_injections,
    frozen_values,
    shadow_feed,
)
from harness.shadow.legacy_read import read_pi_csv, read_postgres
from harness.shadow.render import render_json, render_table
from harness.shadow.verdict import DiffReport
from historian import Historian
from historian.bus.options import BusOptions
from historian.bus.stream import ensure_consumer, ensure_streams
from historian.bus.wire import encode_batch
from historian.ingest.worker import IngestWorker
from historian.model import PointBatch
from historian.query.engine import QueryEngine

__all__ = ["SHADOW_THRESHOLDS", "injections_for", "run_shadow", "score_diff"]

S = 1_000_000_000
H = 3600 * S
TAGS = 24
START_NS = 1_767_225_600 * S  # 2026-01-01T00:00:00Z: data time, not wall time
BATCH_SECONDS = 50  # seconds of data per batch (x TAGS points)
SHADOW_THRESHOLDS = (
    Threshold("every injected discrepancy detected", "shadow.missed", "==", 0, "discrepancies"),
    Threshold("no false alarm", "shadow.false_alarms", "==", 0, "findings"),
)


def injections_for(seconds: int) -> list[Injection]:
    """The seeded discrepancies, placed inside a feed of ``seconds`` of data."""
    if seconds < 3 * 3600:
        raise ValueError(f"the shadow feed needs >= 3 h of data time, got {seconds} s")
    return [
        Injection("drop", 1, START_NS + H, START_NS + 2 * H),
        Injection("drop", 2, START_NS + H, START_NS + 2 * H),
        Injection("stuck", 3, START_NS + 2 * H + 600 * S, START_NS + 2 * H + 1800 * S),
        Injection("scale", 4, factor=6.894757),  # psi stored as if kPa
        Injection("offset", 5, shift_ns=2 * S),
        Injection("quality", 6),
    ]


def score_diff(
    report: DiffReport, names: dict[int, str], injections: list[Injection]
) -> list[dict[str, Any]]:
    """One row per injection (detected/missed) and per unexpected finding (false alarm)."""
    tags = {t.tag: t for t in report.tags}
    rows: list[dict[str, Any]] = []
    injected: dict[str, set[str]] = {}
    for inj in injections:
        name = names[inj.series]
        want = EXPECTED_REASON[inj.kind]
        injected.setdefault(name, set()).add(want)
        found = any(r.kind == want for r in tags[name].discrepancies)
        rows.append(
            {
                "tag": name,
                "injected": inj.kind,
                "expected": want,
                "outcome": "detected" if found else "missed",
            }
        )
    for t in report.tags:
        allowed = injected.get(t.tag, set()) | (SECONDARY_REASONS if t.tag in injected else set())
        for r in t.discrepancies:
            if r.kind not in allowed:
                rows.append(
                    {
                        "tag": t.tag,
                        "injected": "-",
                        "expected": "-",
                        "outcome": "false alarm",
                        "finding": r.kind,
                        "detail": r.detail,
                    }
                )
    return rows


async def _publish(
    js: Any,
    opts: BusOptions,
    feed: PointBatch,
    seconds: int,
    rate: float,
    on_progress: Callable[[float], Any],
) -> int:
    """Publish the feed in time order at ``rate`` points/s; returns the batches sent."""
    order = np.lexsort((feed.series, feed.ts))
    ts, se, va, qu = feed.ts[order], feed.series[order], feed.values[order], feed.quality[order]
    edges = np.searchsorted(ts, START_NS + np.arange(0, seconds + BATCH_SECONDS, BATCH_SECONDS) * S)
    t0 = time.monotonic()
    sent = 0
    n = len(edges) - 1
    for i in range(n):
        lo, hi = int(edges[i]), int(edges[i + 1])
        if hi <= lo:
            continue
        batch = PointBatch(se[lo:hi], ts[lo:hi], va[lo:hi], qu[lo:hi])
        due = t0 + hi / rate
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        await js.publish(
            opts.batch_subject(0),
            encode_batch(batch, source_id="shadow-feed", sequence=i),
            headers={"Nats-Msg-Id": f"shadow-feed/{i}"},
        )
        sent += 1
        await on_progress((i + 1) / n)
    return sent


def _account(
    report: Report, engine: QueryEngine, catalogue: Any, feed: PointBatch, end: int
) -> None:
    """twinbench's side of the run: every fed point stored once, unchanged (exact accounting:
    the feed is known point by point)."""
    lost = duplicated = changed = unexpected = 0
    for tag in catalogue:
        mine = feed.series == tag.id
        f_ts, f_v, f_q = feed.ts[mine], feed.values[mine], feed.quality[mine]
        got = engine.raw(tag.name, START_NS, end)
        if len(got.ts) == 0:
            lost += len(f_ts)
            continue
        duplicated += int(np.sum(np.diff(got.ts) == 0))
        pos = np.clip(np.searchsorted(got.ts, f_ts), 0, max(len(got.ts) - 1, 0))
        found = got.ts[pos] == f_ts
        lost += int((~found).sum())
        same_v = (got.values[pos] == f_v) | (np.isnan(got.values[pos]) & np.isnan(f_v))
        changed += int((found & ~(same_v & (got.quality[pos] == f_q))).sum())
        unexpected += len(got.ts) - int(found.sum())
    produced = len(feed)
    report.set_metric("accounting.total.produced", produced, "points")
    report.set_metric(MetricKey.ACKED_LOST, lost, "points")
    report.set_metric(MetricKey.DUPLICATED, duplicated, "points")
    report.set_metric(MetricKey.CHANGED, changed, "points")
    report.set_metric("accounting.total.unexpected", unexpected, "points")


async def _caught_up(js: Any, stream: str, durable: str, timeout_s: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        info = await js.consumer_info(stream, durable)
        if not info.num_pending and not info.num_ack_pending:
            return time.monotonic() - t0
        await asyncio.sleep(0.05)
    raise TimeoutError(f"consumer {durable} did not catch up within {timeout_s:g} s")


async def _run_and_diff(
    scenario: Scenario, say: Callable[[str], None], report: Report, opts: BusOptions,
    catalogue: Any, feed: PointBatch, seconds: int, injections: list[Injection],
    nats_srv: NatsServer, pg: PostgresServer, db: Historian, aggregator: ScadaAggregator,
    store: Path, work: Path,
) -> tuple[DiffReport, DiffReport, LegacyConsumer, float, float]:  # fmt: skip
    """Feed the three historians over the bus, then diff both legacies against the store."""
    archive = PiLegacyArchive(catalogue)
    distort: Callable[[PointBatch], PointBatch] = lambda b: apply_injections(b, injections)  # noqa: E731
    nc = await nats.connect(nats_srv.url)
    running: list[asyncio.Task[None]] = []  # cancelled on a failure, so nothing hangs
    try:
        js = nc.jetstream()
        await ensure_streams(js, opts)
        await ensure_consumer(js, opts, 0)
        stop_all = asyncio.Event()
        worker = IngestWorker(nc, db, opts)
        scada = LegacyConsumer(nc, opts, aggregator, durable="legacy-scada-p0", distort=distort)
        pi = LegacyConsumer(nc, opts, archive, durable="legacy-pi-p0", distort=distort)
        await scada.ensure()
        await pi.ensure()
        stop_scada = asyncio.Event()
        tasks = [asyncio.create_task(worker.run(stop_all)), asyncio.create_task(pi.run(stop_all))]
        scada_task = asyncio.create_task(scada.run(stop_scada))
        running += [*tasks, scada_task]
        outage: dict[str, float | None] = {"stopped_at": None, "restarted_at": None}

        async def progress(frac: float) -> None:
            nonlocal scada_task
            if frac >= 0.4 and outage["stopped_at"] is None:
                stop_scada.set()
                await scada_task
                outage["stopped_at"] = time.monotonic()
                say("shadow: SCADA legacy consumer stopped (it will lag)")
            elif (
                frac >= 0.6 and outage["restarted_at"] is None and outage["stopped_at"] is not None
            ):
                stop_scada.clear()
                scada_task = asyncio.create_task(scada.run(stop_scada))
                running.append(scada_task)
                outage["restarted_at"] = time.monotonic()
                say("shadow: SCADA legacy consumer restarted (catching up)")

        t0 = time.monotonic()
        sent = await _publish(js, opts, feed, seconds, scenario.nominal_rate_pts_s, progress)
        feed_s = time.monotonic() - t0
        await _caught_up(js, opts.stream, opts.consumer_name(0), 120.0)
        catch_up = await _caught_up(js, opts.stream, "legacy-scada-p0", 120.0)
        await _caught_up(js, opts.stream, "legacy-pi-p0", 120.0)
        stop_all.set()
        stop_scada.set()
        await asyncio.gather(*tasks, scada_task)
        lag_info = await js.consumer_info(opts.stream, "legacy-scada-p0")
        report.notes.append(
            f"legacy consumer lag after the run: {int(lag_info.num_pending or 0)} messages pending"
        )
        say(
            f"shadow: feed of {sent} batches in {feed_s:.1f} s; "
            f"legacy caught up {catch_up:.1f} s after the feed ended"
        )
    finally:
        running = [
            t for t in (*locals().get("tasks", []), locals().get("scada_task")) if t is not None
        ]
        for t in running:
            t.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await nc.close()
    if True:  # the diffs, with the services still up
        end = START_NS + seconds * S
        engine = QueryEngine(db, catalogue)
        _account(report, engine, catalogue, feed, end)
        pg_legacy = read_postgres(pg.dsn, START_NS, end)
        pg_report = diff_store(
            engine,
            pg_legacy,
            START_NS,
            end,
            legacy_label="postgresql scada_readings",
            historian_label=str(store),
        )
        csv = work / "pi-legacy.csv"
        archive.export_csv(csv)
        pi_report = diff_store(
            engine,
            read_pi_csv(str(csv), START_NS, end),
            START_NS,
            end,
            legacy_label=str(csv),
            historian_label=str(store),
        )
    return pg_report, pi_report, scada, feed_s, catch_up


async def run_shadow(
    scenario: Scenario, work: Path, say: Callable[[str], None]
) -> tuple[Report, dict[str, str]]:
    """Run the scenario; returns the scored report and extra files for the run directory."""
    seconds = int(scenario.nominal_rate_pts_s * scenario.duration_s / TAGS)
    catalogue, feed = shadow_feed(TAGS, START_NS, seconds, seed=scenario.seed)
    names = {t.id: t.name for t in catalogue}
    injections = frozen_values(injections_for(seconds), feed)
    report = Report(
        scenario.name,
        scenario.profile,
        scenario.seed,
        scenario.duration_s,
        scenario.description,
        environment=environment(),
    )
    opts = BusOptions()
    say(
        f"shadow: {TAGS} tags x {seconds / 3600:.1f} h of 1 Hz data ({len(feed):,} points) "
        f"at {scenario.nominal_rate_pts_s:,.0f} points/s"
    )
    with contextlib.ExitStack() as cleanup:  # every service goes away, also on a failure
        nats_srv = NatsServer(work / "nats").start()
        cleanup.callback(nats_srv.close)
        pg = PostgresServer(work / "postgres", durable=False).start()
        cleanup.callback(pg.close)
        store = work / "store"
        db = Historian.open(str(store))
        cleanup.callback(db.close)
        catalogue.save(store)
        aggregator = ScadaAggregator(pg.dsn, ScadaTagMap.from_catalogue(catalogue))
        cleanup.callback(aggregator.close)
        result = await _run_and_diff(
            scenario,
            say,
            report,
            opts,
            catalogue,
            feed,
            seconds,
            injections,
            nats_srv,
            pg,
            db,
            aggregator,
            store,
            work,
        )
    pg_report, pi_report, scada, feed_s, catch_up = result
    rows: list[dict[str, Any]] = []
    for label, diff in (("postgresql", pg_report), ("pi-csv", pi_report)):
        for row in score_diff(diff, names, injections):
            rows.append({"legacy": label, **row})
        say(f"shadow diff against {label}:\n{render_table(diff)}")
        report.set_metric(
            f"shadow.{label}.points_per_s",
            diff.points_compared / diff.elapsed_s if diff.elapsed_s else None,
            "points/s",
        )
        report.set_metric(f"shadow.{label}.mismatched_tags", diff.counts["mismatch"], "tags")
    lat = np.array(aggregator.write_latency_s) * 1e3
    report.set_metric("shadow.injected", 2 * len(injections), "discrepancies")
    report.set_metric(
        "shadow.detected", sum(r["outcome"] == "detected" for r in rows), "discrepancies"
    )
    report.set_metric("shadow.missed", sum(r["outcome"] == "missed" for r in rows), "discrepancies")
    report.set_metric(
        "shadow.false_alarms", sum(r["outcome"] == "false alarm" for r in rows), "findings"
    )
    report.set_metric("shadow.legacy.rows_written", aggregator.rows_written, "rows")
    report.set_metric("shadow.legacy.copies", aggregator.copies, "COPY transactions")
    report.set_metric(
        "shadow.legacy.write_p50_ms", float(np.percentile(lat, 50)) if len(lat) else None, "ms"
    )
    report.set_metric(
        "shadow.legacy.write_p99_ms", float(np.percentile(lat, 99)) if len(lat) else None, "ms"
    )
    report.set_metric("shadow.legacy.max_lag_messages", scada.stats.max_lag_messages, "messages")
    report.set_metric("shadow.legacy.catch_up_s", catch_up, "s")
    report.set_metric(
        "shadow.legacy.rate_pts_s",
        aggregator.rows_written / max(feed_s + catch_up, 1e-9),
        "points/s",
    )
    report.set_metric("shadow.feed.points", len(feed), "points")
    report.set_metric("shadow.feed.rate_pts_s", len(feed) / feed_s, "points/s")
    report.notes.extend(
        f"{r['legacy']}: {r['tag']}: {r['injected']} -> {r['expected']}: {r['outcome']}"
        + (f" ({r['finding']}: {r['detail']})" if r["outcome"] == "false alarm" else "")
        for r in rows
    )
    evaluate(report, scenario.thresholds or SHADOW_THRESHOLDS)
    outcome = ["| legacy | tag | injected | expected finding | outcome |", "|---|---|---|---|---|"]
    outcome += [
        f"| {r['legacy']} | {r['tag']} | {r['injected']} | "
        f"{r.get('finding', r['expected'])} | {r['outcome']} |"
        for r in rows
    ]
    files = {
        "shadow.md": "\n\n".join(
            [
                "# Shadow run",
                "\n".join(outcome),
                "## SCADA legacy (PostgreSQL)",
                render_table(pg_report),
                "## PI-style legacy (CSV)",
                render_table(pi_report),
            ]
        )
        + "\n",
        "shadow-postgresql.json": render_json(pg_report) + "\n",
        "shadow-pi-csv.json": render_json(pi_report) + "\n",
    }
    say("shadow: outcome per injection:\n" + "\n".join(outcome))
    return report, files
