"""The ``replay`` scenario: a real plant recording through the full stack at high speed,
with the collector's link to the bus cut in the middle.

A self-contained run (the runner hands over to :func:`run_replay` when
``Scenario.replay`` names a recording):

1. nats-server, a fault proxy in front of it for the collector, and the historian
   server process (``harness.run.scenario_stack``);
2. a replay server process (``sim.servers.node --replay``) plays the recording at
   the speed that fits the scenario's duration; a real collector process subscribes
   to it over OPC UA (every reading, queue deep enough for the speed) and publishes
   through the proxy; the replay is held until the collector has subscribed;
3. the scenario's partition cuts collector<->bus: the collector spools to disk, the
   backlog grows; after the heal it drains;
4. lag is sampled all along: records the server has emitted minus points the
   historian has applied (its "applied" notices on the bus) — in points and in
   replay seconds; the server's own pacing lag comes from its progress file;
5. at the end the store is read back and compared with the recording value by
   value (float64 bits and timestamps: OPC UA carries both exactly, docs/replay.md),
   and the recording's failure (its lowest reading) is drawn before/after, as
   recorded and as stored.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import numpy as np
from numpy.typing import NDArray

from harness.metrics import LatencyHistogram, TimeSeries
from harness.report.model import Report, evaluate
from harness.report.svgplot import line_chart
from harness.report.write import environment
from harness.run.scenario_stack import ScenarioStack
from harness.scenario import MetricKey, Scenario
from harness.services import ManagedProcess
from historian import Historian
from historian.ingest.service import APPLIED_PREFIX
from historian.model import NS_PER_SECOND as NS
from sim.replay import Recording, catalogue_for
from sim.servers.launch import ServerProcess, start_servers, stop_servers
from sim.tags import dump_catalogue

__all__ = ["SOURCE_ID", "expected_points", "run_replay"]

REPO = Path(__file__).resolve().parents[2]
SOURCE_ID = "replay-collector"
TREND_WINDOW_NS = 3 * 86_400 * NS  # the failure trend: three days either side
SAMPLE_S = 0.1  # lag sampling period (wall)


def expected_points(
    rec: Recording,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """What the servers serve: one value per timestamp, the recording's last one for it
    (two records of one tick: the later wins, as in ``ReplaySource.step``); and, per
    record played, how many served points it completes (to turn the server's record
    count into points)."""
    ts, values = rec.ts, rec.values
    last = np.r_[ts[1:] != ts[:-1], True]
    return ts[last], values[last], np.cumsum(last)


class _Applied:
    """Points the historian applied, from its notices (each batch counted once)."""

    def __init__(self) -> None:
        self.points = 0
        self.seen: set[tuple[str, int]] = set()
        self.latency = LatencyHistogram()
        self.history: list[tuple[float, int]] = []  # (monotonic arrival, points so far)

    async def on_msg(self, msg: Any) -> None:
        notice = json.loads(msg.data)
        for source, seq, created_ns, points in notice["b"]:
            if source != SOURCE_ID or (source, seq) in self.seen:
                continue
            self.seen.add((source, seq))
            self.points += int(points)
            self.latency.record_ns(max(int(notice["t"]) - int(created_ns), 0))
        self.history.append((time.monotonic(), self.points))

    def drain(self, healed_at: float, target: int) -> tuple[float, float] | None:
        """(seconds from the heal to the first applied point, seconds from the heal until
        ``target`` points were applied), timed by the notices' arrival. The drain is
        timed from the heal, reconnect included: a backlog often lands in one ingest
        round, and one round has no duration of its own."""
        after = [(t, n) for t, n in self.history if t >= healed_at]
        first = next((t for t, _ in after), None)
        done = next((t for t, n in after if n >= target), None)
        if first is None or done is None:
            return None
        return first - healed_at, done - healed_at


def _progress(server: ServerProcess) -> dict[str, Any]:
    try:
        assert server.progress_path is not None
        doc: dict[str, Any] = json.loads(server.progress_path.read_text())
        return doc
    except (OSError, ValueError):
        return {}


def _collector_notifications(log: Path) -> int:
    seen = 0
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return 0
    for line in lines[-20:]:
        if line.startswith('{"source"'):
            try:
                source = json.loads(line).get("source") or {}
            except ValueError:  # a line still being written
                continue
            seen = max(seen, int(source.get("notifications", 0)))
    return seen


def _start_collector(cat_path: Path, server: ServerProcess, url: str, work: Path) -> ManagedProcess:
    argv = [
        sys.executable, "-m", "harness.plant.collector_process", "--catalogue", str(cat_path),
        "--protocol", "opcua", "--endpoint", str(server.opcua_endpoint), "--nats", url,
        "--spool", str(work / "spool-collector"), "--source-id", SOURCE_ID,
        "--interval-s", "0.1", "--queue-size", "5000", "--status-every", "0.2",
    ]  # fmt: skip
    proc = ManagedProcess("collector-replay", argv, work / "logs" / "collector-replay.log")
    proc.start()
    proc.wait_for_log("READY\n", 60.0)
    return proc


async def _wait(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"replay scenario: {what} within {timeout_s:g} s")
        await asyncio.sleep(0.05)


async def _play(
    scenario: Scenario, report: Report, server: ServerProcess, go: Path, applied: _Applied,
    stack: ScenarioStack, served: NDArray[np.int64], say: Callable[[str], None],
) -> dict[str, float]:  # fmt: skip
    """Release the replay, apply the partition, sample lag; returns the measured times."""
    backlog = TimeSeries("backlog (emitted - applied)", "points")
    behind = TimeSeries("server pacing lag", "s")
    go.touch()
    t0 = time.monotonic()
    m: dict[str, float] = {}
    cut = healed = False
    fault = scenario.faults[0] if scenario.faults else None
    target = 0  # records emitted at the heal: the backlog to drain
    at_heal = 0.0
    applied_at_heal = 0
    expected = int(served[-1])
    deadline = t0 + scenario.duration_s * 3 + 120
    while time.monotonic() < deadline:
        t = time.monotonic() - t0
        doc = _progress(server)
        played = int(doc.get("records", 0))
        records = int(served[played - 1]) if played else 0  # points served so far
        backlog.append(t, records - applied.points)
        behind.append(t, float(doc.get("lag_s", 0.0)))
        if fault is not None and not cut and t >= fault.at_s:
            await stack.cut("collector")
            cut = True
            say(f"replay: {fault.kind} at {t:.1f} s")
        if fault is not None and cut and not healed and t >= fault.end_s:
            await stack.heal("collector")
            healed, at_heal = True, time.monotonic()
            target, applied_at_heal = records, applied.points
            report.add_fault(fault.kind, fault.target, fault.at_s, t)
            say(f"replay: healed at {t:.1f} s, backlog {records - applied.points:,} points")
        if healed and "drain_s" not in m and applied.points >= target:
            timed = applied.drain(at_heal, target)  # to the notice, not the sampling period
            if timed is not None:
                m["drain_points"] = target - applied_at_heal
                m["resume_s"], m["drain_s"] = timed
        if doc.get("finished") and "replay_wall_s" not in m:
            m["replay_wall_s"] = float(doc["wall_s"])
            m["finished_at"] = time.monotonic()
            m["server_max_lag_s"] = float(doc.get("max_lag_s", 0.0))
            m["late_ticks"] = float(doc.get("late_ticks", 0))
            say(f"replay: all {played:,} records played in {m['replay_wall_s']:.1f} s")
        if "replay_wall_s" in m and applied.points >= expected and (healed or fault is None):
            m["catch_up_s"] = time.monotonic() - m["finished_at"]
            break
        await asyncio.sleep(SAMPLE_S)
    report.add_series(backlog, group="lag")
    report.add_series(behind, group="server lag")
    m["max_backlog"] = float(max(backlog.values, default=0.0))
    return m


def _account(
    report: Report, store: Path, series: int, ts: NDArray[np.int64], values: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Value-by-value comparison of the store with what the servers served."""
    db = Historian.open(str(store))
    try:
        got_ts, got_v, _ = db.read(series, 0, 2**62)
    finally:
        db.close()
    pos = np.clip(np.searchsorted(got_ts, ts), 0, max(len(got_ts) - 1, 0))
    found = got_ts[pos] == ts if len(got_ts) else np.zeros(len(ts), bool)
    same = got_v[pos].view(np.int64) == values.view(np.int64) if len(got_ts) else found
    report.set_metric("accounting.total.produced", len(ts), "points")
    report.set_metric("accounting.total.stored", len(got_ts), "points")
    report.set_metric(MetricKey.ACKED_LOST, int((~found).sum()), "points")
    report.set_metric(MetricKey.DUPLICATED, int(np.sum(np.diff(got_ts) == 0)), "points")
    report.set_metric(MetricKey.CHANGED, int((found & ~same).sum()), "points")
    report.set_metric("accounting.total.unexpected", len(got_ts) - int(found.sum()), "points")
    return got_ts, got_v


def _trend(
    report: Report,
    ts: NDArray[np.int64],
    values: NDArray[np.float64],
    got_ts: NDArray[np.int64],
    got_v: NDArray[np.float64],
    unit: str,
) -> tuple[str, str]:
    """Before/after the failure (the recording's lowest reading), as recorded and as stored:
    a Markdown section and an SVG chart (hours from the failure: not the run's time axis,
    so not one of report.html's charts)."""
    k = int(np.argmin(values))
    fail = int(ts[k])
    when = str(np.datetime_as_string(np.datetime64(fail, "ns"), unit="m")) + "Z"
    rows, lines = [], []
    day = 86_400 * NS
    for name, t, v in (("recorded", ts, values), ("stored by twinbench", got_ts, got_v)):
        sel = (t >= fail - TREND_WINDOW_NS) & (t <= fail + TREND_WINDOW_NS)
        lines.append((name, ((t[sel] - fail) / (3600 * NS)).tolist(), v[sel].tolist()))
        before = v[(t >= fail - day) & (t < fail)]
        after = v[(t > fail) & (t <= fail + day)]
        at = v[t == fail]
        row = [float(before.mean()) if len(before) else None,
               float(at.min()) if len(at) else None,
               float(after.mean()) if len(after) else None]  # fmt: skip
        key = "recorded" if name == "recorded" else "stored"
        for label, value in zip(
            ("mean_24h_before", "at_failure", "mean_24h_after"), row, strict=True
        ):
            report.set_metric(f"replay.failure.{key}.{label}", value, unit)
        rows.append(
            f"| {name} | " + " | ".join(f"{x:.3f}" if x is not None else "-" for x in row) + " |"
        )
    report.notes.append(
        f"failure (the recording's lowest reading): {when}, {values[k]:.3f} {unit}; "
        "its before/after trend is in replay.md and failure-trend.svg beside this report"
    )
    svg = line_chart(
        lines,
        title=f"{when}: 3 days either side, recorded vs stored",
        dashed={"stored by twinbench"},
        x_label="hours from the failure (data time)",
        y_label=unit,
        shaded=[(-1.0, 1.0, "failure")],
    )
    md = "\n".join([
        f"## Failure trend: {when} (lowest reading), 24 h before and after",
        "",
        "![failure trend](failure-trend.svg)",
        "",
        f"| series | mean 24 h before ({unit}) | at the failure | mean 24 h after |",
        "|---|---|---|---|",
        *rows,
    ])  # fmt: skip
    return md, svg


async def run_replay(
    scenario: Scenario, work: Path, say: Callable[[str], None]
) -> tuple[Report, dict[str, str]]:
    """Run the scenario; returns the scored report and extra files for the run directory."""
    assert scenario.replay is not None
    path = REPO / scenario.replay
    rec = Recording.from_file(path)
    cat = catalogue_for(rec, path.stem)
    # deadband 0: the collector sends every change (the catalogue allows no "every
    # reading"); a recording with repeated values would have those filtered, so they are
    # not expected (NAB's machine temperature repeats none)
    work.mkdir(parents=True, exist_ok=True)
    cat_path = work / "catalogue-replay.toml"
    dump_catalogue(cat, cat_path)
    ts, values, served = expected_points(rec)
    if np.any(np.diff(values) == 0):
        raise ValueError(f"{path.name} repeats values: the collector's exception filter drops them")
    span_s = (int(ts[-1]) - int(ts[0])) / NS
    speed = span_s / scenario.duration_s
    # re-based so the recording ends two minutes before now: a store accepts a
    # stream's points within a window around its wall clock (10 years back by
    # default; NAB's 2013 would be refused), and a fast replay must not run ahead of it
    shift = (time.time_ns() // NS - int(span_s) - 120) * NS - int(ts[0])
    report = Report(scenario.name, scenario.profile, scenario.seed, scenario.duration_s,
                    scenario.description, environment=environment())  # fmt: skip
    say(f"replay: {path.name}: {len(rec.ts):,} records ({len(ts):,} timestamps) over "
        f"{span_s / 86400:.1f} days at {speed:,.0f}x, re-based to end 2 min ago")  # fmt: skip
    stack = ScenarioStack(work, proxy_collector=True, proxy_historian=False)
    applied = _Applied()
    servers: list[ServerProcess] = []
    collector: ManagedProcess | None = None
    go = work / "go"
    try:
        await stack.start()
        nc = await nats.connect(stack.nats.url)
        await nc.subscribe(f"{APPLIED_PREFIX}.>", cb=applied.on_msg)
        servers = await asyncio.to_thread(
            start_servers, cat_path, speed=speed, tick_s=rec.min_step_ns / NS, replay=path,
            rebase_to_ns=int(rec.ts[0]) + shift, hold_file=go, progress=True,
            workdir=work / "sim",
        )  # fmt: skip
        collector = await asyncio.to_thread(
            _start_collector, cat_path, servers[0], stack.url_for("collector"), work
        )
        log = work / "logs" / "collector-replay.log"
        await _wait(lambda: _collector_notifications(log) > 0, 60, "the collector subscribed")
        m = await _play(scenario, report, servers[0], go, applied, stack, served, say)
        await nc.close()
    finally:
        if collector is not None:
            await asyncio.to_thread(collector.stop)
        await asyncio.to_thread(stop_servers, servers)
        await stack.close()
    store = stack.ingest.data_dir if stack.ingest is not None else work / "historian"
    got_ts, got_v = _account(report, store, cat.tags[0].id, ts + shift, values)
    got_ts = got_ts - shift  # back to the recording's time for the trend
    nominal = len(ts) / m["replay_wall_s"] if m.get("replay_wall_s") else None
    report.set_metric("replay.records", len(rec.ts), "records")
    report.set_metric("replay.speed_requested", speed, "x")
    achieved = span_s / m["replay_wall_s"] if m.get("replay_wall_s") else None
    report.set_metric("replay.speed_achieved", achieved, "x")
    report.set_metric("replay.speed_ratio", achieved / speed if achieved else None, "")
    report.set_metric("replay.wall_s", m.get("replay_wall_s"), "s")
    report.set_metric("replay.rate_pts_s", nominal, "points/s")
    report.set_metric("replay.server_max_lag_s", m.get("server_max_lag_s"), "s")
    report.set_metric("replay.server_late_ticks", m.get("late_ticks"), "ticks")
    report.set_metric("lag.max_backlog_points", m.get("max_backlog"), "points")
    report.set_metric("lag.catch_up_after_replay_s", m.get("catch_up_s"), "s")
    report.set_metric("drain.backlog_points", m.get("drain_points"), "points")
    report.set_metric("drain.resume_s", m.get("resume_s"), "s")
    rate = m["drain_points"] / max(m["drain_s"], 0.01) if "drain_s" in m else None
    report.set_metric("drain.rate_pts_s", rate, "points/s")
    report.set_metric(MetricKey.DRAIN_OVER_NOMINAL,
                      rate / nominal if rate is not None and nominal else None, "x")  # fmt: skip
    report.add_latency("publish_to_queryable", applied.latency)
    trend, svg = _trend(report, ts, values, got_ts, got_v, cat.tags[0].unit)
    evaluate(report, scenario.thresholds)
    summary = "\n".join(
        f"| {k} | {report.metrics.get(k)} {report.units.get(k, '')} |"
        for k in sorted(report.metrics)
        if k.startswith(("replay.", "lag.", "drain.", "accounting.total."))
    )
    files = {
        "replay.md": f"# Replay run\n\n| metric | value |\n|---|---|\n{summary}\n\n{trend}\n",
        # a file of its own needs the namespace an inline <svg> gets from the page
        "failure-trend.svg": svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
        + "\n",
    }
    say("replay: " + trend.splitlines()[0].removeprefix("## "))
    return report, files
