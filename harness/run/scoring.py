"""Turn a finished run (:class:`~harness.run.result.RunResult`) into a scored :class:`Report`.

Kept apart from the runner so the arithmetic of each metric is in one place:
every key the scenario thresholds name (``harness.scenario.MetricKey``) is
written here, and a metric that could not be measured is left out, which fails
its threshold (a check that did not run never reads as a pass).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.accounting import read_back
from harness.faults.cluster import score_failovers
from harness.metrics import STEAL, highest_sustained_rate
from harness.report.format import utc_iso
from harness.report.model import Report, Threshold, evaluate
from harness.run.api_scoring import score_api_load
from harness.run.result import PlantResult, RunResult, TierResult
from harness.run.tier_storage import score_tier_storage
from harness.scenario import MetricKey
from historian import Historian, Options
from historian.codec import encode_chunk
from historian.crypto.keyfile import load_cipher
from historian.lsm.inspect import chunk_bytes_by_series
from historian.model import NS_PER_SECOND as NS

CHUNK_POINTS = 4096


CodecSizes = dict[int, tuple[int, int]]
"""Per series id: (bytes the codec needs, points) over the stored data."""


def codec_sizes(db: Historian, series: list[int]) -> CodecSizes:
    """Encode each stored series once, in chunks of ``CHUNK_POINTS``."""
    out: CodecSizes = {}
    for sid in series:
        ts, values, quality = db.read(int(sid), 0, 2**62)
        nbytes = sum(
            len(encode_chunk(ts[a : a + CHUNK_POINTS], values[a : a + CHUNK_POINTS],
                             quality[a : a + CHUNK_POINTS]))
            for a in range(0, len(ts), CHUNK_POINTS)
        )  # fmt: skip
        out[int(sid)] = (nbytes, len(ts))
    return out


def stored_sizes(run: RunResult, db: Historian, series: list[int]) -> CodecSizes:
    """The codec's figure per series, from the chunks the compacted store holds.

    After the full compaction the chunks are exactly what :func:`codec_sizes`
    would encode, so reading their lengths from the segment indexes saves encoding
    every series twice (it was a third of a short scenario's scoring). With the
    cold tier on, exported points are in Parquet, not in chunks: the tier's
    storage scoring re-stores every point and returns its chunks' sizes
    (``harness.run.tier_storage``); here only when that did not run (nothing stored).
    """
    if run.tier is not None:
        return codec_sizes(db, series)
    cipher = load_cipher(run.store_key) if run.store_key is not None else None
    held = chunk_bytes_by_series(db.directory, db.fs, cipher)
    return {int(s): held.get(int(s), (0, 0)) for s in series}


def bytes_per_point(sizes: CodecSizes, series: list[int]) -> float:
    """The codec's own figure over ``series`` (NaN when they hold no points)."""
    nbytes = sum(sizes[s][0] for s in series)
    points = sum(sizes[s][1] for s in series)
    return nbytes / points if points else float("nan")


def _score_plant(plant: PlantResult, sizes: CodecSizes, report: Report) -> None:
    """Real-protocol plant data: coverage, points, latency, bytes/point per tag type."""
    types = plant.tag_types
    ids = [i for group in types.values() for i in group]
    report.set_metric("plant.tags", len(ids), "tags")
    report.set_metric("plant.tags_with_data", sum(1 for i in ids if sizes[i][1]), "tags")
    report.set_metric("plant.points_stored", sum(sizes[i][1] for i in ids), "points")
    report.set_metric("plant.points_applied", plant.points_applied, "points")
    if plant.collect_to_queryable.count:
        report.add_latency("plant_collect_to_queryable", plant.collect_to_queryable)
    for name, group in types.items():
        bpp = bytes_per_point(sizes, group)
        if bpp == bpp:  # not NaN: the type has data
            report.bytes_per_point[f"plant {name}"] = bpp
    report.notes.append(
        f"plant: {plant.profile} profile, {plant.collectors} "
        "server processes, collectors alternate Modbus (even) and OPC UA (odd); "
        "bytes/point per tag type is the codec on the stored plant data"
    )


def _score_rejected(run: RunResult, report: Report) -> None:
    """Dead-lettered messages and points by reason; quarantined spool files."""
    rej = run.rejected
    for reason, n in sorted(rej.messages.items()):
        report.set_metric(f"rejected.{reason}.messages", n, "messages")
        report.set_metric(f"rejected.{reason}.points", rej.points.get(reason, 0), "points")
    report.set_metric("rejected.total.points", sum(rej.points.values()), "points")
    report.set_metric("spool.quarantined_files", run.quarantined_spool_files, "files")


TIER_TOOK_DATA = Threshold(
    "the cold tier took data", MetricKey.TIER_COLD_POINTS, ">", 0.0, "points"
)
"""Added to a run's thresholds when it runs with the tier (``--tier-hot-window``)."""


def _score_tier(run: TierResult, db: Historian, report: Report) -> dict[str, Any]:
    """Attach the cold tier for the read-back; report hot/cold bytes per point and lag.

    Figures come from the server's last ``tier-status.json`` (what it exported while
    it ran) and the tier's own catalogue (what is cold now).
    """
    from historian.tier import ColdTier
    from historian.tier.serve import read_status

    tier = ColdTier.attach(db, run.config)
    status = read_status(Path(db.directory)) or {}
    stats = tier.stats()
    report.set_metric(MetricKey.TIER_COLD_POINTS, stats["cold_points"], "points")
    report.set_metric("tier.parts", stats["parts"], "parts")
    report.set_metric("tier.export_rounds", status.get("rounds", 0), "rounds")
    report.set_metric("tier.export_failures", status.get("failures", 0), "rounds")
    report.set_metric("tier.export_lag_s", status.get("export_lag_s", 0.0), "s")
    deleted = sum(stats["retention_deleted"].values())
    report.set_metric("tier.retention_deleted_objects", deleted, "objects")
    if stats["cold_points"]:
        report.set_metric("tier.cold_bytes_per_point", stats["cold_bytes_per_point"], "B/point")
        report.set_metric("tier.rollup_overhead_pct", 100 * stats["rollup_overhead"], "%")
        report.bytes_per_point["cold tier (Parquet, raw)"] = stats["cold_bytes_per_point"]
    if status.get("export_seconds_total"):
        rate = status["exported_points_total"] / status["export_seconds_total"]
        report.set_metric("tier.export_pts_s", rate, "points/s")
    report.notes.append(
        f"cold tier: {stats['parts']} part(s), {stats['cold_points']:,} points exported to "
        f"embedded S3 during the run (hot window {run.hot_window_s:g} s); the "
        "read-back reads hot and cold through one snapshot"
    )
    return stats


def score_run(run: RunResult) -> Report:
    s, sched = run.scenario, run.schedule
    report = Report(s.name, s.profile, s.seed, s.duration_s, s.description)
    if run.origin_wall_ns:  # the load's start, not the time of scoring (after the load)
        report.started_utc = utc_iso(run.origin_wall_ns)
        report.started_is_load_start = True
    report.notes.extend(run.notes)
    report.notes.append(run.durability_note)  # what an ack meant in this run
    secure = run.security_note
    plain = "security: plain (no auth, TLS or encryption at rest; see --secure)"
    report.notes.append(secure if secure is not None else plain)
    report.set_metric("security.mode", 1.0 if secure is not None else 0.0, "1 = secure")
    if s.is_short:
        report.notes.append("short (CI-sized) version of the scenario")
    for k, name in enumerate(sched.phase_names):
        a, b = sched.phase_bounds_ns[k]
        report.add_phase(name, a / NS, b / NS, sched.phase_rates[k])
    if run.cluster_nodes is not None:
        report.set_metric("cluster.nodes", run.cluster_nodes, "nodes")
        report.set_metric("cluster.replicas", run.bus_replicas, "replicas")
    if run.failovers:  # fills their fault-log entries: election gap, max ack stall
        costs = score_failovers(
            run.failovers,
            run.batch_acks,
            origin_wall_ns=run.origin_wall_ns,
            settle_s=run.settle_s,
        )
        for key, (value, unit) in costs.items():
            report.set_metric(key, value, unit)
    if run.fault_log:  # as injected, with recovery times
        for entry in sorted(run.fault_log, key=lambda e: float(str(e["start_s"]))):
            report.faults.append(dict(entry))
    else:
        for f in s.faults:
            report.add_fault(f.kind, f.target, f.at_s, f.end_s)
    _score_rejected(run, report)

    report.add_latency("publish_to_ack", run.ack_hist)
    report.add_latency("publish_to_queryable", run.queryable_hist)
    if run.nominal_hist.count:
        report.add_latency("publish_to_queryable_nominal", run.nominal_hist)
    report.add_series(run.acked_series.to_series("acked", "points/s"), group="throughput")
    report.add_series(run.applied_series.to_series("queryable", "points/s"), group="throughput")
    report.add_series(run.lag, group="lag")
    report.add_series(run.spool_depth, group="lag")
    for series in (*run.cpu.values(), *run.rss.values()):
        report.add_series(series, group="resources")
    for name, ts in run.rss.items():
        if ts.values:
            report.set_metric(f"resources.{name}.rss_max_mb", max(ts.values) / 2**20, "MB")
    for name, ts in run.cpu.items():
        if ts.values:
            report.set_metric(f"resources.{name}.cpu_mean_pct", float(np.mean(ts.values)), "%")
    _note_steal(run, report)

    _, rates = run.applied_series.rate_per_s()
    if len(rates):
        report.set_metric("throughput.queryable_max_pts_s", float(np.max(rates)), "points/s")
    report.set_metric("load.produced_points", run.ledger.produced, "points")
    report.set_metric("load.acked_points", run.ledger.acked_points, "points")
    report.set_metric("forwarder.batches_spooled", run.batches_spooled, "batches")
    report.set_metric("load.nats_client_errors", run.nats_client_errors, "errors")

    if run.recoveries:
        report.set_metric(MetricKey.CRASH_RECOVERY_S, max(t for _, t in run.recoveries), "s")
        for kind, took in run.recoveries:
            report.set_metric(f"recovery.{kind}_s", took, "s")
    for kind, rate in run.drains:
        report.set_metric(f"drain.{kind}_pts_s", rate, "points/s")
    for kind, delay in run.resume_delays:
        report.set_metric(f"drain.{kind}_resume_s", delay, "s")
    if run.drains:
        worst = min(rate for _, rate in run.drains)
        report.set_metric("drain.rate_pts_s", worst, "points/s")
        report.set_metric(MetricKey.DRAIN_OVER_NOMINAL, worst / s.nominal_rate_pts_s, "x")

    steps = run.ramp_steps
    if steps:
        verdict = highest_sustained_rate(steps, p99_limit_ms=run.ramp_p99_limit_ms)
        report.stress = {
            "steps": [vars(x) for x in steps],
            "highest_sustained_pts_s": verdict.highest_pts_s,
            "highest_step": verdict.highest_step,
            "breaking_step": verdict.breaking_step,
            "reason": verdict.reason,
        }
        report.set_metric(MetricKey.STRESS_SUSTAINED, verdict.highest_pts_s, "points/s")

    t0 = time.monotonic()
    db = Historian.open(str(run.data_dir), Options(encryption_key_file=run.store_key))
    try:
        cold = None
        if run.tier is not None:  # exported points are read back from S3, like queries
            cold = _score_tier(run.tier, db, report)
        t1 = time.monotonic()
        stored = read_back(db, run.synthetic_series.tolist(), 0, 2**62)
        t2 = time.monotonic()
        acc = run.ledger.reconcile(stored)
        report.add_accounting(acc)
        t3 = time.monotonic()
        db.flush()
        db.compact()
        stats = db.stats()
        t4 = time.monotonic()
        run.say(
            f"scoring: open {t1 - t0:.1f} s, read back {t2 - t1:.1f} s, "
            f"reconcile {t3 - t2:.1f} s, compact {t4 - t3:.1f} s"
        )
        # the same data the store holds: synthetic series plus, with a plant, its tags
        synthetic = run.synthetic_series.tolist()
        plant_ids = run.plant.series_ids if run.plant is not None else []
        stored_any = stats.points or (cold is not None and cold["cold_points"])
        sizes: CodecSizes | None = None
        if stored_any and cold is not None:  # judged on all the run's data, both tiers
            # its scratch store's chunks are the codec's sizes too: no second encode
            sizes = score_tier_storage(report, db, synthetic + plant_ids, run.work_dir, stats, cold)
        elif stored_any:
            report.set_metric(MetricKey.BYTES_PER_POINT, stats.bytes_per_point, "B/point")
            report.bytes_per_point["all stored data (engine)"] = stats.bytes_per_point
        if sizes is None:
            sizes = stored_sizes(run, db, synthetic + plant_ids)
        run.say(f"scoring: storage {time.monotonic() - t4:.1f} s")
        if stored_any:
            report.bytes_per_point["synthetic (codec)"] = bytes_per_point(sizes, synthetic)
            report.set_metric(
                MetricKey.BASELINE_BYTES_PER_POINT,
                1.1 * bytes_per_point(sizes, synthetic + plant_ids),
                "B/point",
            )
        report.set_metric("storage.points", stats.points, "points")
        if run.plant is not None:
            _score_plant(run.plant, sizes, report)
        report.set_metric("storage.bytes_on_disk", stats.bytes_on_disk, "bytes")
    finally:
        db.close()
    thresholds = s.thresholds
    if run.tier is not None:
        thresholds = (*thresholds, TIER_TOOK_DATA)
    thresholds = (*thresholds, *score_api_load(run, report))  # HTTP API under load
    evaluate(report, thresholds)
    return report


STEAL_NOTE_PCT = 5.0
"""Mean hypervisor steal (% of one core) above which the report says the host was shared."""


def _note_steal(run: RunResult, report: Report) -> None:
    """Say when a virtual machine's host took CPU from the run: its latencies are then
    partly the neighbours', and a rerun on a quieter host may read differently."""
    steal = run.cpu.get(STEAL)
    if steal is None or not steal.values:
        return
    mean, peak = float(np.mean(steal.values)), float(np.max(steal.values))
    if mean >= STEAL_NOTE_PCT:
        report.notes.append(
            f"the hypervisor ran other guests for {mean:.0f} % of a core on average during the "
            f"run (peak {peak:.0f} %, `resources.{STEAL}.cpu_mean_pct`): the host was shared, "
            "so tail latencies include time the machine did not have"
        )
